"""Signed tree heads: the exact bytes signed, Ed25519 signatures, keys from files and the
environment. Pure: no database."""

import base64
import dataclasses
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from consent.transparency import heads
from consent.transparency.heads import SignedTreeHead, SigningKeyError, TreeHead

# RFC 8032 section 7.1, TEST 1: an Ed25519 private key, its public key, and the signature
# of the empty message.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555f"
    "b8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
ORIGIN = "consent.example.com/log"
ROOT = bytes.fromhex("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c")


@pytest.fixture
def key():
    return heads.parse_private_key(base64.b64encode(RFC8032_SECRET))


@pytest.fixture
def signed(key) -> SignedTreeHead:
    return heads.sign(TreeHead(7, ROOT, 1767225600000), ORIGIN, key)


def test_the_signed_note_is_exactly_the_documented_format():
    note = TreeHead(7, ROOT, 1767225600000).note(ORIGIN)
    assert note == (
        b"consent-log/v1\n"
        b"consent.example.com/log\n"
        b"7\n"
        b"3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=\n"
        b"1767225600000\n"
    )


def test_a_raw_base64_key_is_the_rfc8032_private_key(key):
    assert heads.public_key_raw(key.public_key()) == RFC8032_PUBLIC
    assert key.sign(b"") == RFC8032_SIGNATURE


def test_the_signature_is_ed25519_over_the_note(key, signed):
    key.public_key().verify(signed.signature, TreeHead(7, ROOT, 1767225600000).note(ORIGIN))
    assert signed.key_id == hashlib.sha256(RFC8032_PUBLIC).hexdigest()[:16]
    assert heads.verify(signed, ORIGIN, key.public_key())


def test_another_key_does_not_verify(signed):
    other = heads.generate_private_key().public_key()
    assert not heads.verify(signed, ORIGIN, other)
    # Even when the head claims the other key's id.
    claimed = dataclasses.replace(signed, key_id=heads.key_id(other))
    assert not heads.verify(claimed, ORIGIN, other)


def test_a_head_signed_by_another_key_does_not_verify_with_ours(key, signed):
    forged = heads.sign(TreeHead(7, ROOT, 1767225600000), ORIGIN, heads.generate_private_key())
    assert not heads.verify(forged, ORIGIN, key.public_key())


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": 8},
        {"tree_size": 6},
        {"root_hash": bytes(32)},
        {"timestamp": 1767225600001},
        {"key_id": "0000000000000000"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_any_altered_field_fails(key, signed, change):
    assert not heads.verify(dataclasses.replace(signed, **change), ORIGIN, key.public_key())


def test_an_altered_signature_fails(key, signed):
    flipped = bytes([signed.signature[0] ^ 1]) + signed.signature[1:]
    assert not heads.verify(
        dataclasses.replace(signed, signature=flipped), ORIGIN, key.public_key()
    )


def test_a_head_of_another_log_fails(key, signed):
    assert not heads.verify(signed, "other.example.com/log", key.public_key())


@pytest.mark.parametrize("origin", ["", "a b", "log\n7", "caf\u00e9", "x" * 256])
def test_an_origin_that_could_bend_the_note_is_refused(key, origin):
    with pytest.raises(ValueError):
        heads.sign(TreeHead(1, ROOT, 0), origin, key)


@pytest.mark.parametrize(
    ("size", "root", "timestamp"), [(-1, ROOT, 0), (1, ROOT[:31], 0), (1, ROOT, -5)]
)
def test_an_impossible_head_cannot_be_made(size, root, timestamp):
    with pytest.raises(ValueError):
        TreeHead(size, root, timestamp)


def test_json_round_trip(signed):
    data = signed.as_json()
    assert data == {
        "tree_size": 7,
        "root_hash": "3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=",
        "timestamp": 1767225600000,
        "signature": base64.b64encode(signed.signature).decode(),
        "key_id": signed.key_id,
    }
    assert SignedTreeHead.from_json(data) == signed


MISSING = object()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tree_size", "7"),
        ("tree_size", True),
        ("timestamp", 1.5),
        ("root_hash", "not base64!"),
        ("root_hash", "AAAA"),
        ("signature", "AAAA"),
        ("key_id", MISSING),
    ],
)
def test_malformed_json_heads_are_refused(signed, field, value):
    data = signed.as_json()
    if value is MISSING:
        del data[field]
    else:
        data[field] = value
    with pytest.raises(ValueError):
        SignedTreeHead.from_json(data)


def test_a_pem_key_round_trips(key):
    pem = heads.private_key_pem(key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert heads.public_key_raw(heads.parse_private_key(pem).public_key()) == RFC8032_PUBLIC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a key",
        base64.b64encode(RFC8032_SECRET[:31]).decode(),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ],
)
def test_what_is_not_a_key_is_refused(text):
    with pytest.raises(SigningKeyError):
        heads.parse_private_key(text)


def test_a_key_of_another_kind_is_refused():
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(SigningKeyError, match="not an Ed25519 key"):
        heads.parse_private_key(pem)


def test_the_environment_wins_over_the_file(tmp_path, monkeypatch, key):
    path = tmp_path / "log.pem"
    path.write_bytes(heads.private_key_pem(heads.generate_private_key()))
    monkeypatch.setenv("CONSENT_LOG_KEY", base64.b64encode(RFC8032_SECRET).decode())
    loaded = heads.load_private_key(path=path, env_var="CONSENT_LOG_KEY")
    assert heads.public_key_raw(loaded.public_key()) == RFC8032_PUBLIC


def test_the_file_is_read_when_the_variable_is_unset_or_empty(tmp_path, monkeypatch, key):
    path = tmp_path / "log.pem"
    path.write_bytes(heads.private_key_pem(key))
    monkeypatch.setenv("CONSENT_LOG_KEY", "")
    loaded = heads.load_private_key(path=path, env_var="CONSENT_LOG_KEY")
    assert heads.public_key_raw(loaded.public_key()) == RFC8032_PUBLIC
    monkeypatch.delenv("CONSENT_LOG_KEY")
    loaded = heads.load_private_key(path=str(path), env_var="CONSENT_LOG_KEY")
    assert heads.public_key_raw(loaded.public_key()) == RFC8032_PUBLIC


def test_no_key_configured_is_an_error_that_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("CONSENT_LOG_KEY", raising=False)
    with pytest.raises(SigningKeyError, match="CONSENT_LOG_KEY"):
        heads.load_private_key(env_var="CONSENT_LOG_KEY")
    with pytest.raises(SigningKeyError, match="cannot read"):
        heads.load_private_key(path=tmp_path / "absent.pem", env_var="CONSENT_LOG_KEY")


def test_the_published_key_document(key):
    document = heads.key_document(key.public_key(), ORIGIN)
    assert document == {
        "format": "consent-log/v1",
        "origin": ORIGIN,
        "algorithm": "Ed25519",
        "public_key": base64.b64encode(RFC8032_PUBLIC).decode(),
        "key_id": hashlib.sha256(RFC8032_PUBLIC).hexdigest()[:16],
    }
    published = heads.public_key_from_base64(document["public_key"])
    assert heads.public_key_raw(published) == RFC8032_PUBLIC
