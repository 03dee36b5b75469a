#!/usr/bin/env python3
"""Check that the decisions in a consent receipt are in the log the platform signed.

    python3 verify_receipt.py RECEIPT KEY

RECEIPT  a file, or the URL of the receipt: GET /api/v1/consents/<consent id>, or the
         answer of the POST that recorded the decision.
KEY      a file, or the URL, of the log's public key: /.well-known/consent-log/key.
         Fetch it once and keep it; a key fetched along with the receipt proves less.

For every record it checks, with Python 3.8+ and the `cryptography` package only:
  1. the logged leaf input hashes to the leaf, SHA-256(0x00 || input), is a consent record
     of this receipt's visitor, and holds the same values, as JSON, as the record the
     receipt shows (its decision, ids, site, times, policy and texts at the least);
  2. the audit path leads from that leaf, at its index, to the head's root (RFC 9162
     section 2.1.3.2);
  3. the head is signed by the key, over the consent-log/v1 note.
It prints OK or FAIL per record and exits 0 only if every record is OK (1 otherwise, 2
when the receipt or key cannot be read). Formats: consent/transparency/FORMAT.md.
"""

import base64
import hashlib
import json
import sys
import urllib.request
from datetime import datetime, timezone

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def load(source):
    if source.startswith(("https://", "http://")):
        with urllib.request.urlopen(source, timeout=30) as response:  # noqa: S310
            return json.load(response)
    with open(source, encoding="utf-8") as file:
        return json.load(file)


def b64(value, size=None):
    data = base64.b64decode(value, validate=True)
    if size is not None and len(data) != size:
        raise ValueError(f"{value!r} is not {size} bytes")
    return data


def sha256(data):
    return hashlib.sha256(data).digest()


def root_from_path(leaf, index, size, path):
    """RFC 9162 2.1.3.2: the root that the path leads to, or None if it cannot fit."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = sha256(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


# What a record's leaf must hold, each equal to what the receipt shows: the decision, who
# made it (the consent id), where and when. A receipt that leaves one out proves nothing.
BOUND = (
    "record_id",
    "consent_id",
    "site_id",
    "created_at",
    "expires_at",
    "categories",
    "policy_version",
    "texts_hash",
    "method",
    "gpc",
    "dnt",
)


# Logged only when they differ from these (records made before they existed hold none):
# the receipt must show the same, or these.
WHEN_SET = {"region": "", "privacy_model": "", "signal_conflict": False}


def canonical(value):
    """Values compared as JSON text: 0 is not false, 1.0 is not 1."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def no_duplicates(pairs):
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        raise ValueError("the leaf input repeats a key")
    return dict(pairs)


def check(record, key, key_id, origin, consent_id):
    """Why the record is not proven to be in the signed log, or None if it is."""
    proof = record.get("proof")
    if not proof:
        return "not in a signed head yet: ask again in a few seconds"
    if record.get("consent_id") != consent_id:
        return "the record is another visitor's"
    if "leaf_input" not in proof:
        return "the proof does not show what was logged (no leaf_input)"
    leaf_input = b64(proof["leaf_input"])
    leaf = sha256(b"\x00" + leaf_input)
    if "leaf_hash" in proof and b64(proof["leaf_hash"]) != leaf:
        return "the leaf input does not hash to the leaf hash"
    logged = json.loads(leaf_input, object_pairs_hook=no_duplicates)
    if not isinstance(logged, dict) or logged.get("kind") != "consent":
        return "the logged entry is not a consent record"
    if missing := [name for name in BOUND if name not in logged or name not in record]:
        return "the receipt or the log leaves out " + ", ".join(missing)
    if differ := [
        name
        for name in logged
        if name in record and canonical(logged[name]) != canonical(record[name])
    ] + [
        name
        for name, default in WHEN_SET.items()
        if canonical(logged.get(name, default)) != canonical(record.get(name, default))
    ]:
        return "the log holds other values for " + ", ".join(differ)
    head = proof["head"]
    if head["key_id"] != key_id:
        return f"the head is signed by key {head['key_id']}, not by the log's key {key_id}"
    size, timestamp, root = head["tree_size"], head["timestamp"], b64(head["root_hash"], 32)
    if type(size) is not int or type(timestamp) is not int:
        return "the head's tree_size and timestamp are not integers"
    note = f"consent-log/v1\n{origin}\n{size}\n{base64.b64encode(root).decode()}\n{timestamp}\n"
    try:
        key.verify(b64(head["signature"], 64), note.encode())
    except InvalidSignature:
        return "the head's signature is not the log key's"
    path = [b64(h, 32) for h in proof["audit_path"]]
    if root_from_path(leaf, proof["leaf_index"], size, path) != root:
        return f"the audit path does not lead to the signed root of {size} leaves"
    return None


def main(receipt_source, key_source):
    try:
        receipt, published = load(receipt_source), load(key_source)
        if (published["format"], published["algorithm"]) != ("consent-log/v1", "Ed25519"):
            raise ValueError("not a consent-log/v1 Ed25519 key")
        raw_key = b64(published["public_key"], 32)
        key, origin = Ed25519PublicKey.from_public_bytes(raw_key), published["origin"]
        records = receipt.get("history", [receipt])
        consent_id = receipt["consent_id"]
        current = receipt.get("current")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        print(f"cannot read the receipt or the key: {exc}", file=sys.stderr)
        return 2
    key_id = sha256(raw_key)[:8].hex()
    print(f"log {origin}, key {key_id}")
    failed = 0 if records else 1
    if records and "history" in receipt and current not in (None, records[0]):
        failed += 1
        print("FAIL current: it is not the newest record of the history, which is what is checked")
    for record in records:
        try:
            problem = check(record, key, key_id, origin, consent_id)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            problem = f"malformed proof ({exc!r})"
        name = record.get("record_id", "?") if isinstance(record, dict) else "?"
        if problem:
            failed += 1
            print(f"FAIL record {name}: {problem}")
        else:
            head = record["proof"]["head"]
            signed = datetime.fromtimestamp(head["timestamp"] // 1000, timezone.utc)  # noqa: UP017
            index, size = record["proof"]["leaf_index"], head["tree_size"]
            print(f"OK   record {name}: leaf {index} of {size}, signed {signed:%Y-%m-%dT%H:%M:%SZ}")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
