"""A Django site apart from the platform, in Chromium: tests.sites as a project of its own
under gunicorn (no database, ``consent.enforce``, remote mode) on http://localhost:PORT,
its banner and rules from a platform of its own on http://127.0.0.1:PORT.

Its /t/shop/ page embeds the banner with ``{% consent_script %}`` and its server sets a
required, a functional, an advertising and an unknown cookie, plain and HttpOnly, on
every visit: the browser's cookie jar shows what the site's middleware let through.
"""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from e2e.conftest import ROOT, Platform, free_port, own_platform, wait_for, wait_until

REQUIRED = {"sessionid", "csrftoken"}
FUNCTIONAL = {"_ga", "_gid"}
ADVERTISING = {"_fbp", "_gcl_au"}
UNKNOWN = {"promo", "ab_test"}


@dataclass
class RemoteSite:
    url: str
    platform: Platform
    process: subprocess.Popen


@pytest.fixture(scope="module")
def remote_site(tmp_path_factory) -> Iterator[RemoteSite]:
    port = free_port()
    origin = f"http://localhost:{port}"
    scratch = tmp_path_factory.mktemp("remote-site")
    with own_platform(site_origin=origin) as platform:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CONSENT_"))}
        env |= {
            "DJANGO_SETTINGS_MODULE": "tests.sites.settings",
            "CONSENT_PLATFORM_URL": platform.url,
            "CONSENT_SITE_KEY": "demo",
            "CONSENT_REMOTE_RULES_FILE": str(scratch / "rules.json"),
        }
        with (scratch / "site.log").open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "tests.sites.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "1",
                    "--threads",
                    "4",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for(f"{origin}/t/plain/")
            yield RemoteSite(f"{origin}/t/shop/", platform, process)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)


@pytest.fixture
def visit(browser, remote_site):
    """visit() -> a page on the separate site's shop, in a fresh context, and the CSP
    violations it reported."""
    contexts = []

    def visit_():
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.violations = []
        page.on(
            "console",
            lambda message: (
                "Content Security Policy" in message.text and page.violations.append(message.text)
            ),
        )
        page.goto(remote_site.url)
        return page

    yield visit_
    for context in contexts:
        context.close()


def jar(page) -> dict[str, dict]:
    """The separate site's cookies in the browser (the platform's origin is another host)."""
    return {c["name"]: c for c in page.context.cookies() if c["domain"] == "localhost"}


def banner(page):
    return page.get_by_role("dialog", name="Cookie preferences", exact=True)


def decide(page, remote_site: RemoteSite, button: str) -> None:
    """Clicks a button of the banner; waits for the stored choice and its record."""
    banner(page).get_by_role("button", name=button, exact=True).click()
    wait_until(page, lambda: "consent" in jar(page), "the consent cookie")
    remote_site.platform.wait_for_receipt(page.evaluate("Consent.get().id"))


def test_before_consent_the_jar_holds_only_required_cookies(visit):
    page = visit()
    banner(page).wait_for()
    assert set(jar(page)) == REQUIRED
    assert jar(page)["sessionid"]["httpOnly"] is True
    assert "no ads" in page.content()


def test_after_accept_all_the_sites_functional_and_advertising_cookies_are_allowed(
    visit, remote_site
):
    page = visit()
    decide(page, remote_site, "Accept all")
    page.reload()

    cookies = jar(page)
    assert set(cookies) == REQUIRED | FUNCTIONAL | ADVERTISING | {"consent"}
    assert cookies["_gcl_au"]["httpOnly"] is True  # set by the site's server, not a script
    assert not UNKNOWN & set(cookies)
    assert page.violations == []


def test_after_reject_all_only_required_cookies_reach_the_jar(visit, remote_site):
    page = visit()
    decide(page, remote_site, "Reject all")
    page.reload()
    assert set(jar(page)) == REQUIRED | {"consent"}
    assert page.violations == []
