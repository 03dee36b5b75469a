import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from consent.models import (
    AppendOnlyError,
    AuditEvent,
    Category,
    ConsentRecord,
    CookieDefinition,
    PolicyVersion,
    Site,
    Vendor,
)
from consent.rules import CookieRule

pytestmark = pytest.mark.django_db


def make_record(site, **fields) -> ConsentRecord:
    defaults = {
        "site": site,
        "policy_version": 1,
        "texts_hash": "0" * 64,
        "method": "accept_all",
        "categories": {"required": True, "functional": True, "advertising": True},
        "expires_at": timezone.now(),
    }
    return ConsentRecord.objects.create(**defaults | fields)


def test_the_three_categories_exist_after_migrating():
    assert list(Category.objects.values_list("slug", "required")) == [
        ("required", True),
        ("functional", False),
        ("advertising", False),
    ]


def test_required_cannot_be_made_optional():
    required = Category.objects.get(slug="required")
    required.required = False
    with pytest.raises(ValidationError):
        required.save()
    assert Category.objects.get(slug="required").required is True


def test_required_cannot_be_deleted():
    with pytest.raises(ValidationError):
        Category.objects.get(slug="required").delete()
    assert Category.objects.filter(slug="required").exists()


def test_required_slug_cannot_change():
    required = Category.objects.get(slug="required")
    required.slug = "essential"
    with pytest.raises(ValidationError):
        required.save()


def test_an_optional_category_cannot_become_required():
    functional = Category.objects.get(slug="functional")
    functional.required = True
    with pytest.raises(ValidationError):
        functional.save()


def test_records_cannot_be_changed(site):
    record = make_record(site)
    record.method = "reject_all"
    with pytest.raises(AppendOnlyError):
        record.save()
    with pytest.raises(AppendOnlyError):
        ConsentRecord.objects.filter(pk=record.pk).update(method="reject_all")
    assert ConsentRecord.objects.get(pk=record.pk).method == "accept_all"


def test_records_cannot_be_deleted_plainly(site):
    record = make_record(site)
    with pytest.raises(AppendOnlyError):
        record.delete()
    with pytest.raises(AppendOnlyError):
        ConsentRecord.objects.all().delete()
    assert ConsentRecord.objects.filter(pk=record.pk).exists()


def test_audit_events_cannot_be_changed_or_deleted(site):
    event = AuditEvent.objects.first()
    event.actor = "someone else"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.update(actor="x")


def test_a_site_with_records_cannot_be_deleted(site):
    make_record(site)
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        site.delete()


def test_policy_versions_number_themselves_per_site(site):
    other = Site.objects.create(name="Other", key="other")
    assert PolicyVersion.objects.create(site=site, summary="new vendor").version == 2
    assert PolicyVersion.objects.create(site=other, summary="first").version == 1
    assert site.current_policy_version() == 2


def test_a_vendors_cookies_follow_its_category(site):
    vendor = Vendor.objects.get(site=site, name="Google Analytics")
    vendor.category = Category.objects.get(slug="advertising")
    vendor.save()
    assert set(
        CookieDefinition.objects.filter(vendor=vendor).values_list("category__slug", flat=True)
    ) == {"advertising"}


def test_cookie_patterns_match_by_glob(site):
    definition = CookieDefinition.objects.get(site=site, name="_ga_*")
    pattern = CookieRule(definition.name, definition.category.slug)
    assert pattern.matches("_ga_ABC123")
    assert not pattern.matches("_ga")
    assert not pattern.matches("x_ga_ABC")


@pytest.mark.parametrize("origins", ["example.com", "https://a.example/path", "ftp://a.example"])
def test_site_rejects_malformed_origins(origins):
    with pytest.raises(ValidationError):
        Site(name="x", key="xyz", allowed_origins=origins).full_clean()


def test_site_accepts_origins_one_per_line():
    Site(
        name="x", key="xyz", allowed_origins="https://a.example\nhttp://127.0.0.1:8000"
    ).full_clean()


@pytest.mark.parametrize("hosts", ["https://cdn.example", "cdn.example/path", "a b/c"])
def test_vendor_rejects_urls_as_hosts(site, hosts):
    vendor = Vendor(
        site=site, name="v", category=Category.objects.get(slug="functional"), hosts=hosts
    )
    with pytest.raises(ValidationError):
        vendor.full_clean()


def test_a_cookie_cannot_sit_in_another_category_than_its_vendor(site):
    vendor = Vendor.objects.get(site=site, name="Meta Pixel")
    cookie = CookieDefinition(
        site=site, name="fr", vendor=vendor, category=Category.objects.get(slug="functional")
    )
    with pytest.raises(ValidationError):
        cookie.full_clean()
