"""The per-request CSP lists only the hosts of vendors the visitor allowed, so the
browser itself blocks a vendor tag that slipped past the banner."""

import pytest
from csp.decorators import csp_exempt, csp_replace, csp_update
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse, reverse_lazy

from consent.csp import ConsentCSPMiddleware
from consent.middleware import ConsentMiddleware
from tests.sites import stored_choice

pytestmark = pytest.mark.urls("tests.sites.urls")


@pytest.fixture(autouse=True)
def _whole_site_enforced(settings):
    """tests.sites is a Django site that installs the app: every page is its own."""
    settings.CONSENT_ENFORCED_PATHS = ["/"]


FUNCTIONAL = [
    "www.google-analytics.com",
    "www.googletagmanager.com",
    "www.youtube-nocookie.com",
    "www.youtube.com",
]
ADVERTISING = [
    "googleads.g.doubleclick.net",
    "*.doubleclick.net",
    "www.googleadservices.com",
    "connect.facebook.net",
    "www.facebook.com",
]


def policy(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in header.split("; ")}


def test_it_lists_no_vendor_host_without_consent(client, site):
    csp = policy(client.get("/t/plain/"))
    assert csp["script-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["connect-src"] == ["'self'"]
    # Every vendor's frames: a held embed loads in place when the visitor releases it.
    assert csp["frame-src"] == ["'self'", *FUNCTIONAL, *ADVERTISING]


def test_it_lists_functional_vendors_with_functional_consent(client, site):
    client.cookies["consent"] = stored_choice(functional=True, advertising=False)
    csp = policy(client.get("/t/plain/"))
    assert csp["script-src"] == ["'self'", *FUNCTIONAL]
    assert csp["img-src"] == ["'self'", "data:", *FUNCTIONAL]
    assert csp["connect-src"] == ["'self'", *FUNCTIONAL]
    assert csp["frame-src"] == ["'self'", *FUNCTIONAL, *ADVERTISING]


def test_it_lists_advertising_vendors_with_advertising_consent(client, site):
    client.cookies["consent"] = stored_choice(functional=False, advertising=True)
    csp = policy(client.get("/t/plain/"))
    assert csp["script-src"] == ["'self'", *ADVERTISING]
    assert csp["img-src"] == ["'self'", "data:", *ADVERTISING]


def test_it_lists_every_vendor_after_accept_all(client, site):
    client.cookies["consent"] = stored_choice(
        method="accept_all", functional=True, advertising=True
    )
    assert policy(client.get("/t/plain/"))["connect-src"] == ["'self'", *FUNCTIONAL, *ADVERTISING]


@pytest.mark.parametrize("header", ["HTTP_SEC_GPC", "HTTP_DNT"])
def test_a_signal_removes_every_vendor_host(client, site, header):
    client.cookies["consent"] = stored_choice(
        method="accept_all", functional=True, advertising=True
    )
    csp = policy(client.get("/t/plain/", **{header: "1"}))
    assert csp["script-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["connect-src"] == ["'self'"]
    # "Load this once" stays on offer under a signal (the visitor's own click).
    assert csp["frame-src"] == ["'self'", *FUNCTIONAL, *ADVERTISING]


def test_it_leaves_the_other_directives_as_configured(client, site):
    client.cookies["consent"] = stored_choice(
        method="accept_all", functional=True, advertising=True
    )
    csp = policy(client.get("/t/plain/"))
    assert csp["default-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]


def test_the_embed_script_carries_the_nonce_the_policy_allows(client, site):
    response = client.get("/t/page/")
    nonce = policy(response)["script-src"][1]
    assert nonce.startswith("'nonce-")
    assert f'<script src="/c/demo.js" nonce="{nonce[7:-1]}"></script>' in response.text


def test_a_json_response_keeps_the_static_policy_and_does_not_vary(client, site):
    client.cookies["consent"] = stored_choice(
        method="accept_all", functional=True, advertising=True
    )
    response = client.get("/t/data/")
    assert policy(response)["script-src"] == ["'self'"]
    assert "Vary" not in response.headers


def both(view):
    """The two middlewares in the documented order, around a view."""
    return ConsentCSPMiddleware(ConsentMiddleware(view))


def test_a_directive_the_policy_leaves_to_default_src_starts_from_it(site, settings):
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'self'"]}}
    request = RequestFactory().get(
        "/t/plain/", HTTP_COOKIE="consent=" + stored_choice(functional=True)
    )
    response = both(lambda r: HttpResponse("<p>"))(request)
    assert policy(response) == {
        "default-src": ["'self'"],
        "script-src": ["'self'", *FUNCTIONAL],
        "img-src": ["'self'", *FUNCTIONAL],
        "connect-src": ["'self'", *FUNCTIONAL],
        "frame-src": ["'self'", *FUNCTIONAL, *ADVERTISING],
    }


def test_it_adds_to_what_a_view_updated_and_skips_what_it_dropped(site):
    @csp_update({"img-src": "cdn.shop.example"})
    @csp_replace({"frame-src": None})
    def view(request):
        return HttpResponse("<p>")

    request = RequestFactory().get("/", HTTP_COOKIE="consent=" + stored_choice(functional=True))
    csp = policy(both(view)(request))
    assert csp["img-src"] == ["'self'", "data:", "cdn.shop.example", *FUNCTIONAL]
    assert "frame-src" not in csp
    assert csp["script-src"][0] == "'self'" and csp["script-src"][-len(FUNCTIONAL) :] == FUNCTIONAL


def test_an_exempt_view_gets_no_policy(site):
    view = csp_exempt()(lambda request: HttpResponse("<p>"))
    response = both(view)(RequestFactory().get("/"))
    assert "Content-Security-Policy" not in response


@pytest.mark.parametrize("configured", [None, {}, {"DIRECTIVES": None}])
def test_a_site_without_a_policy_gets_none_from_consent(site, settings, configured):
    # As django-csp reads the setting: no policy, or no directives at all, is no header;
    # the vendors a visitor allows must not make one up.
    settings.CONTENT_SECURITY_POLICY = configured
    request = RequestFactory().get("/", HTTP_COOKIE="consent=" + stored_choice(functional=True))
    response = both(lambda r: HttpResponse("<p>"))(request)
    assert "Content-Security-Policy" not in response


def test_the_policy_follows_a_changed_setting(site, settings):
    request = RequestFactory().get("/", HTTP_COOKIE="consent=" + stored_choice(functional=True))
    both(lambda r: HttpResponse("<p>"))(request)
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"img-src": ["'self'"]}}
    request = RequestFactory().get("/", HTTP_COOKIE="consent=" + stored_choice(functional=True))
    assert policy(both(lambda r: HttpResponse("<p>"))(request)) == {
        "default-src": ["'self'"],
        "img-src": ["'self'", *FUNCTIONAL],
        "script-src": ["'self'", *FUNCTIONAL],
        "connect-src": ["'self'", *FUNCTIONAL],
        "frame-src": ["'self'", *FUNCTIONAL, *ADVERTISING],
    }


def test_a_lazy_value_in_the_setting_is_one_source(site, settings):
    # django-csp reads a lazy string (reverse_lazy, gettext_lazy) as one value.
    settings.CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {"default-src": ["'self'"], "report-uri": reverse_lazy("demo")}
    }
    request = RequestFactory().get("/", HTTP_COOKIE="consent=" + stored_choice(functional=True))
    csp = policy(both(lambda r: HttpResponse("<p>"))(request))
    assert csp["report-uri"] == [reverse("demo")]


def test_a_view_update_under_a_policy_without_default_src_starts_from_its_default(site, settings):
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"img-src": ["'self'"]}}

    @csp_update({"img-src": "cdn.shop.example"})
    def view(request):
        return HttpResponse("<p>")

    request = RequestFactory().get("/", HTTP_COOKIE="consent=" + stored_choice(functional=True))
    csp = policy(both(view)(request))
    assert csp["img-src"] == ["'self'", "cdn.shop.example", *FUNCTIONAL]
    assert csp["script-src"] == ["'self'", *FUNCTIONAL]
    assert csp["frame-src"] == ["'self'", *FUNCTIONAL, *ADVERTISING]


def test_the_report_only_policy_is_left_as_configured(site, settings):
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {
        "DIRECTIVES": {"default-src": ["'none'"], "script-src": ["'self'"]}
    }
    request = RequestFactory().get("/", HTTP_COOKIE="consent=" + stored_choice(functional=True))
    response = both(lambda r: HttpResponse("<p>"))(request)
    assert response.headers["Content-Security-Policy-Report-Only"] in (
        "default-src 'none'; script-src 'self'",
        "script-src 'self'; default-src 'none'",
    )
    assert "www.google-analytics.com" in response.headers["Content-Security-Policy"]
