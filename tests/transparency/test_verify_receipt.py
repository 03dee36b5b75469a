"""tools/verify_receipt.py, run as an auditor runs it: a separate process, on a receipt built
with the log's own modules. Every tampering makes it fail; an honest receipt passes."""

import ast
import base64
import copy
import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from consent.transparency import heads, merkle
from consent.transparency.heads import TreeHead
from consent.transparency.tiles import append_tiles, tile_hash_reader

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "verify_receipt.py"
ORIGIN = "consent.example.com/log"
CONSENT_ID = "7d444840-9dc0-41c2-9cb5-1e2b7d9a8f00"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def canonical(value: dict) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record(record_id: int, categories: dict) -> dict:
    return {
        "consent_id": CONSENT_ID,
        "record_id": record_id,
        "site": "demo",
        "site_id": 1,
        "created_at": f"2026-01-01T12:00:{record_id:02d}.000000Z",
        "expires_at": "2026-07-01T12:00:00Z",
        "categories": categories,
        "policy_version": 2,
        "texts_hash": "9f2c",
        "method": "custom",
        "gpc": False,
        "dnt": False,
        "language": "de",
        "page_url": "https://shop.example/",
    }


@pytest.fixture(scope="module")
def signing_key():
    return heads.generate_private_key()


@pytest.fixture(scope="module")
def receipt(signing_key) -> dict:
    """Three decisions of one visitor, logged among other sites' records and audit events."""
    shown = [
        record(11, {"necessary": True, "analytics": False}),
        record(12, {"necessary": True, "analytics": True}),
        record(13, {"necessary": True, "analytics": False}),
    ]
    inputs, where = [], {}
    for i in range(300):
        if i in (3, 150, 299):
            row = shown[len(where)]
            where[row["record_id"]] = len(inputs)
            inputs.append(canonical({"kind": "consent", "salt": b64(os.urandom(16)), **row}))
        else:
            inputs.append(canonical({"kind": "audit", "salt": b64(os.urandom(16)), "n": i}))
    leaves = [merkle.leaf_hash(data) for data in inputs]
    appended = append_tiles(0, leaves, lambda keys: {})
    read = tile_hash_reader(lambda keys: {k: appended.tiles[k] for k in keys})
    head = heads.sign(TreeHead(len(leaves), appended.root_hash, 1767225600000), ORIGIN, signing_key)
    history = []
    for row in reversed(shown):
        index = where[row["record_id"]]
        proof = {
            "leaf_index": index,
            "leaf_input": b64(inputs[index]),
            "leaf_hash": b64(leaves[index]),
            "audit_path": [b64(h) for h in merkle.inclusion_proof(index, len(leaves), read)],
            "head": head.as_json(),
        }
        history.append({**row, "proof": proof})
    return {"consent_id": CONSENT_ID, "current": history[0], "outdated": False, "history": history}


@pytest.fixture(scope="module")
def key_document(signing_key) -> dict:
    return heads.key_document(signing_key.public_key(), ORIGIN)


def verify(tmp_path, receipt: dict, key_document: dict | str) -> tuple[int, str]:
    receipt_file, key_file = tmp_path / "receipt.json", tmp_path / "key.json"
    receipt_file.write_text(json.dumps(receipt))
    key_file.write_text(key_document if isinstance(key_document, str) else json.dumps(key_document))
    return run(str(receipt_file), str(key_file), cwd=tmp_path)


def run(*args: str, cwd: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, env=env
    )
    return done.returncode, done.stdout + done.stderr


def test_an_honest_receipt_verifies(tmp_path, receipt, key_document):
    code, out = verify(tmp_path, receipt, key_document)
    assert code == 0, out
    assert out.count("OK   record") == 3
    assert "OK   record 12: leaf 150 of 300, signed 2026-01-01T00:00:00Z" in out


def test_the_answer_to_a_post_verifies_alone(tmp_path, receipt, key_document):
    code, out = verify(tmp_path, receipt["current"], key_document)
    assert code == 0, out
    assert "OK   record 13: leaf 299 of 300" in out


def test_receipt_and_key_can_be_urls(tmp_path, receipt, key_document):
    (tmp_path / "receipt.json").write_text(json.dumps(receipt))
    (tmp_path / "key").write_text(json.dumps(key_document))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        code, out = run(f"{base}/receipt.json", f"{base}/key", cwd=tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0, out
    assert out.count("OK   record") == 3


def tampered(receipt: dict, change) -> dict:
    forged = copy.deepcopy(receipt)
    change(forged["history"][1])
    return forged


def edit_leaf_input(row: dict, consistently: bool) -> None:
    """Make the logged decision say analytics=False; consistently: in the receipt's record
    and leaf hash too, as a forger rewriting the whole receipt would."""
    proof = row["proof"]
    logged = json.loads(base64.b64decode(proof["leaf_input"]))
    logged["categories"]["analytics"] = False
    proof["leaf_input"] = b64(canonical(logged))
    if consistently:
        proof["leaf_hash"] = b64(merkle.leaf_hash(canonical(logged)))
        row["categories"]["analytics"] = False


def flip(value: str) -> str:
    data = bytearray(base64.b64decode(value))
    data[0] ^= 1
    return b64(bytes(data))


TAMPERINGS = {
    "leaf input changed": (
        lambda r: edit_leaf_input(r, consistently=False),
        "the leaf input does not hash to the leaf hash",
    ),
    "leaf input, leaf hash and record changed": (
        lambda r: edit_leaf_input(r, consistently=True),
        "the audit path does not lead to the signed root",
    ),
    "receipt shows another decision than the log": (
        lambda r: r["categories"].update(analytics=False),
        "the log holds other values for categories",
    ),
    "audit path altered": (
        lambda r: r["proof"]["audit_path"].__setitem__(2, flip(r["proof"]["audit_path"][2])),
        "the audit path does not lead to the signed root",
    ),
    "audit path cut short": (
        lambda r: r["proof"]["audit_path"].pop(),
        "the audit path does not lead to the signed root",
    ),
    "leaf index moved": (
        lambda r: r["proof"].update(leaf_index=151),
        "the audit path does not lead to the signed root",
    ),
    "root altered": (
        lambda r: r["proof"]["head"].update(root_hash=flip(r["proof"]["head"]["root_hash"])),
        "the head's signature is not the log key's",
    ),
    "tree size altered": (
        lambda r: r["proof"]["head"].update(tree_size=301),
        "the head's signature is not the log key's",
    ),
    "timestamp altered": (
        lambda r: r["proof"]["head"].update(timestamp=1767225600001),
        "the head's signature is not the log key's",
    ),
    "signature altered": (
        lambda r: r["proof"]["head"].update(signature=flip(r["proof"]["head"]["signature"])),
        "the head's signature is not the log key's",
    ),
    "not sealed yet": (
        lambda r: r.update(proof=None),
        "not in a signed head yet",
    ),
    "proof malformed": (
        lambda r: r["proof"].update(audit_path="AAAA"),
        "malformed proof",
    ),
}


@pytest.mark.parametrize("name", TAMPERINGS)
def test_each_tampering_fails(tmp_path, receipt, key_document, name):
    change, reason = TAMPERINGS[name]
    code, out = verify(tmp_path, tampered(receipt, change), key_document)
    assert code == 1, out
    assert f"FAIL record 12: {reason}" in out
    assert out.count("OK   record") == 2  # the other two records still verify


def test_the_last_leaf_claimed_at_an_index_that_hashes_to_the_same_root_fails(
    tmp_path, receipt, key_document
):
    # Leaf 299 of 300 has only left siblings; walked from index 287 the same path hashes
    # to the same root, but ends before the top of the tree (RFC 9162's final sn == 0).
    forged = copy.deepcopy(receipt)
    forged["history"][0]["proof"]["leaf_index"] = 287
    code, out = verify(tmp_path, forged, key_document)
    assert code == 1
    assert "FAIL record 13: the audit path does not lead to the signed root" in out


def test_another_records_proof_does_not_vouch_for_this_one(tmp_path, receipt, key_document):
    forged = copy.deepcopy(receipt)
    forged["history"][1]["proof"] = forged["history"][0]["proof"]
    code, out = verify(tmp_path, forged, key_document)
    assert code == 1
    assert "FAIL record 12: the log holds other values for categories, created_at, record_id" in out


def test_a_log_rewritten_and_signed_by_another_key_fails(tmp_path, receipt, key_document):
    impostor = heads.generate_private_key()
    forged = copy.deepcopy(receipt)
    for row in forged["history"]:
        head = heads.SignedTreeHead.from_json(row["proof"]["head"])
        row["proof"]["head"] = heads.sign(head, ORIGIN, impostor).as_json()
    code, out = verify(tmp_path, forged, key_document)
    assert code == 1
    assert out.count("FAIL record") == 3
    assert f"not by the log's key {key_document['key_id']}" in out


def test_a_head_claiming_our_key_id_but_signed_by_another_fails(tmp_path, receipt, key_document):
    impostor = heads.generate_private_key()
    forged = copy.deepcopy(receipt)
    head = heads.SignedTreeHead.from_json(forged["history"][1]["proof"]["head"])
    forged_head = heads.sign(head, ORIGIN, impostor).as_json() | {"key_id": head.key_id}
    forged["history"][1]["proof"]["head"] = forged_head
    code, out = verify(tmp_path, forged, key_document)
    assert code == 1
    assert "FAIL record 12: the head's signature is not the log key's" in out


def test_a_head_signed_for_another_log_fails(tmp_path, receipt, key_document):
    code, out = verify(tmp_path, receipt, key_document | {"origin": "other.example.com/log"})
    assert code == 1
    assert out.count("FAIL record") == 3


def test_a_leaf_hash_alone_proves_nothing_about_the_record(tmp_path, receipt, key_document):
    """A public proof of some leaf, put under a record that shows another decision: without
    the logged bytes nothing ties the two together."""
    code, out = verify(
        tmp_path, tampered(receipt, lambda r: r["proof"].pop("leaf_input")), key_document
    )
    assert code == 1, out
    assert "no leaf_input" in out


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda r: r.pop("consent_id"), "another visitor's"),
        (
            lambda r: r.update(consent_id="00000000-0000-4000-8000-000000000000"),
            "another visitor's",
        ),
        (lambda r: r.pop("record_id"), "leaves out record_id"),
        (lambda r: r.update(site_id=2), "other values for site_id"),
        (lambda r: r.update(gpc=0), "other values for gpc"),
        (lambda r: r.update(policy_version=2.0), "other values for policy_version"),
        (
            lambda r: r.update(categories={"necessary": 1, "analytics": True}),
            "other values for categories",
        ),
    ],
    ids=[
        "no consent id",
        "other consent id",
        "no record id",
        "other site",
        "0 for false",
        "2.0 for 2",
        "1 for true",
    ],
)
def test_a_record_that_is_not_the_logged_one_fails(tmp_path, receipt, key_document, change, reason):
    code, out = verify(tmp_path, tampered(receipt, change), key_document)
    assert code == 1, out
    assert reason in out


def test_an_audit_events_leaf_does_not_vouch_for_a_record(tmp_path, receipt, key_document):
    def swap(r):
        logged = json.loads(base64.b64decode(r["proof"]["leaf_input"]))
        event = {"kind": "audit", "salt": logged["salt"], "created_at": r["created_at"]}
        r["proof"]["leaf_input"] = b64(canonical(event))
        r["proof"].pop("leaf_hash")

    code, out = verify(tmp_path, tampered(receipt, swap), key_document)
    assert code == 1 and "not a consent record" in out, out


def test_a_leaf_input_with_a_repeated_key_fails(tmp_path, receipt, key_document):
    def repeat(r):
        text = base64.b64decode(r["proof"]["leaf_input"]).decode()
        r["proof"]["leaf_input"] = b64(text.replace("{", '{"method":"x",', 1).encode())
        r["proof"].pop("leaf_hash")

    code, out = verify(tmp_path, tampered(receipt, repeat), key_document)
    assert code == 1 and "repeats a key" in out, out


def test_a_current_record_other_than_the_newest_fails(tmp_path, receipt, key_document):
    forged = copy.deepcopy(receipt)
    forged["current"] = {**forged["current"], "method": "accept_all", "proof": None}
    code, out = verify(tmp_path, forged, key_document)
    assert code == 1 and "FAIL current" in out, out


def test_an_unreadable_key_is_a_usage_error(tmp_path, receipt, key_document):
    assert verify(tmp_path, receipt, "not json")[0] == 2
    assert verify(tmp_path, receipt, key_document | {"algorithm": "RSA"})[0] == 2
    assert verify(tmp_path, receipt, key_document | {"public_key": "AAAA"})[0] == 2
    code, out = run(str(tmp_path / "absent.json"), str(tmp_path / "absent.json"), cwd=tmp_path)
    assert code == 2
    assert "cannot read the receipt or the key" in out


def test_a_receipt_without_records_fails(tmp_path, receipt, key_document):
    assert verify(tmp_path, receipt | {"history": []}, key_document)[0] == 1


def test_the_script_uses_nothing_but_the_standard_library_and_cryptography():
    tree = ast.parse(SCRIPT.read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    top = {name.split(".")[0] for name in imported}
    assert top - set(sys.stdlib_module_names) == {"cryptography"}


@pytest.mark.parametrize(
    ("field", "shown"),
    [("region", "DE"), ("privacy_model", "opt_out"), ("signal_conflict", True)],
)
def test_a_region_or_model_the_log_does_not_hold_is_refused(
    tmp_path, receipt, key_document, field, shown
):
    """The log holds these only when set (records made before them hold none): a receipt
    that shows one the leaf lacks is caught all the same."""
    forged = copy.deepcopy(receipt)
    forged["current"][field] = shown
    forged["history"][0][field] = shown
    code, out = verify(tmp_path, forged, key_document)
    assert code == 1
    assert f"the log holds other values for {field}" in out
