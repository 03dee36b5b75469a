"""The browser's cookie jar holds only what the visitor allowed, when the server itself
sets the cookies (the demo's /demo/server-cookies/ view sets a required, a functional,
an advertising and an unknown cookie, plain and HttpOnly, on every visit)."""

import time

import pytest

from e2e.conftest import wait_until

REQUIRED = {"sessionid", "csrftoken"}
FUNCTIONAL = {"_ga", "_gid"}
ADVERTISING = {"_fbp", "_gcl_au"}
UNKNOWN = {"promo", "ab_test"}
ACCEPT_ALL = (
    "id=3f2c7b1e-9d4a-4c1b-8e2f-5a6b7c8d9e0f&v=1&t={t}&m=accept_all&functional=1&advertising=1"
)


@pytest.fixture
def server_cookies(browser, platform):
    """visit(**context_options) -> a page on the server-cookies demo, and its jar."""
    contexts = []

    def visit(cookies: dict[str, str] | None = None, **options):
        context = browser.new_context(**options)
        contexts.append(context)
        if cookies:
            context.add_cookies(
                [{"name": k, "value": v, "url": platform.url} for k, v in cookies.items()]
            )
        page = context.new_page()
        page.goto(f"{platform.url}/demo/server-cookies/")
        return page

    yield visit
    for context in contexts:
        context.close()


def jar(page) -> dict[str, dict]:
    return {cookie["name"]: cookie for cookie in page.context.cookies()}


def wait_for_cookie(page, name: str, timeout: float = 5) -> None:
    wait_until(page, lambda: name in jar(page), f"the {name} cookie", timeout)


def test_without_consent_the_jar_holds_only_required_cookies(server_cookies):
    page = server_cookies()
    assert set(jar(page)) == REQUIRED
    assert jar(page)["sessionid"]["httpOnly"] is True
    assert "did not even render its ad slot" in page.content()


def test_accepting_functional_only_lets_in_only_functional_cookies(server_cookies):
    page = server_cookies()
    page.evaluate("Consent.set({functional: true, advertising: false})")
    wait_for_cookie(page, "consent")
    page.reload()

    cookies = jar(page)
    assert set(cookies) == REQUIRED | FUNCTIONAL | {"consent"}
    assert cookies["_gid"]["httpOnly"] is True


def test_gpc_keeps_every_optional_cookie_out_whatever_was_stored(server_cookies):
    stored = {"consent": ACCEPT_ALL.format(t=int(time.time()))}
    page = server_cookies(stored, extra_http_headers={"Sec-GPC": "1"})
    page.reload()
    assert set(jar(page)) - {"consent"} == REQUIRED


def test_withdrawing_advertising_expires_its_httponly_cookie(server_cookies):
    page = server_cookies({"consent": ACCEPT_ALL.format(t=int(time.time()))})
    assert set(jar(page)) == REQUIRED | FUNCTIONAL | ADVERTISING | {"consent"}
    assert jar(page)["_gcl_au"]["httpOnly"] is True

    page.evaluate("Consent.set({functional: true, advertising: false})")
    page.wait_for_function("() => document.cookie.includes('advertising=0')")
    # The banner deleted what JavaScript can reach; only the server can expire _gcl_au.
    wait_until(page, lambda: "_fbp" not in jar(page), "_fbp to be deleted")
    assert "_gcl_au" in jar(page)

    page.reload()
    assert set(jar(page)) == REQUIRED | FUNCTIONAL | {"consent"}
    assert not UNKNOWN & set(jar(page))
