"""Issue 11, item 1: the platform's own pages keep a fixed Content-Security-Policy.

The attack: Marketing ops may edit the hosts of a Required-category vendor, and those
hosts were added to script-src on every page, /admin/ included: a host they control
could then serve script into a superuser's session. Now only the enforced site's pages
(CONSENT_ENFORCED_PATHS: the demo shop here) get vendor hosts; the console gets the
policy in settings, whatever the admin holds.
"""

import re

import pytest
from csp.utils import build_policy
from django.contrib.auth.models import User
from django.test import Client

from consent.checks import check_middleware
from consent.models import CookieScan, Vendor
from tests.sites import stored_choice

MARKETING_HOST = "cdn.marketing-controlled.example"
CONSOLE_PAGES = [
    "/",
    "/admin/",
    "/admin/login/",
    "/admin/consent/site/",
    "/admin/consent/vendor/",
    "/admin/consent/dailystat/",  # the statistics dashboard
    "/admin/consent/cookiescan/",
    "/admin/consent/cookiescan/add/",
    "/api/docs/",
    "/api/schema/",
]


@pytest.fixture
def widened(site):
    """The Required vendor ("Demo shop") with a host, as Marketing ops may enter it, and an
    advertising vendor with one too."""
    Vendor.objects.filter(site=site, name="Demo shop").update(hosts=MARKETING_HOST)
    Vendor.objects.filter(site=site, name="Meta Pixel").update(hosts="ads.marketing.example")
    return site


@pytest.fixture
def superuser_client(widened) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="x"))
    return client


def without_nonce(policy: str) -> str:
    return re.sub(r" 'nonce-[A-Za-z0-9+/=_-]+'", "", policy)


@pytest.mark.django_db
@pytest.mark.parametrize("path", CONSOLE_PAGES)
def test_console_pages_get_exactly_the_configured_policy(superuser_client, path):
    superuser_client.cookies["consent"] = stored_choice(
        method="accept_all", functional=True, advertising=True
    )
    response = superuser_client.get(path)

    assert response.status_code in (200, 302), response.status_code
    policy = response["Content-Security-Policy"]
    assert without_nonce(policy) == build_policy()
    assert MARKETING_HOST not in policy
    assert "ads.marketing.example" not in policy


@pytest.mark.django_db
def test_a_scan_report_page_gets_the_configured_policy(superuser_client, widened):
    scan = CookieScan.objects.create(site=widened, urls="https://shop.example/")
    response = superuser_client.get(f"/admin/consent/cookiescan/{scan.pk}/change/")

    assert response.status_code == 200
    assert without_nonce(response["Content-Security-Policy"]) == build_policy()


@pytest.mark.django_db
def test_the_enforced_sites_pages_still_list_the_vendors_hosts(client, widened):
    """The same rows do reach the demo shop's policy: the console's is fixed, not empty
    by accident."""
    client.cookies["consent"] = stored_choice(
        method="accept_all", functional=True, advertising=True
    )
    policy = client.get("/demo/")["Content-Security-Policy"]
    assert MARKETING_HOST in policy
    assert "ads.marketing.example" in policy


def test_a_system_check_warns_when_the_admin_is_under_the_enforced_paths(settings):
    assert [m.id for m in check_middleware()] == []

    settings.CONSENT_ENFORCED_PATHS = ["/"]
    assert [m.id for m in check_middleware()] == ["consent.W001"]

    settings.CONSENT_ENFORCED_PATHS = ["demo/"]
    assert [m.id for m in check_middleware()] == ["consent.E004"]
