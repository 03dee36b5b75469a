"""ConsentMiddleware removes the Set-Cookie headers a visitor has not allowed.

The view sets a functional (_ga, _gid HttpOnly), an advertising (_fbp, _gcl_au HttpOnly)
and an unknown cookie (promo, ab_test HttpOnly); the session and CSRF middleware add the
required sessionid and csrftoken.
"""

import pytest
from django.core.exceptions import ImproperlyConfigured

from consent.models import PolicyVersion
from tests.sites import set_cookie_headers, set_cookie_names, stored_choice

pytestmark = pytest.mark.urls("tests.sites.urls")


@pytest.fixture(autouse=True)
def _whole_site_enforced(settings):
    """tests.sites is a Django site that installs the app: every page is its own."""
    settings.CONSENT_ENFORCED_PATHS = ["/"]


REQUIRED = ["csrftoken", "sessionid"]
GA = "Set-Cookie: _ga=GA1.1.1; Path=/"
GID = "Set-Cookie: _gid=GA1.1.2; HttpOnly; Path=/"
FBP = "Set-Cookie: _fbp=fb.1.1; Path=/"
GCL = "Set-Cookie: _gcl_au=1.1.1; HttpOnly; Path=/"
PROMO = "Set-Cookie: promo=spring; Path=/"
AB_TEST = "Set-Cookie: ab_test=b; HttpOnly; Path=/"


def optional_headers(response) -> list[str]:
    return [
        h
        for h in set_cookie_headers(response)
        if not h.startswith(("Set-Cookie: csrftoken=", "Set-Cookie: sessionid="))
    ]


def test_it_removes_every_optional_and_unknown_cookie_without_consent(client, site):
    response = client.get("/t/cookies/")
    assert response.status_code == 200
    assert set_cookie_names(response) == REQUIRED
    assert "HttpOnly" in response.cookies["sessionid"].output()


def test_it_keeps_functional_cookies_with_functional_consent(client, site):
    client.cookies["consent"] = stored_choice(functional=True, advertising=False)
    response = client.get("/t/cookies/")
    assert set_cookie_names(response) == ["_ga", "_gid", *REQUIRED]
    assert optional_headers(response) == [GA, GID]


def test_it_keeps_advertising_cookies_with_advertising_consent(client, site):
    client.cookies["consent"] = stored_choice(functional=False, advertising=True)
    response = client.get("/t/cookies/")
    assert optional_headers(response) == [FBP, GCL]


def test_it_keeps_every_known_cookie_after_accept_all(client, site):
    client.cookies["consent"] = stored_choice(
        method="accept_all", functional=True, advertising=True
    )
    response = client.get("/t/cookies/")
    assert optional_headers(response) == [FBP, GA, GCL, GID]


def test_it_removes_unknown_cookies_even_after_accept_all(client, site):
    client.cookies["consent"] = stored_choice(
        method="accept_all", functional=True, advertising=True
    )
    response = client.get("/t/cookies/")
    assert "promo" not in set_cookie_names(response)
    assert "ab_test" not in set_cookie_names(response)


def test_it_keeps_unknown_cookies_when_set_to_fail_open(client, site, settings):
    settings.CONSENT_UNKNOWN_COOKIES = "allow"
    response = client.get("/t/cookies/")
    assert optional_headers(response) == [AB_TEST, PROMO]


def test_it_rejects_a_misspelt_unknown_cookies_setting(client, site, settings):
    settings.CONSENT_UNKNOWN_COOKIES = "alow"
    with pytest.raises(
        ImproperlyConfigured, match='CONSENT_UNKNOWN_COOKIES must be "block" or "allow"'
    ):
        client.get("/t/cookies/")


@pytest.mark.parametrize("header", ["HTTP_SEC_GPC", "HTTP_DNT"])
def test_a_signal_removes_every_optional_cookie(client, site, header):
    response = client.get("/t/cookies/", **{header: "1"})
    assert set_cookie_names(response) == REQUIRED


@pytest.mark.parametrize("header", ["HTTP_SEC_GPC", "HTTP_DNT"])
def test_a_signal_overrides_a_stored_opt_in(client, site, header):
    client.cookies["consent"] = stored_choice(
        method="accept_all", functional=True, advertising=True
    )
    response = client.get("/t/cookies/", **{header: "1"})
    assert set_cookie_names(response) == REQUIRED


@pytest.mark.parametrize("value", ["0", "true", "1 1", "yes", ""])
def test_only_the_exact_value_1_is_a_signal(client, site, value):
    client.cookies["consent"] = stored_choice(functional=True, advertising=True)
    response = client.get("/t/cookies/", HTTP_SEC_GPC=value, HTTP_DNT=value)
    assert optional_headers(response) == [FBP, GA, GCL, GID]


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "functional=1&advertising=1",
        "id=not-a-uuid&v=1&t=1732370000&m=custom&functional=1&advertising=1",
        "id=3f2c7b1e-9d4a-4c1b-8e2f-5a6b7c8d9e0f&v=one&t=1732370000&m=custom&functional=1",
        "id=3f2c7b1e-9d4a-4c1b-8e2f-5a6b7c8d9e0f&v=1&t=1732370000&m=hacked&functional=1",
        "id=3f2c7b1e-9d4a-4c1b-8e2f-5a6b7c8d9e0f&v=1&t=1732370000&m=custom&functional=yes",
        "id=3f2c7b1e-9d4a-4c1b-8e2f-5a6b7c8d9e0f&v=1&t=1732370000&m=custom&functional=0&functional=1",
        "id=3f2c7b1e-9d4a-4c1b-8e2f-5a6b7c8d9e0f&v=0&t=1732370000&m=custom&functional=1",
        "id=3f2c7b1e-9d4a-4c1b-8e2f-5a6b7c8d9e0f&v=1&t=1732370000&m=custom&functional",
        "id=3f2c7b1e-9d4a-4c1b-8e2f-5a6b7c8d9e0f&v=1&t=1&m=custom&functional=1" + "&x=1" * 2000,
        "\x00\xff%%&&==",
    ],
)
def test_a_malformed_or_forged_choice_is_no_consent(client, site, value):
    client.cookies["consent"] = value
    response = client.get("/t/cookies/")
    assert response.status_code == 200
    assert set_cookie_names(response) == REQUIRED


def test_a_choice_for_an_older_policy_version_is_no_choice(client, site):
    PolicyVersion.objects.create(site=site, summary="We added a chat widget.")
    client.cookies["consent"] = stored_choice(1, functional=True, advertising=True)
    assert set_cookie_names(client.get("/t/cookies/")) == REQUIRED

    client.cookies["consent"] = stored_choice(2, functional=True, advertising=True)
    assert set_cookie_names(client.get("/t/cookies/")) == [
        "_fbp",
        "_ga",
        "_gcl_au",
        "_gid",
        *REQUIRED,
    ]


def test_a_refusal_recorded_for_a_signal_lapses_with_the_signal(client, site):
    """The banner asks again when the GPC that made the refusal is gone; so does the
    server: it is no choice, not a refusal whose cookies must be expired."""
    client.cookies["consent"] = stored_choice(method="gpc", functional=False, advertising=False)
    client.cookies["_ga"] = "GA1.1.1"
    response = client.get("/t/plain/")
    assert set_cookie_headers(response) == []


def test_required_cookies_always_pass_even_with_a_signal(client, site, settings):
    settings.CONSENT_REQUIRED_COOKIES = ["sessionid", "csrftoken", "promo"]
    response = client.get("/t/cookies/", HTTP_SEC_GPC="1")
    assert set_cookie_names(response) == ["csrftoken", "promo", "sessionid"]


def test_a_pattern_definition_covers_matching_cookies(client, site):
    client.cookies["consent"] = stored_choice(functional=False, advertising=False)
    response = client.get("/t/analytics/")
    assert set_cookie_headers(response) == []
    client.cookies["consent"] = stored_choice(functional=True, advertising=False)
    assert set_cookie_headers(client.get("/t/analytics/")) == [
        "Set-Cookie: _ga_1X2Y3Z=GS1.1; Path=/"
    ]


def test_it_lets_a_view_delete_a_cookie_it_may_not_set(client, site):
    response = client.get("/t/forget-analytics/")
    assert set_cookie_headers(response) == [
        'Set-Cookie: _ga=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/'
    ]


def test_it_removes_a_raw_set_cookie_header_too(client, site):
    response = client.get("/t/raw/")
    assert "Set-Cookie" not in response.headers
    client.cookies["consent"] = stored_choice(functional=False, advertising=True)
    assert client.get("/t/raw/").headers["Set-Cookie"] == "_fbp=fb.1.2; Path=/"


def test_a_site_that_does_not_exist_fails_closed(client, db, settings):
    settings.CONSENT_SITE_KEY = "no-such-site"
    client.cookies["consent"] = stored_choice(functional=True, advertising=True)
    response = client.get("/t/cookies/")
    assert set_cookie_names(response) == REQUIRED
