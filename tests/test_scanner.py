"""The cookie scanner against a local shop that deliberately leaks (tests/fixtures)."""

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse

from consent import scanner
from consent.bundles import build_bundle
from consent.models import (
    Category,
    ConsentRecord,
    CookieScan,
    JobStatus,
    ScanFinding,
    Site,
    Vendor,
)
from consent.tasks import scan_cookies
from tests.fixtures import leaky_site

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def banner_script(django_db_setup, django_db_blocker) -> bytes:
    """The demo site's script as the platform serves it (built, then rolled back)."""
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("seed_demo", "--no-users", verbosity=0)
        script = build_bundle(Site.objects.get(key="demo")).script
        transaction.set_rollback(True)
    return script


@pytest.fixture(scope="module")
def shop(banner_script):
    served = leaky_site.start(banner_script)
    yield served
    served.stop()


@pytest.fixture(scope="module")
def crawled(shop) -> tuple[list[scanner.Visit], float]:
    """One real browser crawl of the shop, shared by the tests that only read findings."""
    started = time.time()
    crawl = scanner.crawl(
        [shop.shop + "/"], "demo", [shop.shop], allowed_networks=shop.allowed_networks
    )
    assert not crawl.failure
    return crawl.visits, started


@pytest.fixture
def leaky(site, shop, settings):
    settings.CONSENT_SCANNER_ALLOWED_NETWORKS = shop.allowed_networks
    site.allowed_origins += f"\n{shop.shop}"
    site.save()
    Vendor.objects.create(
        site=site,
        name="Leaky ads",
        category=Category.objects.get(slug="advertising"),
        hosts=shop.ads_host,
    )
    return shop


@pytest.fixture
def scanned(site, leaky, crawled) -> CookieScan:
    scan = CookieScan.objects.create(site=site, urls=leaky.shop + "/", status=JobStatus.DONE)
    visits, started = crawled
    assert not [v.error for v in visits if v.error]
    ScanFinding.objects.bulk_create(scanner.findings_from(scan, visits, started))
    return scan


def names(findings, phase: str, kind: str = "cookie") -> set[str]:
    return {f.name for f in findings if f.phase == phase and f.kind == kind}


def test_before_consent_it_sees_the_leaks_and_the_required_cookie(scanned, leaky):
    findings = list(scanned.findings.all())

    assert names(findings, "before") == {"sessionid", "uid_tracker", "_ga"}
    assert names(findings, "before", "request") == {leaky.tracker_host}


def test_after_accept_all_it_sees_what_the_consented_tags_set(scanned, leaky):
    findings = list(scanned.findings.all())

    assert names(findings, "after") == {
        "sessionid",
        "uid_tracker",
        "_ga",
        "consent",
        "_fbp",
        "_clck",
    }
    assert names(findings, "after", "request") == {leaky.tracker_host, leaky.ads_host}


def test_it_records_each_cookies_attributes(scanned):
    session = scanned.findings.get(phase="before", name="sessionid")
    ga = scanned.findings.get(phase="before", name="_ga")

    assert (session.domain, session.path, session.http_only, session.lifetime_days) == (
        "127.0.0.1",
        "/",
        True,
        None,
    )
    assert session.same_site == "Lax"
    # The page asked for two years; Chromium caps every cookie at 400 days.
    assert ga.lifetime_days == pytest.approx(400, abs=0.1)
    assert (ga.http_only, ga.secure, ga.third_party) == (False, False, False)


def test_the_report_lists_leaks_by_category_for_cookie(scanned, leaky):
    report = scanner.report(scanned)

    leaks = {(line.finding.kind, line.finding.name, line.category) for line in report.leaks}
    assert leaks == {
        ("cookie", "_ga", "functional"),
        ("cookie", "uid_tracker", None),
        ("request", leaky.tracker_host, None),
    }


def test_the_report_offers_definitions_prefilled_from_the_catalogue(scanned, site):
    report = scanner.report(scanned)

    unknown = {line.finding.name: line for line in report.unknown}
    assert set(unknown) == {"uid_tracker", "_clck"}
    clarity = unknown["_clck"]
    assert clarity.known.vendor == "Microsoft Clarity"
    url = urlsplit(clarity.create_url)
    assert url.path == reverse("admin:consent_cookiedefinition_add")
    assert parse_qs(url.query) == {
        "site": [str(site.pk)],
        "name": ["_clck"],
        "path": ["/"],
        "purpose": ["Distinguishes visitors for session recordings."],
        "category": [str(Category.objects.get(slug="functional").pk)],
        "lifetime_days": ["365"],
    }
    tracker = parse_qs(urlsplit(unknown["uid_tracker"].create_url).query)
    assert (tracker["name"], tracker["lifetime_days"]) == (["uid_tracker"], ["365"])


def test_the_report_names_the_vendors_whose_hosts_were_seen(scanned, leaky):
    report = scanner.report(scanned)

    assert [(vendor.name, hosts) for vendor, hosts in report.vendors] == [
        ("Leaky ads", [leaky.ads_host])
    ]
    assert report.unknown_hosts == [leaky.tracker_host]


def test_a_definition_created_from_the_report_ends_the_unknown_listing(scanned, site):
    from consent.models import CookieDefinition

    CookieDefinition.objects.create(
        site=site, name="uid_tracker", category=Category.objects.get(slug="required")
    )

    report = scanner.report(scanned)

    assert [line.finding.name for line in report.unknown] == ["_clck"]
    assert "uid_tracker" not in {line.finding.name for line in report.leaks}


def test_a_scan_run_by_the_task_finds_the_same_and_writes_no_consent_record(site, leaky):
    scan = CookieScan.objects.create(site=site, urls=leaky.shop + "/")

    # .run: what a worker runs, here in this process (eager calls go to the background).
    assert scan_cookies.run(scan.pk) == 12

    scan.refresh_from_db()
    assert scan.status == JobStatus.DONE
    assert {(f.phase, f.name) for f in scan.findings.filter(kind="cookie")} >= {
        ("before", "_ga"),
        ("after", "_fbp"),
        ("after", "consent"),
    }
    # The banner's consent POST was answered by the scanner, not recorded.
    assert ConsentRecord.objects.count() == 0

    # Run again (a redelivered task): the findings are replaced, never doubled.
    CookieScan.objects.filter(pk=scan.pk).update(status=JobStatus.RUNNING)
    assert scan_cookies.run(scan.pk) == 12
    assert ScanFinding.objects.count() == 12

    # A finished scan is left alone.
    ids = set(scan.findings.values_list("pk", flat=True))
    assert scan_cookies.run(scan.pk) == 12
    assert set(scan.findings.values_list("pk", flat=True)) == ids


def test_the_admin_report_lists_leaks_first_and_in_red(marketing_client, marketing_user, scanned):
    scanned.site.staff.add(marketing_user)
    response = marketing_client.get(reverse("admin:consent_cookiescan_change", args=[scanned.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("3 leaks") < html.index("Cookies no definition describes")
    leak_rows = re.findall(r'<tr class="scan-leak"><td>([^<]+)</td><td><code>([^<]+)</code>', html)
    assert ("Cookie", "_ga") in leak_rows
    assert "Create definition" in html
    assert not re.search(r"\sstyle=", html)


def test_marketing_ops_start_a_scan_from_the_admin(
    marketing_client, marketing_user, site, leaky, django_capture_on_commit_callbacks
):
    site.staff.add(marketing_user)
    with django_capture_on_commit_callbacks() as callbacks:
        response = marketing_client.post(
            reverse("admin:consent_cookiescan_add"), {"site": site.pk, "urls": leaky.shop + "/"}
        )

    assert response.status_code == 302
    scan = CookieScan.objects.get()
    assert (scan.status, scan.requested_by) == (JobStatus.PENDING, "marketing")
    # Once the request's transaction commits, the scan task is sent.
    assert len(callbacks) == 1
    # tests/security/test_scanner_ssrf.py runs the whole flow, in the background.


def test_pages_off_the_sites_origins_are_refused(marketing_client, marketing_user, site):
    site.staff.add(marketing_user)
    response = marketing_client.post(
        reverse("admin:consent_cookiescan_add"),
        {"site": site.pk, "urls": "http://169.254.169.254/latest/meta-data/"},
    )

    assert response.status_code == 200
    assert "is not on one of" in response.content.decode()
    assert not CookieScan.objects.exists()


def test_a_page_no_longer_on_the_origins_is_not_visited(site, leaky):
    scan = CookieScan.objects.create(site=site, urls="http://127.0.0.1:9/")

    scanner.run(scan.pk)

    scan.refresh_from_db()
    assert scan.status == JobStatus.DONE
    assert "not on the site's allowed origins, not visited" in scan.error
    assert not scan.findings.exists()
