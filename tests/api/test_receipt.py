import json
import uuid

import pytest

from consent import chain
from consent.models import AuditEvent, ConsentRecord, PolicyVersion

pytestmark = pytest.mark.django_db
ORIGIN = "https://shop.example"


def decide(client, consent_id, method="custom", functional=True, advertising=False):
    response = client.post(
        "/api/v1/sites/demo/consents",
        json.dumps(
            {
                "consent_id": str(consent_id),
                "policy_version": 1,
                "method": method,
                "categories": {"functional": functional, "advertising": advertising},
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 201
    return response.json()


@pytest.fixture
def consent_id(client, site) -> uuid.UUID:
    consent_id = uuid.uuid4()
    decide(client, consent_id, "accept_all", True, True)
    decide(client, consent_id, "withdraw", False, False)
    return consent_id


def test_it_shows_the_current_choice_and_the_history(client, consent_id):
    response = client.get(f"/api/v1/consents/{consent_id}")
    assert response.status_code == 200
    data = response.json()
    assert data["consent_id"] == str(consent_id)
    assert data["current"]["method"] == "withdraw"
    assert data["current"]["categories"]["advertising"] is False
    assert [r["method"] for r in data["history"]] == ["withdraw", "accept_all"]
    assert data["outdated"] is False
    assert response["Cache-Control"] == "no-store"


def test_it_says_when_the_choice_is_for_an_older_policy(client, site, consent_id):
    PolicyVersion.objects.create(site=site, summary="New vendor")
    assert client.get(f"/api/v1/consents/{consent_id}").json()["outdated"] is True


def test_it_answers_404_for_an_unknown_consent_id(client, site):
    assert client.get(f"/api/v1/consents/{uuid.uuid4()}").status_code == 404


@pytest.mark.parametrize("bad", ["not-a-uuid", "1234", "' OR 1=1 --"])
def test_it_rejects_a_malformed_consent_id(client, site, bad):
    response = client.get(f"/api/v1/consents/{bad}")
    assert response.status_code == 400
    assert "consent_id" in response.json()


def test_erasure_removes_every_record_and_leaves_an_event_without_personal_data(client, consent_id):
    other = uuid.uuid4()
    decide(client, other)
    response = client.delete(f"/api/v1/consents/{consent_id}")
    assert response.status_code == 204
    assert not ConsentRecord.objects.filter(consent_id=consent_id).exists()
    assert ConsentRecord.objects.filter(consent_id=other).count() == 1
    event = AuditEvent.objects.get(action="erase")
    assert event.data["count"] == 2
    assert event.actor == "visitor from 127.0.0.0/24"
    assert event.data["requester"] == {"via": "api", "ip_prefix": "127.0.0.0/24"}
    assert str(consent_id) not in json.dumps(
        [event.data, event.object_repr, event.object_id, event.before, event.after]
    )


def test_a_receipt_is_gone_after_erasure(client, consent_id):
    client.delete(f"/api/v1/consents/{consent_id}")
    assert client.get(f"/api/v1/consents/{consent_id}").status_code == 404
    assert client.delete(f"/api/v1/consents/{consent_id}").status_code == 404


def test_erasure_of_sealed_records_still_verifies(client, consent_id):
    chain.seal()
    client.delete(f"/api/v1/consents/{consent_id}")
    chain.seal()
    assert chain.verify()[1] is None


def test_the_sites_origin_may_read_and_erase_cross_origin(client, consent_id):
    preflight = client.options(
        f"/api/v1/consents/{consent_id}",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "DELETE"},
    )
    assert preflight["Access-Control-Allow-Origin"] == ORIGIN
    assert "DELETE" in preflight["Access-Control-Allow-Methods"]
    foreign = client.get(
        f"/api/v1/consents/{consent_id}", headers={"Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in foreign


def test_a_record_whose_site_is_gone_is_still_shown_and_erased(client, consent_id):
    """Records have no database foreign key to the site (see ConsentRecord.site): a site
    deleted while a decision for it was in flight must not hide that record from the
    visitor's access or erasure, nor break the chain."""
    from django.utils import timezone

    now = timezone.now()
    orphan = ConsentRecord(
        consent_id=consent_id,
        site_id=987654,
        policy_version=1,
        texts_hash="0" * 64,
        categories={"required": True},
        method="reject_all",
        created_at=now,
        expires_at=now,
    )
    orphan.save()
    chain.seal()
    data = client.get(f"/api/v1/consents/{consent_id}").json()
    assert len(data["history"]) == 3 and data["current"]["site"] == ""
    assert client.delete(f"/api/v1/consents/{consent_id}").status_code == 204
    assert not ConsentRecord.objects.filter(consent_id=consent_id).exists()
    chain.seal()
    assert chain.verify()[1] is None
