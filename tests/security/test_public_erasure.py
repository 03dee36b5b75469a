"""Issue 11, item 4 (public side): anyone holding a consent id can erase its records
through ``DELETE /api/v1/consents/{id}``. Erasures used to be throttled like reads (30 a
minute per address) and recorded as actor "visitor", nothing more. Now each is recorded
with the requester's network prefix (as records store it), and a network may erase only
a few times (CONSENT_ERASURE_THROTTLE_RATE)."""

import json
import uuid

import pytest

from consent import records
from consent.bundles import get_bundle
from consent.models import AuditEvent, ConsentRecord, Site
from consent.rules import Signals
from tests.security.proxied import behind_proxy, call

ERASURES = 5  # per network, in the server below
NEIGHBOURS = [f"203.0.113.{host}" for host in range(101, 109)]  # 8 addresses, one /24


def decide() -> uuid.UUID:
    record, _ = records.record_consent(
        get_bundle("demo"),
        categories={"functional": True, "advertising": False},
        policy_version=1,
        method="custom",
        signals=Signals(),
        ip="192.0.2.10",
    )
    return record.consent_id


@pytest.fixture
def server(site, transactional_db, redis_server, tmp_path):
    # One process counts exactly; "/day": a run must not straddle a window's end.
    server = behind_proxy(
        redis_server.url,
        tmp_path / "gunicorn.log",
        workers=1,
        CONSENT_ERASURE_THROTTLE_RATE=f"{ERASURES}/day",
    )
    yield server
    server.stop()


@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_erasures_from_one_network_are_throttled_and_each_names_its_network(server):
    consent_ids = [decide() for _ in NEIGHBOURS]

    answers = [
        call(server.port, "DELETE", f"/api/v1/consents/{consent_id}", client=address)
        for consent_id, address in zip(consent_ids, NEIGHBOURS, strict=True)
    ]

    assert [a.status for a in answers] == [204] * ERASURES + [429] * 3, server.output()
    for answer in answers[ERASURES:]:
        assert answer.body["code"] == "throttled"
        assert int(answer.headers["retry-after"]) > 0
    erased, kept = consent_ids[:ERASURES], consent_ids[ERASURES:]
    assert not ConsentRecord.objects.filter(consent_id__in=erased).exists()
    assert ConsentRecord.objects.filter(consent_id__in=kept).count() == 3

    # Reading stays open to the same network; another network may still erase.
    assert (
        call(server.port, "GET", f"/api/v1/consents/{kept[0]}", client=NEIGHBOURS[0]).status == 200
    )
    assert (
        call(server.port, "DELETE", f"/api/v1/consents/{kept[0]}", client="198.51.100.7").status
        == 204
    )

    events = list(AuditEvent.objects.filter(action="erase").order_by("id"))
    assert [(e.actor, e.data["requester"]) for e in events] == [
        ("visitor from 203.0.113.0/24", {"via": "api", "ip_prefix": "203.0.113.0/24"})
    ] * ERASURES + [
        ("visitor from 198.51.100.0/24", {"via": "api", "ip_prefix": "198.51.100.0/24"})
    ]
    # Nothing more personal than the prefix: no address, no consent id.
    written = json.dumps([[e.actor, e.object_repr, e.object_id, e.data] for e in events])
    for address in [*NEIGHBOURS, "198.51.100.7"]:
        assert address not in written
    for consent_id in consent_ids:
        assert str(consent_id) not in written


@pytest.mark.django_db
def test_an_unknown_consent_id_counts_against_the_erasure_limit(client, site, monkeypatch):
    """Trying ids costs as much as erasing them."""
    from consent.api.throttles import ErasureThrottle

    monkeypatch.setattr(ErasureThrottle, "THROTTLE_RATES", {"erasure": "2/min"})
    codes = [client.delete(f"/api/v1/consents/{uuid.uuid4()}").status_code for _ in range(3)]
    assert codes == [404, 404, 429]
    assert client.get(f"/api/v1/consents/{uuid.uuid4()}").status_code == 404


@pytest.mark.django_db
def test_the_staff_erasure_names_the_staff_user(site):
    """What the admin action (consent.admin) calls: the event names the user."""
    consent_id = decide()
    assert records.erase(consent_id, actor="privacy-officer") == 1
    event = AuditEvent.objects.get(action="erase")
    assert event.actor == "privacy-officer"
    assert "requester" not in event.data


def test_an_erasure_across_sites_leaves_an_event_on_each_site(site):
    """Red-team finding: one event under an arbitrary site hid the erasure from the
    other site's staff, who see their own sites' events only."""
    other = Site.objects.create(
        name="Other shop", key="other-shop", allowed_origins="https://other.example"
    )
    other.policy_versions.create(summary="v1")
    visitor = decide()
    for _ in range(2):
        records.record_consent(
            get_bundle("other-shop"),
            categories={"functional": False, "advertising": False},
            policy_version=1,
            method="reject_all",
            signals=Signals(),
            consent_id=visitor,
        )

    assert records.erase(visitor, actor="privacy") == 3

    events = AuditEvent.objects.filter(action="erase").order_by("site_key")
    assert [(e.site_key, e.data["count"]) for e in events] == [("demo", 1), ("other-shop", 2)]
    assert not ConsentRecord.objects.filter(consent_id=visitor).exists()
