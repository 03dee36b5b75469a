"""Issue 11, item 11: every staff user saw every site.

Staff are granted sites; every list, change page, filter, form choice, export,
statistic, scan and audit event is limited to them, whatever the URL or the POST names.
Superusers see all. Driven through the admin as a Marketing ops and a privacy user
granted the demo site only, with a second site ("Other shop") beside it.
"""

import uuid
from datetime import date

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from consent import stats
from consent.models import (
    AuditEvent,
    BannerText,
    Category,
    ConsentRecord,
    CookieDefinition,
    CookieScan,
    ExportJob,
    PolicyVersion,
    Site,
    Vendor,
)
from consent.tasks import export_records
from tests.security.forms import submit
from tests.security.staff import decide, staff_client, superuser_client

pytestmark = pytest.mark.django_db
OTHER = "Other shop"
OTHER_VISITOR = uuid.UUID("0ddba11c-0000-4000-8000-000000000001")


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.CONSENT_EXPORT_DIR = tmp_path / "exports"


@pytest.fixture
def other(site) -> Site:
    """A second site, with one of everything, none of it granted to the staff below."""
    other = Site.objects.create(
        key="other-shop", name=OTHER, allowed_origins="https://other.example"
    )
    functional = Category.objects.get(slug="functional")
    vendor = Vendor.objects.create(
        site=other, name="Other shop vendor", category=functional, hosts="cdn.other.example"
    )
    CookieDefinition.objects.create(
        site=other, name="other_cookie", category=functional, vendor=vendor
    )
    BannerText.objects.create(site=other, language="en", title="Other shop title")
    PolicyVersion.objects.create(site=other, summary="Other shop policy")
    decide(other, OTHER_VISITOR)
    stats.aggregate_day(other, timezone.now().date())
    CookieScan.objects.create(site=other, urls="https://other.example/")
    export = ExportJob.objects.create(site=other, date_from=date(2000, 1, 1))
    export_records.delay(export.pk)
    return other


@pytest.fixture
def mine(site) -> Vendor:
    decide(site)
    CookieScan.objects.create(site=site, urls="https://shop.example/")
    return Vendor.objects.filter(site=site).first()


@pytest.fixture
def marketing(site):
    return staff_client("marketing", "Marketing ops", (site,))


@pytest.fixture
def privacy(site):
    return staff_client("privacy", "Privacy", (site,))


def changelist(model) -> str:
    return reverse(f"admin:consent_{model._meta.model_name}_changelist")


MARKETING_LISTS = [
    Site,
    Vendor,
    CookieDefinition,
    BannerText,
    PolicyVersion,
    ConsentRecord,
    AuditEvent,
    CookieScan,
]


def site_keys(rows) -> set[str]:
    return {
        getattr(row, "site_key", None) or getattr(row, "key", None) or row.site.key for row in rows
    }


@pytest.mark.parametrize("model", MARKETING_LISTS, ids=lambda m: m.__name__)
def test_lists_show_only_the_granted_sites_and_superusers_all(marketing, site, other, mine, model):
    response = marketing.get(changelist(model))

    assert response.status_code == 200
    assert site_keys(response.context["cl"].result_list) == {site.key}
    html = response.content.decode()
    assert OTHER not in html
    assert "other-shop" not in html
    everything = superuser_client().get(changelist(model)).context["cl"].result_list
    assert site_keys(everything) == {site.key, other.key}


def test_exports_list_only_the_granted_sites(privacy, site, other):
    export_records.delay(ExportJob.objects.create(site=site).pk)

    rows = list(privacy.get(changelist(ExportJob)).context["cl"].result_list)

    assert [job.site for job in rows] == [site]


@pytest.mark.parametrize(
    "model",
    [Site, Vendor, CookieDefinition, BannerText, PolicyVersion, ConsentRecord, CookieScan],
    ids=lambda m: m.__name__,
)
def test_another_sites_pages_do_not_exist(marketing, other, model):
    obj = other if model is Site else model.objects.get(site=other)
    info = model._meta.model_name

    for view in ("change", "history"):
        response = marketing.get(reverse(f"admin:consent_{info}_{view}", args=[obj.pk]))
        assert response.status_code == 302, view
        assert response["Location"] == reverse("admin:index")


def test_another_sites_export_cannot_be_downloaded(privacy, other):
    job = ExportJob.objects.get(site=other)

    response = privacy.get(reverse("admin:consent_exportjob_download", args=[job.pk]))

    assert response.status_code == 404


def test_the_site_filter_lists_only_granted_sites(marketing, privacy, site, other, mine):
    for client in (marketing, privacy):
        for model in (ConsentRecord, Vendor, CookieDefinition, PolicyVersion, CookieScan):
            html = client.get(changelist(model)).content.decode()
            assert f"site__id__exact={other.pk}" not in html, model
    vendors = marketing.get(changelist(CookieDefinition)).content.decode()
    assert "Other shop vendor" not in vendors
    assert "vendor__id__exact=" in vendors


@pytest.mark.parametrize("model", [ConsentRecord, Vendor, CookieScan], ids=lambda m: m.__name__)
def test_filtering_by_another_site_is_refused(marketing, other, mine, model):
    url = changelist(model)

    response = marketing.get(url, {"site__id__exact": other.pk})

    assert response.status_code == 302
    assert response["Location"] == f"{url}?e=1"


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (Vendor, {"name": "Planted", "category": "functional", "hosts": "cdn.planted.example"}),
        (CookieDefinition, {"name": "planted", "category": "functional", "path": "/"}),
        (BannerText, {"language": "fr", "title": "Planted"}),
        (PolicyVersion, {"summary": "Planted", "effective_date": "2026-12-01"}),
        (CookieScan, {"urls": "https://other.example/"}),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_nothing_can_be_created_for_another_site(marketing, site, other, model, fields):
    before = model.objects.filter(site=other).count()
    add = reverse(f"admin:consent_{model._meta.model_name}_add")
    if "category" in fields:
        fields["category"] = str(Category.objects.get(slug=fields["category"]).pk)

    form = marketing.get(add).context["adminform"].form
    status, errors, _ = submit(marketing, add, site=str(other.pk), **fields)

    assert list(form.fields["site"].queryset) == [site]
    assert status == 200
    assert errors["site"] == [
        "Select a valid choice. That choice is not one of the available choices."
    ]
    assert model.objects.filter(site=other).count() == before


def test_a_cookie_cannot_name_another_sites_vendor(marketing, site, other):
    theirs = Vendor.objects.get(site=other)
    add = reverse("admin:consent_cookiedefinition_add")

    status, errors, _ = submit(
        marketing,
        add,
        site=str(site.pk),
        name="planted",
        category=str(theirs.category_id),
        vendor=str(theirs.pk),
        path="/",
    )

    assert status == 200
    assert "vendor" in errors
    assert not CookieDefinition.objects.filter(name="planted").exists()


def test_the_vendor_autocomplete_offers_only_granted_sites_vendors(marketing, site, other):
    response = marketing.get(
        reverse("admin:autocomplete"),
        {"app_label": "consent", "model_name": "cookiedefinition", "field_name": "vendor"},
    )

    names = {result["text"] for result in response.json()["results"]}
    assert "Other shop vendor" not in names
    assert names == set(Vendor.objects.filter(site=site).values_list("name", flat=True))


def test_an_export_for_another_site_or_every_site_is_refused(privacy, site, other):
    add = reverse("admin:consent_exportjob_add")
    before = ExportJob.objects.count()

    other_site = submit(privacy, add, site=str(other.pk))
    every_site = submit(privacy, add, site="", consent_id=str(OTHER_VISITOR))

    assert other_site[0] == every_site[0] == 200
    assert other_site[1]["site"] == [
        "Select a valid choice. That choice is not one of the available choices."
    ]
    assert every_site[1]["site"] == ["This field is required."]
    assert ExportJob.objects.count() == before


def test_the_statistics_show_only_granted_sites(marketing, site, other):
    stats.aggregate_day(site, timezone.now().date())
    url = reverse("admin:consent_dailystat_changelist")

    response = marketing.get(url, {"site": other.pk})

    assert response.status_code == 200
    assert response.context["site"] == site
    assert response.context["sites"] == [site]
    assert OTHER not in response.content.decode()


def test_staff_granted_no_site_see_no_statistics(site, other):
    stranger = staff_client("stranger", "Marketing ops")

    response = stranger.get(reverse("admin:consent_dailystat_changelist"))

    assert response.status_code == 200
    assert response.context.get("site") is None
    assert OTHER not in response.content.decode()
    assert site.name not in response.content.decode()


def test_a_visitor_with_records_on_another_site_is_not_erased(privacy, site, other):
    mine = decide(site, OTHER_VISITOR)

    response = privacy.post(
        changelist(ConsentRecord),
        {"action": "erase_visitors", ACTION_CHECKBOX_NAME: [mine.pk], "confirmed": "yes"},
    )

    assert response.status_code == 302
    assert ConsentRecord.objects.filter(consent_id=OTHER_VISITOR).count() == 2
    assert not AuditEvent.objects.filter(action="erase").exists()


def test_audit_events_of_other_sites_are_not_shown(marketing, site, other, mine):
    events = marketing.get(changelist(AuditEvent)).context["cl"].result_list

    assert {event.site_key for event in events} == {site.key}
    assert AuditEvent.objects.filter(site_key=other.key).exists()


def test_a_superuser_grants_a_site_in_its_form_and_the_user_then_sees_it(marketing, other):
    url = reverse("admin:consent_site_change", args=[other.pk])
    colleague = User.objects.get(username="marketing")
    root = superuser_client()
    assert marketing.get(url).status_code == 302

    status, errors, _ = submit(root, url, staff=str(colleague.pk))

    assert (status, errors) == (302, {})
    assert list(other.staff.all()) == [colleague]
    assert marketing.get(url).status_code == 200
    assert 'name="staff"' not in marketing.get(url).content.decode()
