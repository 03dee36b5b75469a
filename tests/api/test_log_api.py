"""The transparency log's public endpoints: its key, its signed heads, and inclusion and
consistency proofs against them, checked here as an outside verifier checks them (RFC 9162
section 2.1's algorithms in consent.transparency.merkle, the key from CONSENT_LOG_KEY)."""

import base64
import itertools
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from django.urls import reverse

from consent.models import AuditEvent, ConsentRecord, TreeHead
from consent.transparency import heads, log, merkle

pytestmark = pytest.mark.django_db
VERIFIER = Path(__file__).resolve().parents[2] / "tools" / "verify_receipt.py"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


def decide(client, consent_id=None) -> dict:
    response = client.post(
        reverse("consent-create", args=["demo"]),
        json.dumps(
            {
                "consent_id": str(consent_id or uuid.uuid4()),
                "policy_version": 1,
                "method": "custom",
                "categories": {"functional": True, "advertising": False},
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 201
    return response.json()


@pytest.fixture
def public_key():
    """The key this run signs with, from the environment tests/harness.py sets: not from
    the platform, which is what is being checked."""
    return heads.parse_private_key(os.environ["CONSENT_LOG_KEY"]).public_key()


@pytest.fixture
def signed_log(client, site) -> list[TreeHead]:
    """Four signed heads over the demo's audit events and a handful of decisions each."""
    for count in (1, 2, 5, 9):
        for _ in range(count):
            decide(client)
        log.seal()
    return list(TreeHead.objects.order_by("tree_size"))


def leaf_hashes() -> dict[int, bytes]:
    """Every leaf of the log, recomputed from the rows (none is erased here)."""
    leaves = {}
    for kind, model in log.KINDS.items():
        for row in model.objects.exclude(leaf_index=None):
            leaves[row.leaf_index] = merkle.leaf_hash(log.leaf_input(kind, row))
    return leaves


# Every request from another network: the throttle is tested once, below; the other
# tests ask more than one network may in a minute, as a crowd of auditors would.
NETWORKS = (f"10.{n // 256 % 256}.{n % 256}.1" for n in itertools.count())


def get(client, name: str, **params):
    return client.get(reverse(name), params, REMOTE_ADDR=next(NETWORKS))


# --- The key ------------------------------------------------------------------------------


def test_the_key_document_is_the_signing_keys_public_half(client, public_key):
    response = get(client, "consent-log-key")
    assert response.status_code == 200
    raw = heads.public_key_raw(public_key)
    assert response.json() == {
        "format": "consent-log/v1",
        "origin": log.key_document()["origin"],
        "algorithm": "Ed25519",
        "public_key": b64(raw),
        "key_id": heads.key_id(public_key),
    }
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == "public, max-age=3600"


@pytest.fixture
def configure_public_key(settings):
    """Sets CONSENT_LOG_PUBLIC_KEY, which a process reads once (log.public_key)."""

    def configure(value: str) -> None:
        settings.CONSENT_LOG_PUBLIC_KEY = value
        log.public_key.cache_clear()

    yield configure
    log.public_key.cache_clear()


def test_a_web_server_without_the_private_key_serves_the_configured_public_one(
    client, configure_public_key
):
    other = heads.generate_private_key().public_key()
    configure_public_key(b64(heads.public_key_raw(other)))
    assert get(client, "consent-log-key").json()["key_id"] == heads.key_id(other)


@pytest.mark.parametrize("configured", ["AAAA", "not base64!"])
def test_a_misconfigured_key_is_unavailable_not_an_error(client, configure_public_key, configured):
    configure_public_key(configured)
    response = get(client, "consent-log-key")
    assert response.status_code == 503
    assert response.json()["code"] == "log_unavailable"
    assert response["Cache-Control"] == "no-store"


# --- Heads --------------------------------------------------------------------------------


def test_an_empty_log_has_no_head(client, site):
    response = get(client, "consent-log-heads")
    assert response.status_code == 200
    assert response.json() == {"latest": None, "heads": [], "next": None}


def test_it_lists_every_signed_head_newest_first_each_signed_by_the_key(
    client, signed_log, public_key
):
    response = get(client, "consent-log-heads")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    data = response.json()
    assert data["latest"] == log.signed(signed_log[-1]).as_json()
    assert [h["tree_size"] for h in data["heads"]] == [h.tree_size for h in reversed(signed_log)]
    origin = log.key_document()["origin"]
    for head in data["heads"]:
        assert set(head) == {"tree_size", "root_hash", "timestamp", "signature", "key_id"}
        assert heads.verify(heads.SignedTreeHead.from_json(head), origin, public_key)
    assert data["next"] is None


def test_heads_come_in_pages_linked_by_a_cursor(client, signed_log):
    sizes = [h.tree_size for h in reversed(signed_log)]
    first = get(client, "consent-log-heads", limit=3).json()
    assert [h["tree_size"] for h in first["heads"]] == sizes[:3]
    assert (
        first["next"]
        == f"http://testserver/.well-known/consent-log/heads?before={sizes[2]}&limit=3"
    )
    second = client.get(first["next"], REMOTE_ADDR=next(NETWORKS)).json()
    assert [h["tree_size"] for h in second["heads"]] == sizes[3:]
    assert second["next"] is None
    assert second["latest"] == first["latest"] == log.signed(signed_log[-1]).as_json()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"before": ""}, "before"),
        ({"before": "0"}, "before"),
        ({"before": "-5"}, "before"),
        ({"before": "1.0"}, "before"),
        ({"before": str(2**63)}, "before"),
    ],
)
def test_it_rejects_a_bad_page_parameter(client, site, params, field):
    response = get(client, "consent-log-heads", **params)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert response["Access-Control-Allow-Origin"] == "*"


# --- Inclusion proofs ---------------------------------------------------------------------


def test_every_leaf_is_proven_in_every_signed_head_that_holds_it(client, signed_log):
    leaves = leaf_hashes()
    for head in signed_log:
        for index in range(head.tree_size):
            response = get(
                client, "log-inclusion-proof", leaf_index=index, tree_size=head.tree_size
            )
            assert response.status_code == 200
            data = response.json()
            assert set(data) == {"leaf_index", "tree_size", "audit_path"}
            assert (data["leaf_index"], data["tree_size"]) == (index, head.tree_size)
            assert merkle.verify_inclusion(
                leaves[index],
                index,
                head.tree_size,
                unb64(data["audit_path"]),
                bytes(head.root_hash),
            ), (index, head.tree_size)


def test_a_proof_in_a_signed_head_is_cacheable_by_anyone(client, signed_log):
    response = get(client, "log-inclusion-proof", leaf_index=0, tree_size=signed_log[0].tree_size)
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["Access-Control-Allow-Origin"] == "*"


def test_a_proof_for_another_leaf_or_head_does_not_verify(client, signed_log):
    """The check the tests above rely on can fail."""
    leaves, head = leaf_hashes(), signed_log[-1]
    path = unb64(
        get(client, "log-inclusion-proof", leaf_index=3, tree_size=head.tree_size).json()[
            "audit_path"
        ]
    )
    root = bytes(head.root_hash)
    assert merkle.verify_inclusion(leaves[3], 3, head.tree_size, path, root)
    assert not merkle.verify_inclusion(leaves[4], 3, head.tree_size, path, root)
    assert not merkle.verify_inclusion(leaves[3], 4, head.tree_size, path, root)
    assert not merkle.verify_inclusion(
        leaves[3], 3, head.tree_size, path, bytes(signed_log[-2].root_hash)
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"tree_size": "5"}, "leaf_index"),
        ({"leaf_index": "0"}, "tree_size"),
        ({"leaf_index": "x", "tree_size": "5"}, "leaf_index"),
        ({"leaf_index": "-1", "tree_size": "5"}, "leaf_index"),
        ({"leaf_index": "1.0", "tree_size": "5"}, "leaf_index"),
        ({"leaf_index": " 1", "tree_size": "5"}, "leaf_index"),
        ({"leaf_index": "1e2", "tree_size": "500"}, "leaf_index"),
        ({"leaf_index": "٣", "tree_size": "5"}, "leaf_index"),  # an Arabic-Indic three
        ({"leaf_index": "0", "tree_size": "0"}, "tree_size"),
        ({"leaf_index": "0", "tree_size": str(2**63)}, "tree_size"),
        ({"leaf_index": "0", "tree_size": "9" * 400}, "tree_size"),
        ({"leaf_index": "5", "tree_size": "5"}, "leaf_index"),
        ({"leaf_index": "6", "tree_size": "5"}, "leaf_index"),
    ],
)
def test_it_rejects_a_bad_inclusion_parameter(client, signed_log, params, field):
    response = get(client, "log-inclusion-proof", **params)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert response["Cache-Control"] == "no-store"


def test_a_tree_size_that_is_no_signed_head_is_not_found(client, signed_log):
    sizes = {h.tree_size for h in signed_log}
    unsigned = next(n for n in range(2, 100) if n not in sizes)
    beyond = signed_log[-1].tree_size + 1
    for tree_size in (unsigned, beyond, 2**63 - 1):
        response = get(client, "log-inclusion-proof", leaf_index=0, tree_size=tree_size)
        assert response.status_code == 404, tree_size
        assert response.json()["code"] == "not_found"
        assert response["Cache-Control"] == "no-store"


# --- Consistency proofs -------------------------------------------------------------------


def test_every_signed_head_extends_every_earlier_one(client, signed_log):
    for old in signed_log:
        for new in signed_log:
            if old.tree_size > new.tree_size:
                continue
            response = get(
                client, "log-consistency-proof", first=old.tree_size, second=new.tree_size
            )
            assert response.status_code == 200
            data = response.json()
            assert set(data) == {"first", "second", "consistency_path"}
            assert (data["first"], data["second"]) == (old.tree_size, new.tree_size)
            assert merkle.verify_consistency(
                old.tree_size,
                new.tree_size,
                bytes(old.root_hash),
                bytes(new.root_hash),
                unb64(data["consistency_path"]),
            ), (old.tree_size, new.tree_size)
            assert response["Cache-Control"] == "public, max-age=31536000, immutable"


def test_a_consistency_proof_does_not_vouch_for_another_root(client, signed_log):
    old, new = signed_log[1], signed_log[-1]
    path = unb64(
        get(client, "log-consistency-proof", first=old.tree_size, second=new.tree_size).json()[
            "consistency_path"
        ]
    )
    assert path
    forged = bytes(signed_log[0].root_hash)
    assert not merkle.verify_consistency(
        old.tree_size, new.tree_size, forged, bytes(new.root_hash), path
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"second": "5"}, "first"),
        ({"first": "1"}, "second"),
        ({"first": "0", "second": "5"}, "first"),
        ({"first": "a", "second": "5"}, "first"),
        ({"first": "1", "second": "+5"}, "second"),
        ({"first": "1", "second": str(2**63)}, "second"),
        ({"first": "6", "second": "5"}, "first"),
    ],
)
def test_it_rejects_a_bad_consistency_parameter(client, signed_log, params, field):
    response = get(client, "log-consistency-proof", **params)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_consistency_between_sizes_that_are_no_signed_heads_is_not_found(client, signed_log):
    sizes = sorted(h.tree_size for h in signed_log)
    unsigned = next(n for n in range(1, 100) if n not in sizes)
    for first, second in ((unsigned, sizes[-1]), (sizes[0], sizes[-1] + 1)):
        response = get(client, "log-consistency-proof", first=first, second=second)
        assert response.status_code == 404, (first, second)


# --- Receipts -----------------------------------------------------------------------------


def test_a_receipt_verifies_with_the_standalone_script(client, signed_log, tmp_path):
    visitor = uuid.uuid4()
    decide(client, visitor)
    decide(client, visitor)
    log.seal()
    decide(client)  # the head in the receipt is the latest one, which holds more
    log.seal()
    receipt = client.get(reverse("consent-receipt", args=[visitor])).json()
    key = get(client, "consent-log-key").json()
    (tmp_path / "receipt.json").write_text(json.dumps(receipt))
    (tmp_path / "key.json").write_text(json.dumps(key))
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    done = subprocess.run(
        [sys.executable, str(VERIFIER), "receipt.json", "key.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("OK   record") == 2
    # Each record's proof is the one the inclusion endpoint gives for its leaf.
    for record in receipt["history"]:
        proof = record["proof"]
        answer = get(
            client,
            "log-inclusion-proof",
            leaf_index=proof["leaf_index"],
            tree_size=proof["head"]["tree_size"],
        ).json()
        assert answer["audit_path"] == proof["audit_path"]


def test_erased_records_have_no_receipt_and_their_leaves_stay_proven(client, signed_log):
    visitor = uuid.uuid4()
    record = decide(client, visitor)
    log.seal()
    leaf_index = ConsentRecord.objects.get(pk=record["record_id"]).leaf_index
    head = log.latest_head()
    assert client.delete(reverse("consent-receipt", args=[visitor])).status_code == 204
    log.seal()  # the erasure's audit event

    assert client.get(reverse("consent-receipt", args=[visitor])).status_code == 404
    erased = ConsentRecord.objects.get(pk=record["record_id"])
    assert erased.erased and erased.leaf_index == leaf_index
    assert AuditEvent.objects.filter(action="erase").exists()
    # The leaf is still in the tree: the head signed before the erasure still holds, and
    # the new one extends it.
    latest = log.latest_head()
    proof = get(client, "log-consistency-proof", first=head.tree_size, second=latest.tree_size)
    assert merkle.verify_consistency(
        head.tree_size,
        latest.tree_size,
        bytes(head.root_hash),
        bytes(latest.root_hash),
        unb64(proof.json()["consistency_path"]),
    )
    inclusion = get(client, "log-inclusion-proof", leaf_index=leaf_index, tree_size=head.tree_size)
    assert inclusion.status_code == 200


# --- Everything else ----------------------------------------------------------------------


def test_the_log_endpoints_are_throttled_per_client_network(client, site, settings):
    limit = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["log"].split("/")[0])
    for _ in range(limit):
        assert client.get(reverse("consent-log-key")).status_code == 200
    throttled = client.get(reverse("consent-log-heads"))
    assert throttled.status_code == 429
    assert "Retry-After" in throttled


def test_the_openapi_schema_documents_the_log_endpoints(client):
    schema = yaml.safe_load(client.get(reverse("api-schema")).content)
    paths = schema["paths"]
    parameters = {
        "/.well-known/consent-log/key": set(),
        "/.well-known/consent-log/heads": {"before", "limit"},
        "/api/v1/log/proof/inclusion": {"leaf_index", "tree_size"},
        "/api/v1/log/proof/consistency": {"first", "second"},
    }
    for path, names in parameters.items():
        get_ = paths[path]["get"]
        assert {p["name"] for p in get_.get("parameters", [])} == names, path
        assert "200" in get_["responses"], path
    receipt = schema["components"]["schemas"]["Receipt"]["properties"]
    assert "proof" in receipt
