"""Responses that depend on consent carry Vary, so no cache serves one visitor's page to
another: proven with Django's own page cache in front of the site."""

import pytest
from django.conf import settings as django_settings
from django.test import Client

from tests.sites import stored_choice, views

pytestmark = pytest.mark.urls("tests.sites.urls")


@pytest.fixture(autouse=True)
def _whole_site_enforced(settings):
    """tests.sites is a Django site that installs the app: every page is its own."""
    settings.CONSENT_ENFORCED_PATHS = ["/"]


AD = '<img src="https://www.facebook.com/tr?id=1" alt="">'
NO_AD = "no ads"


@pytest.fixture
def page_cache(settings):
    """The whole site behind Django's cache middleware, as its docs place it."""
    settings.MIDDLEWARE = [
        "django.middleware.cache.UpdateCacheMiddleware",
        *django_settings.MIDDLEWARE,
        "django.middleware.cache.FetchFromCacheMiddleware",
    ]
    settings.CACHE_MIDDLEWARE_SECONDS = 60
    views.calls["cached"] = 0


def visit(url, consent=None, **headers):
    client = Client()
    if consent:
        client.cookies["consent"] = consent
    return client.get(url, **headers)


def test_it_varies_on_cookie_and_the_signals_when_consent_was_read(client, site):
    assert client.get("/t/page/").headers["Vary"] == "Cookie, Sec-GPC, DNT, ADPC"


def test_it_varies_when_cookies_were_filtered(client, site):
    assert client.get("/t/analytics/").headers["Vary"] == "Cookie, Sec-GPC, DNT, ADPC"


def test_it_does_not_vary_a_response_that_does_not_depend_on_consent(client, site):
    response = client.get("/t/data/")
    assert "Vary" not in response.headers


def test_the_site_wide_page_cache_does_not_mix_visitors(site, page_cache):
    allowed = stored_choice(functional=True, advertising=True)
    assert AD in visit("/t/counted/", allowed).text
    assert NO_AD in visit("/t/counted/").text
    assert NO_AD in visit("/t/counted/", allowed, HTTP_SEC_GPC="1").text
    assert NO_AD in visit("/t/counted/", allowed, HTTP_DNT="1").text
    assert views.calls["cached"] == 4

    # The same visitor again is served from the cache, with its own policy.
    again = visit("/t/counted/", allowed)
    assert AD in again.text
    assert views.calls["cached"] == 4
    assert "www.facebook.com" in again.headers["Content-Security-Policy"]


def test_a_cached_view_with_vary_on_consent_does_not_mix_visitors(site):
    views.calls["cached"] = 0
    allowed = stored_choice(functional=True, advertising=True)
    assert AD in visit("/t/cached/", allowed).text
    assert NO_AD in visit("/t/cached/").text
    assert NO_AD in visit("/t/cached/", allowed, HTTP_SEC_GPC="1").text
    assert AD in visit("/t/cached/", allowed).text
    assert views.calls["cached"] == 3
