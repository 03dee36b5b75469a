"""After a refusal the next response expires that category's cookies the browser still
holds, HttpOnly ones included (only the server can), on every domain and path variant."""

import pytest

from consent.models import CookieDefinition
from tests.sites import set_cookie_headers, stored_choice

pytestmark = pytest.mark.urls("tests.sites.urls")


@pytest.fixture(autouse=True)
def _whole_site_enforced(settings):
    """tests.sites is a Django site that installs the app: every page is its own."""
    settings.CONSENT_ENFORCED_PATHS = ["/"]


def expired(name: str, path: str = "/", domain: str = "", secure: bool = False) -> str:
    return (
        f'Set-Cookie: {name}=""; '
        + (f"Domain={domain}; " if domain else "")
        + "expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; "
        + f"Path={path}"
        + ("; Secure" if secure else "")
    )


@pytest.fixture
def held(client):
    """A browser that accepted everything earlier and holds these cookies now."""
    for name in ("_ga", "_ga_1X2Y3Z", "_gid", "_fbp", "_gcl_au", "promo"):
        client.cookies[name] = "1"
    client.cookies["csrftoken"] = "x" * 32
    client.cookies["sessionid"] = "s" * 32
    return client


def test_it_expires_a_withdrawn_categorys_cookies(held, site):
    held.cookies["consent"] = stored_choice(method="withdraw", functional=True, advertising=False)
    response = held.get("/t/plain/")
    assert set_cookie_headers(response) == [expired("_fbp"), expired("_gcl_au")]


def test_it_expires_every_optional_cookie_after_reject_all(held, site):
    held.cookies["consent"] = stored_choice(
        method="reject_all", functional=False, advertising=False
    )
    response = held.get("/t/plain/")
    assert set_cookie_headers(response) == [
        expired("_fbp"),
        expired("_ga"),
        expired("_ga_1X2Y3Z"),
        expired("_gcl_au"),
        expired("_gid"),
    ]


@pytest.mark.parametrize("header", ["HTTP_SEC_GPC", "HTTP_DNT"])
def test_a_signal_expires_optional_cookies_whatever_was_stored(held, site, header):
    held.cookies["consent"] = stored_choice(method="accept_all", functional=True, advertising=True)
    response = held.get("/t/plain/", **{header: "1"})
    assert set_cookie_headers(response) == [
        expired("_fbp"),
        expired("_ga"),
        expired("_ga_1X2Y3Z"),
        expired("_gcl_au"),
        expired("_gid"),
    ]


def test_it_expires_nothing_before_the_visitor_has_chosen(held, site):
    """No choice yet (or one for an old policy) is not a refusal: the banner asks first."""
    assert set_cookie_headers(held.get("/t/plain/")) == []


def test_it_expires_nothing_that_is_allowed(held, site):
    held.cookies["consent"] = stored_choice(method="accept_all", functional=True, advertising=True)
    assert set_cookie_headers(held.get("/t/plain/")) == []


def test_it_expires_on_the_host_every_parent_domain_and_the_declared_path(held, site, settings):
    settings.ALLOWED_HOSTS = ["www.shop.example"]
    pixel = CookieDefinition.objects.get(site=site, name="_fbp")
    pixel.domain, pixel.path = ".shop.example", "/checkout"
    pixel.save()
    CookieDefinition.objects.get(site=site, name="_gcl_au").delete()
    held.cookies["consent"] = stored_choice(method="custom", functional=True, advertising=False)
    response = held.get("/t/plain/", HTTP_HOST="www.shop.example", secure=True)
    assert set_cookie_headers(response) == [
        expired("_fbp", "/checkout", "shop.example", secure=True),
        expired("_fbp", "/checkout", "www.shop.example", secure=True),
        expired("_fbp", "/checkout", secure=True),
    ]


def test_it_expires_cookies_the_view_does_not_set_itself(held, site):
    held.cookies["consent"] = stored_choice(method="custom", functional=False, advertising=True)
    response = held.get("/t/forget-analytics/")
    assert set_cookie_headers(response) == [expired("_ga"), expired("_ga_1X2Y3Z"), expired("_gid")]


def test_it_leaves_unknown_and_required_cookies_alone(held, site):
    held.cookies["consent"] = stored_choice(
        method="reject_all", functional=False, advertising=False
    )
    names = {m.key for m in held.get("/t/plain/").cookies.values()}
    assert names.isdisjoint({"sessionid", "csrftoken", "consent", "promo"})


def test_the_expiring_response_varies_on_cookie(held, site):
    held.cookies["consent"] = stored_choice(method="custom", functional=True, advertising=False)
    assert held.get("/t/plain/").headers["Vary"] == "Cookie, Sec-GPC, DNT, ADPC"


def test_it_expires_on_pages_only_not_on_api_or_script_responses(held, site):
    held.cookies["consent"] = stored_choice(
        method="reject_all", functional=False, advertising=False
    )
    assert set_cookie_headers(held.get("/t/data/")) == []
    script = held.get("/c/demo.js")
    assert script.status_code == 200
    assert set_cookie_headers(script) == []
    # The script varies on its encoding and an ADPC refusal, never on the visitor's cookie.
    assert script.headers["Vary"] == "Accept-Encoding, ADPC"
