import pytest
from django.contrib.auth.models import User

from consent.models import AuditEvent, Category, Vendor

pytestmark = pytest.mark.django_db


def test_every_change_to_what_visitors_are_told_is_an_event(site):
    vendor = Vendor.objects.get(site=site, name="YouTube")
    vendor.description = "Plays videos."
    vendor.save()
    event = AuditEvent.objects.filter(object_type="consent.Vendor").order_by("-id").first()
    assert (event.action, event.actor, event.site_key) == ("update", "system", "demo")
    assert event.before["description"] == "Plays embedded videos."
    assert event.after["description"] == "Plays videos."


def test_saving_without_a_change_writes_no_event(site):
    count = AuditEvent.objects.count()
    Vendor.objects.get(site=site, name="YouTube").save()
    assert AuditEvent.objects.count() == count


def test_deleting_writes_the_last_state(site):
    vendor = Vendor.objects.get(site=site, name="YouTube")
    vendor.delete()
    event = AuditEvent.objects.filter(object_type="consent.Vendor", action="delete").get()
    assert event.before["name"] == "YouTube" and event.after is None


def test_admin_changes_name_the_user(client, site):
    admin = User.objects.create_superuser("ops-lead", password="pw")
    client.force_login(admin)
    category = Category.objects.get(slug="advertising")
    response = client.post(
        f"/admin/consent/category/{category.pk}/change/",
        {
            "slug": "advertising",
            "name": "Ads",
            "description": category.description,
            "order": 2,
        },
    )
    assert response.status_code == 302
    event = AuditEvent.objects.filter(object_type="consent.Category").order_by("-id").first()
    assert (event.actor, event.before["name"], event.after["name"]) == (
        "ops-lead",
        "Advertising",
        "Ads",
    )
