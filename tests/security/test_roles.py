"""Issue 11, item 4 (console side): evidence cannot be destroyed by staff who must only
read it.

Marketing ops edit what visitors are told; they see consent ids shortened, cannot find
a visitor by id, export, erase, or change retention, allowed origins or category slugs,
whatever they POST. The privacy role does those, through the admin's own forms and
actions, and the audit log names them. Retention has a floor nobody goes under.
"""

import uuid

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from consent.models import AuditEvent, Category, ConsentRecord, Site
from tests.security.forms import submit
from tests.security.staff import decide, staff_client

pytestmark = pytest.mark.django_db
VISITOR = uuid.UUID("5a1e0c6e-0d7b-4b43-9a43-0c7d1f0b2f11")
RECORDS = reverse("admin:consent_consentrecord_changelist")


@pytest.fixture
def marketing(site):
    return staff_client("marketing", "Marketing ops", (site,))


@pytest.fixture
def privacy(site):
    return staff_client("privacy", "Privacy", (site,))


@pytest.fixture
def visit(site) -> ConsentRecord:
    """VISITOR's two decisions, and one of somebody else."""
    decide(site, VISITOR)
    decide(site)
    return decide(site, VISITOR, advertising=True)


def site_url(site: Site) -> str:
    return reverse("admin:consent_site_change", args=[site.pk])


class TestConsentIds:
    def test_marketing_ops_see_them_shortened_in_the_list_and_on_the_record(self, marketing, visit):
        listing = marketing.get(RECORDS).content.decode()
        page = marketing.get(reverse("admin:consent_consentrecord_change", args=[visit.pk]))
        history = marketing.get(reverse("admin:consent_consentrecord_history", args=[visit.pk]))

        assert "5a1e0c6e…" in listing
        for response in (page, history):
            assert response.status_code == 200
            assert "5a1e0c6e…" in response.content.decode()
        for html in (listing, page.content.decode(), history.content.decode()):
            assert str(VISITOR) not in html
            assert VISITOR.hex not in html

    def test_the_privacy_role_sees_them_whole(self, privacy, visit):
        listing = privacy.get(RECORDS).content.decode()
        page = privacy.get(reverse("admin:consent_consentrecord_change", args=[visit.pk]))

        assert str(VISITOR) in listing
        assert str(VISITOR) in page.content.decode()

    def test_marketing_ops_cannot_find_a_visitor_by_id(self, marketing, visit):
        page = marketing.get(RECORDS).content.decode()
        found = marketing.get(RECORDS, {"q": str(VISITOR)})
        not_found = marketing.get(RECORDS, {"q": str(uuid.uuid4())})

        assert 'id="searchbar"' not in page
        # The term is ignored: a visitor's id gets the same rows as any other.
        assert found.context["cl"].result_count == not_found.context["cl"].result_count == 3

    @pytest.mark.parametrize(
        "lookup",
        [
            {"consent_id": str(VISITOR)},
            {"consent_id__exact": str(VISITOR)},
            {"consent_id__startswith": "5a1e0c6e-0"},
        ],
    )
    def test_nor_spell_the_id_out_with_a_lookup_in_the_query_string(self, marketing, visit, lookup):
        response = marketing.get(RECORDS, lookup)

        assert response.status_code == 302
        assert response["Location"] == f"{RECORDS}?e=1"

    def test_the_privacy_role_finds_a_visitor_by_exact_id(self, privacy, visit):
        found = privacy.get(RECORDS, {"q": str(VISITOR)})
        prefix = privacy.get(RECORDS, {"q": "5a1e0c6e"})

        assert 'id="searchbar"' in found.content.decode()
        assert {r.consent_id for r in found.context["cl"].result_list} == {VISITOR}
        assert found.context["cl"].result_count == 2
        assert prefix.context["cl"].result_count == 0


class TestEvidenceSettings:
    def test_marketing_ops_cannot_change_retention_or_origins_even_by_a_crafted_post(
        self, marketing, site
    ):
        page = marketing.get(site_url(site)).content.decode()
        status, errors, _ = submit(
            marketing,
            site_url(site),
            name="Demo shop (renamed)",
            key="stolen-key",
            retention_days="400",
            allowed_origins="https://evil.example",
        )

        assert 'name="key"' not in page
        assert 'name="retention_days"' not in page
        assert 'name="allowed_origins"' not in page
        assert (status, errors) == (302, {})
        site.refresh_from_db()
        assert site.name == "Demo shop (renamed)"
        assert site.key == "demo"
        assert site.retention_days == 1095
        assert "https://evil.example" not in site.origins()

    def test_the_privacy_role_changes_them(self, privacy, site):
        status, errors, _ = submit(
            privacy,
            site_url(site),
            retention_days="800",
            allowed_origins="https://shop.example\nhttps://www.shop.example",
        )

        assert (status, errors) == (302, {})
        site.refresh_from_db()
        assert site.retention_days == 800
        assert site.origins() == ["https://shop.example", "https://www.shop.example"]
        event = AuditEvent.objects.filter(object_type="consent.Site").order_by("-id").first()
        assert (event.actor, event.action, event.after["retention_days"]) == (
            "privacy",
            "update",
            800,
        )

    def test_not_even_the_privacy_role_goes_under_the_retention_floor(
        self, privacy, site, settings
    ):
        settings.CONSENT_RETENTION_MIN_DAYS = 400

        status, errors, _ = submit(privacy, site_url(site), retention_days="399")
        assert status == 200
        assert errors["retention_days"] == [
            "Records must be kept at least 400 days (CONSENT_RETENTION_MIN_DAYS)."
        ]
        site.refresh_from_db()
        assert site.retention_days == 1095

        assert submit(privacy, site_url(site), retention_days="400")[:2] == (302, {})
        site.refresh_from_db()
        assert site.retention_days == 400


class TestCategories:
    def category_url(self, slug: str) -> str:
        return reverse("admin:consent_category_change", args=[Category.objects.get(slug=slug).pk])

    def test_marketing_ops_cannot_change_a_category_every_site_shares(self, marketing, site):
        url = self.category_url("functional")
        response = marketing.post(
            url, {"slug": "__proto__", "name": "Functional", "description": "x", "order": 1}
        )

        assert response.status_code == 403
        assert Category.objects.filter(slug="functional").exists()
        assert marketing.get(url).status_code == 200  # they still read it

    def test_without_the_slug_permission_a_crafted_slug_is_ignored(self, site):
        editor = staff_client("editor", perms=("consent.view_category", "consent.change_category"))
        url = self.category_url("functional")

        page = editor.get(url).content.decode()
        status, errors, _ = submit(editor, url, slug="analytics", name="Analytics")

        assert 'name="slug"' not in page
        assert (status, errors) == (302, {})
        category = Category.objects.get(name="Analytics")
        assert category.slug == "functional"

    def test_the_privacy_role_renames_a_slug_until_records_use_it(self, privacy, site):
        url = self.category_url("functional")
        assert submit(privacy, url, slug="analytics")[:2] == (302, {})
        assert Category.objects.filter(slug="analytics").exists()

        decide(site, analytics=True)
        status, errors, _ = submit(privacy, url, slug="statistics")

        assert status == 200
        assert errors["slug"] == ["Consent records use 'analytics': the slug can no longer change."]
        assert Category.objects.filter(slug="analytics").exists()


class TestErasure:
    def erase(self, client, record: ConsentRecord, **extra: str):
        return client.post(
            RECORDS, {"action": "erase_visitors", ACTION_CHECKBOX_NAME: [record.pk], **extra}
        )

    def test_marketing_ops_cannot_erase_and_the_privacy_role_can(self, marketing, privacy, visit):
        page = marketing.get(RECORDS).content.decode()
        asked = self.erase(marketing, visit)
        confirmed = self.erase(marketing, visit, confirmed="yes")

        assert "erase_visitors" not in page
        # With no action of theirs, the POST is answered with the list, and nothing more.
        assert (asked.status_code, confirmed.status_code) == (200, 200)
        assert ConsentRecord.objects.filter(consent_id=VISITOR).count() == 2
        assert not AuditEvent.objects.filter(action="erase").exists()
        assert self.erase(privacy, visit, confirmed="yes").status_code == 302
        assert not ConsentRecord.objects.filter(consent_id=VISITOR).exists()

    def test_the_privacy_role_erases_a_visitor_after_confirming_and_is_named(self, privacy, visit):
        page = privacy.get(RECORDS).content.decode()
        asked = self.erase(privacy, visit)

        assert '<option value="erase_visitors">Erase this visitor&#x27;s records</option>' in page
        assert asked.status_code == 200
        assert str(VISITOR) in asked.content.decode()
        assert ConsentRecord.objects.filter(consent_id=VISITOR).count() == 2

        confirmed = self.erase(privacy, visit, confirmed="yes")

        assert confirmed.status_code == 302
        assert not ConsentRecord.objects.filter(consent_id=VISITOR).exists()
        assert ConsentRecord.objects.count() == 1  # somebody else's stays
        event = AuditEvent.objects.get(action="erase")
        assert (event.actor, event.data["count"]) == ("privacy", 2)
        assert str(VISITOR) not in str(event.data) + event.object_repr


def test_marketing_ops_do_not_see_the_log_heads(marketing, privacy):
    url = reverse("admin:consent_treehead_changelist")

    assert marketing.get(url).status_code == 403
    assert privacy.get(url).status_code == 200
