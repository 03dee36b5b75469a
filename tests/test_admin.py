import uuid

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from consent import records, stats
from consent.bundles import get_bundle
from consent.models import (
    AuditEvent,
    BannerText,
    ConsentRecord,
    CookieScan,
    DailyStat,
    ExportJob,
)
from consent.rules import Signals
from consent.transparency import log

pytestmark = pytest.mark.django_db
CONSENT_MODELS = [model for model in admin.site._registry if model._meta.app_label == "consent"]


@pytest.fixture
def superuser_client(client):
    client.force_login(User.objects.create_superuser("root", password="pw"))
    return client


@pytest.fixture
def record(site) -> ConsentRecord:
    found, _ = records.record_consent(
        get_bundle("demo"),
        categories={"functional": True, "advertising": False},
        policy_version=1,
        method="custom",
        signals=Signals(),
        language="en",
        page_url="https://shop.example/",
    )
    log.seal()
    return found


@pytest.fixture
def operations(site) -> None:
    """One of each operations object: an export, a day of statistics, a cookie scan."""
    ExportJob.objects.create(site=site)
    stats.aggregate_day(site, timezone.now().date())
    CookieScan.objects.create(site=site, urls="https://shop.example/")


@pytest.mark.parametrize("model", CONSENT_MODELS, ids=lambda m: m.__name__)
def test_every_changelist_and_form_answers_200(superuser_client, site, record, operations, model):
    info = model._meta.app_label, model._meta.model_name
    assert superuser_client.get(reverse("admin:{}_{}_changelist".format(*info))).status_code == 200
    obj = model.objects.order_by("pk").first()
    assert obj is not None, f"no {model.__name__} to open"
    assert (
        superuser_client.get(reverse("admin:{}_{}_change".format(*info), args=[obj.pk])).status_code
        == 200
    )
    add = superuser_client.get(reverse("admin:{}_{}_add".format(*info)))
    assert add.status_code == (
        403
        if model in (ConsentRecord, AuditEvent, DailyStat) or model._meta.model_name == "treehead"
        else 200
    )


def test_records_are_found_by_consent_id(superuser_client, record):
    url = reverse("admin:consent_consentrecord_changelist")
    found = superuser_client.get(url, {"q": str(record.consent_id)})
    assert str(record.consent_id) in found.content.decode()
    missing = superuser_client.get(url, {"q": str(uuid.uuid4())})
    assert str(record.consent_id) not in missing.content.decode()
    garbage = superuser_client.get(url, {"q": "not-a-uuid'--"})
    assert garbage.status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        {"method__exact": "custom"},
        {"allowed": "functional"},
        {"allowed": "-advertising"},
        {"outdated": "yes"},
        {"outdated": "no"},
        {"gpc__exact": "1"},
        {"created_at__gte": "2020-01-01 00:00:00+00:00"},
    ],
)
def test_record_filters_answer(superuser_client, record, query):
    response = superuser_client.get(reverse("admin:consent_consentrecord_changelist"), query)
    assert response.status_code == 200


def test_category_filter_finds_the_right_records(superuser_client, site, record):
    url = reverse("admin:consent_consentrecord_changelist")
    assert (
        str(record.consent_id)
        in superuser_client.get(url, {"allowed": "functional"}).content.decode()
    )
    assert (
        str(record.consent_id)
        not in superuser_client.get(url, {"allowed": "advertising"}).content.decode()
    )


def test_nobody_can_change_or_delete_a_record_in_the_admin(superuser_client, record):
    change = reverse("admin:consent_consentrecord_change", args=[record.pk])
    response = superuser_client.post(change, {"method": "reject_all"})
    assert response.status_code == 403
    delete = reverse("admin:consent_consentrecord_delete", args=[record.pk])
    assert superuser_client.post(delete, {"post": "yes"}).status_code == 403
    assert ConsentRecord.objects.get(pk=record.pk).method == "custom"


def test_the_required_category_has_no_delete_in_the_admin(superuser_client, site):
    from consent.models import Category

    required = Category.objects.get(slug="required")
    delete = reverse("admin:consent_category_delete", args=[required.pk])
    assert superuser_client.post(delete, {"post": "yes"}).status_code == 403
    assert Category.objects.filter(slug="required").exists()


class TestMarketingOps:
    @pytest.fixture(autouse=True)
    def _granted_the_demo_site(self, site, marketing_user):
        site.staff.add(marketing_user)

    def test_can_edit_vendors_and_texts(self, marketing_client, site):
        assert marketing_client.get(reverse("admin:consent_vendor_changelist")).status_code == 200
        assert marketing_client.get(reverse("admin:consent_bannertext_add")).status_code == 200
        assert (
            marketing_client.get(reverse("admin:consent_cookiedefinition_add")).status_code == 200
        )

    def test_can_read_records_and_events(self, marketing_client, record):
        assert (
            marketing_client.get(reverse("admin:consent_consentrecord_changelist")).status_code
            == 200
        )
        assert (
            marketing_client.get(reverse("admin:consent_auditevent_changelist")).status_code == 200
        )
        page = marketing_client.get(reverse("admin:consent_consentrecord_change", args=[record.pk]))
        assert page.status_code == 200
        assert b'name="_save"' not in page.content

    def test_is_refused_changing_or_deleting_evidence(self, marketing_client, record):
        delete = reverse("admin:consent_consentrecord_delete", args=[record.pk])
        assert marketing_client.post(delete, {"post": "yes"}).status_code == 403
        event = AuditEvent.objects.first()
        assert (
            marketing_client.post(
                reverse("admin:consent_auditevent_delete", args=[event.pk]), {"post": "yes"}
            ).status_code
            == 403
        )
        assert ConsentRecord.objects.filter(pk=record.pk).exists()

    def test_is_refused_managing_users_and_deleting_sites(self, marketing_client, site):
        assert marketing_client.get(reverse("admin:auth_user_changelist")).status_code == 403
        delete = reverse("admin:consent_site_delete", args=[site.pk])
        assert marketing_client.post(delete, {"post": "yes"}).status_code == 403

    def test_publishing_a_policy_version_names_the_user(self, marketing_client, site):
        response = marketing_client.post(
            reverse("admin:consent_policyversion_add"),
            {"site": site.pk, "summary": "Added a video vendor.", "effective_date": "2026-12-01"},
        )
        assert response.status_code == 302
        version = site.policy_versions.order_by("-version").first()
        assert (version.version, version.published_by) == (2, "marketing")
        event = AuditEvent.objects.filter(object_type="consent.PolicyVersion").order_by("-id")[0]
        assert event.actor == "marketing" and event.action == "create"

    def test_cannot_edit_a_published_policy_version(self, marketing_client, site):
        version = site.policy_versions.get()
        response = marketing_client.post(
            reverse("admin:consent_policyversion_change", args=[version.pk]),
            {"site": site.pk, "summary": "rewritten history", "effective_date": "2020-01-01"},
        )
        assert response.status_code == 403


def test_the_admin_shows_the_built_in_notice_words_as_placeholders(admin_client, site):
    text = BannerText.objects.get(site=site, language="de")
    page = admin_client.get(f"/admin/consent/bannertext/{text.pk}/change/").content.decode()
    assert 'placeholder="Ihre Datenschutzoptionen"' in page
    assert "Notice (notice-only and opt-out regions)" in page
    assert 'placeholder="Wir verwenden Cookies, um diese Website zu betreiben, Ihre' in page
