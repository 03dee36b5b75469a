import base64
import json
import uuid

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from consent.models import AuditEvent, ConsentRecord, PolicyVersion, TreeHead
from consent.transparency import heads, log, merkle

pytestmark = pytest.mark.django_db
ORIGIN = "https://shop.example"


def post(client, consent_id, method="custom", functional=True, advertising=False, **extra):
    return client.post(
        "/api/v1/sites/demo/consents",
        json.dumps(
            {
                "consent_id": str(consent_id),
                "policy_version": 1,
                "method": method,
                "categories": {"functional": functional, "advertising": advertising},
                **extra,
            }
        ),
        content_type="application/json",
    )


def decide(client, consent_id, method="custom", functional=True, advertising=False):
    response = post(client, consent_id, method, functional, advertising)
    assert response.status_code == 201
    return response.json()


def others(site, count: int) -> None:
    now = timezone.now()
    ConsentRecord.objects.bulk_create(
        ConsentRecord(
            site=site,
            policy_version=1,
            texts_hash="0" * 64,
            categories={"required": True, "functional": False, "advertising": False},
            method="reject_all",
            created_at=now,
            expires_at=now,
        )
        for _ in range(count)
    )


def receipt_url(consent_id) -> str:
    return reverse("consent-receipt", args=[consent_id])


def assert_proves(record: dict) -> None:
    """The record's proof holds as FORMAT.md says a verifier checks it: the logged entry
    says what the receipt says, its leaf is on the path to the root of a head that the
    log's key signed, and that head is one the log stored."""
    proof = record["proof"]
    leaf_input = base64.b64decode(proof["leaf_input"])
    leaf = merkle.leaf_hash(leaf_input)
    assert base64.b64encode(leaf).decode() == proof["leaf_hash"]
    logged = json.loads(leaf_input)
    shared = set(logged) & set(record)
    assert shared >= {"consent_id", "record_id", "created_at", "categories", "method"}
    assert {name: logged[name] for name in shared} == {name: record[name] for name in shared}
    head = heads.SignedTreeHead.from_json(proof["head"])
    assert heads.verify(head, log.key_document()["origin"], log.public_key())
    path = [base64.b64decode(h) for h in proof["audit_path"]]
    assert merkle.verify_inclusion(leaf, proof["leaf_index"], head.tree_size, path, head.root_hash)
    assert TreeHead.objects.filter(tree_size=head.tree_size, root_hash=head.root_hash).exists()


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
    log.seal()
    client.delete(f"/api/v1/consents/{consent_id}")
    log.seal()
    call_command("verify_audit")


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
    log.seal()
    data = client.get(f"/api/v1/consents/{consent_id}").json()
    assert len(data["history"]) == 3 and data["current"]["site"] == ""
    for record in data["history"]:
        assert_proves(record)
    assert client.delete(f"/api/v1/consents/{consent_id}").status_code == 204
    assert not ConsentRecord.objects.filter(consent_id=consent_id).exists()
    log.seal()
    call_command("verify_audit")


# --- Proofs -------------------------------------------------------------------------------


def test_a_record_has_no_proof_until_it_is_sealed(client, consent_id):
    data = client.get(receipt_url(consent_id)).json()
    assert data["current"]["proof"] is None
    assert [record["proof"] for record in data["history"]] == [None, None]


def test_every_sealed_record_carries_a_proof_in_the_latest_signed_head(client, consent_id):
    log.seal()
    decide(client, uuid.uuid4())  # the log grows past the visitor's records
    log.seal()
    data = client.get(receipt_url(consent_id)).json()
    latest = log.latest_head()
    for record in data["history"]:
        assert_proves(record)
        assert record["proof"]["head"] == log.signed(latest).as_json()
    rows = ConsentRecord.objects.filter(consent_id=consent_id).order_by("-created_at", "-id")
    assert [r["proof"]["leaf_index"] for r in data["history"]] == [r.leaf_index for r in rows]
    assert data["current"] == data["history"][0]


def test_a_record_sealed_after_the_others_gets_its_proof_and_theirs_are_unchanged(
    client, consent_id
):
    log.seal()
    decide(client, consent_id, "reject_all", False, False)
    data = client.get(receipt_url(consent_id)).json()
    assert data["current"]["proof"] is None
    assert all(record["proof"] for record in data["history"][1:])
    log.seal()
    for record in client.get(receipt_url(consent_id)).json()["history"]:
        assert_proves(record)


def test_a_forged_record_does_not_verify(client, consent_id):
    """What the proof is for: a receipt that shows another decision than the one logged
    fails, and so does a leaf moved to another index."""
    log.seal()
    record = client.get(receipt_url(consent_id)).json()["history"][0]
    assert_proves(record)
    with pytest.raises(AssertionError):
        assert_proves(record | {"categories": {**record["categories"], "advertising": True}})
    with pytest.raises(AssertionError):
        assert_proves(record | {"proof": record["proof"] | {"leaf_index": 0}})


def test_the_receipt_costs_four_queries_however_long_the_history(
    client, site, django_assert_num_queries
):
    """The records, their sites, the latest head, and the tiles of every proof at once."""
    visitor = uuid.uuid4()
    for n in range(6):
        decide(client, visitor)
        if n % 2:  # other visitors' records between: the visitor's leaves lie in many tiles
            others(site, 300)
        log.seal()
    client.get(receipt_url(visitor))  # the bundle is in the cache
    with django_assert_num_queries(4):
        data = client.get(receipt_url(visitor)).json()
    assert len(data["history"]) == 6
    for record in data["history"]:
        assert_proves(record)


def test_the_answer_to_a_new_decision_has_no_proof_and_costs_no_query_for_it(
    client, site, django_assert_num_queries
):
    log.seal()
    decide(client, uuid.uuid4())  # the bundle is in the cache
    # The INSERT, nothing for the log.
    with django_assert_num_queries(1) as queries:
        response = post(client, uuid.uuid4())
    statements = [query["sql"].split()[0] for query in queries.captured_queries]
    assert statements == ["INSERT"]
    assert response.status_code == 201
    assert response.json()["proof"] is None


def test_a_resent_decision_that_was_sealed_is_answered_with_its_proof(client, site):
    visitor, decision = uuid.uuid4(), str(uuid.uuid4())
    first = post(client, visitor, decision_id=decision)
    assert first.status_code == 201 and first.json()["proof"] is None
    log.seal()
    again = post(client, visitor, decision_id=decision, resent=True)
    assert again.status_code == 200
    assert again.json()["record_id"] == first.json()["record_id"]
    assert_proves(again.json())
