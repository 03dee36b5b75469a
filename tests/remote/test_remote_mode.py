"""A site in remote mode enforces the rules it fetched from the platform: refreshed in
the background, kept in its cache and in a file, the last good ones while the platform is
away, and none at all means everything optional is blocked."""

import stat
from pathlib import Path

import pytest
from django.core.cache import cache

from consent import remote
from consent.models import Category, CookieDefinition, Site
from tests.remote.conftest import refresh
from tests.sites import set_cookie_names, stored_choice

pytestmark = [
    pytest.mark.urls("tests.sites.urls"),
    # The platform under live_server sees committed rows only; the categories the
    # migrations made come back after each test.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

REQUIRED = ["csrftoken", "sessionid"]
KNOWN = ["_fbp", "_ga", "_gcl_au", "_gid", *REQUIRED]  # the demo's definitions
ACCEPT_ALL = stored_choice(method="accept_all", functional=True, advertising=True)


def cookies_set(client) -> list[str]:
    response = client.get("/t/cookies/")
    assert response.status_code == 200
    return set_cookie_names(response)


def add_promo_to_advertising(site: Site) -> None:
    CookieDefinition.objects.create(
        site=site, name="promo", category=Category.objects.get(slug="advertising")
    )


def test_it_enforces_the_rules_it_fetched_from_the_platform(client, remote_site):
    client.cookies["consent"] = stored_choice(functional=True, advertising=False)
    assert cookies_set(client) == ["_ga", "_gid", *REQUIRED]
    assert [request["path"] for request in remote_site.requests] == ["/api/v1/sites/demo/rules"]


def test_an_admin_change_is_enforced_from_the_next_refresh_on(client, remote_site, site):
    client.cookies["consent"] = ACCEPT_ALL
    assert cookies_set(client) == KNOWN
    add_promo_to_advertising(site)
    # Pages are served from the copy held: no visitor's request asks the platform.
    assert cookies_set(client) == KNOWN
    assert len(remote_site.requests) == 1

    refresh()
    assert cookies_set(client) == sorted([*KNOWN, "promo"])


def test_it_asks_with_if_none_match_and_an_unchanged_answer_costs_a_304(client, remote_site):
    client.get("/t/plain/")
    refresh()
    first, second = remote_site.requests
    assert "If-None-Match" not in first
    assert second["If-None-Match"] == remote.feed().ruleset.etag
    assert remote_site.statuses == [200, 304]


def test_the_platform_away_the_last_good_rules_stay_in_force(client, remote_site, caplog):
    client.cookies["consent"] = ACCEPT_ALL
    assert cookies_set(client) == KNOWN
    remote_site.stop()
    refresh()
    assert cookies_set(client) == KNOWN
    assert "enforcing the last good ones (policy version 1)" in caplog.text


def test_updates_resume_once_the_platform_is_back(client, remote_site, site):
    client.cookies["consent"] = ACCEPT_ALL
    cookies_set(client)
    remote_site.stop()
    refresh()
    add_promo_to_advertising(site)
    remote_site.start()
    refresh()
    assert cookies_set(client) == sorted([*KNOWN, "promo"])


@pytest.mark.parametrize(
    "answer",
    [
        (200, b'{"site": "demo"}'),
        (200, b"<html>maintenance</html>"),
        (500, b"{}"),
        (404, b'{"detail": "No site with this key."}'),
    ],
)
def test_a_broken_answer_never_replaces_good_rules(client, remote_site, caplog, answer):
    client.cookies["consent"] = ACCEPT_ALL
    cookies_set(client)
    held = remote.feed().ruleset
    remote_site.answer = answer
    refresh()
    assert remote.feed().ruleset is held
    assert cookies_set(client) == KNOWN
    assert "Cannot refresh the consent rules of site 'demo'" in caplog.text


def test_a_restart_with_the_platform_away_starts_from_the_rules_file(client, remote_site, settings):
    client.cookies["consent"] = ACCEPT_ALL
    cookies_set(client)
    rules_file = Path(settings.CONSENT_REMOTE_RULES_FILE)
    assert stat.S_IMODE(rules_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(rules_file.parent.stat().st_mode) == 0o700

    remote.forget()  # the process is gone, and with it the memory and the local cache
    cache.clear()
    remote_site.stop()
    assert cookies_set(client) == KNOWN


def test_a_new_process_starts_from_the_sites_cache(client, remote_site, settings):
    client.cookies["consent"] = ACCEPT_ALL
    cookies_set(client)
    assert cache.get("consent:remote-rules:demo") == remote.feed().ruleset.document

    remote.forget()
    Path(settings.CONSENT_REMOTE_RULES_FILE).unlink()
    remote_site.stop()
    assert cookies_set(client) == KNOWN


def test_a_kept_copy_that_is_not_the_sites_rules_is_ignored(client, remote_site, settings):
    rules_file = Path(settings.CONSENT_REMOTE_RULES_FILE)
    rules_file.parent.mkdir(parents=True)
    rules_file.write_text('{"site": "demo", "policyVersion": 1}')
    remote_site.stop()
    client.cookies["consent"] = ACCEPT_ALL
    assert cookies_set(client) == REQUIRED


def test_without_any_rules_it_fails_closed_and_says_so(client, remote_site, settings, caplog):
    remote_site.stop()
    settings.CONSENT_UNKNOWN_COOKIES = "allow"  # no rules: unknown cookies are blocked too
    client.cookies["consent"] = ACCEPT_ALL

    assert cookies_set(client) == REQUIRED
    state = client.get("/t/consent/").json()
    assert (state["functional"], state["advertising"], state["required"]) == (False, False, True)
    page = client.get("/t/page/")
    assert page.status_code == 200
    assert "no ads" in page.content.decode()
    assert "facebook" not in page["Content-Security-Policy"]
    assert "No consent rules for site 'demo'" in caplog.text
    assert "Every cookie but the required ones is blocked" in caplog.text


def test_gpc_and_dnt_are_honoured_in_remote_mode(client, remote_site):
    client.cookies["consent"] = ACCEPT_ALL
    for signal in ({"Sec-GPC": "1"}, {"DNT": "1"}):
        response = client.get("/t/cookies/", headers=signal)
        assert set_cookie_names(response) == REQUIRED
        assert client.get("/t/consent/", headers=signal).json()["advertising"] is False


def test_the_embed_points_at_the_platform_and_the_csp_lets_the_banner_work(client, remote_site):
    client.cookies["consent"] = ACCEPT_ALL
    response = client.get("/t/page/")
    html = response.content.decode()
    assert f'<script src="{remote_site.url}/c/demo.js" nonce="' in html
    directives = {
        d.strip().split(" ")[0]: d.strip().split(" ")[1:]
        for d in response["Content-Security-Policy"].split(";")
    }
    # The banner loads from the platform and posts decisions to it.
    assert remote_site.url in directives["script-src"]
    assert remote_site.url in directives["connect-src"]
    assert "connect.facebook.net" in directives["script-src"]
    assert remote_site.url not in directives["img-src"]
