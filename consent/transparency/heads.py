"""Signed tree heads: the log's size and root at a time, signed with Ed25519.

What is signed is this note, UTF-8, every line ending in a newline (0x0A), nothing else::

    consent-log/v1
    <origin>
    <tree size>
    <root hash>
    <timestamp>

- ``consent-log/v1`` names the format: a signature over it can be nothing but a head of
  this log format, version 1.
- ``<origin>`` names the log (for example ``consent.example.com/log``): 1 to 255 printable
  ASCII characters, no spaces.
- ``<tree size>`` is the number of leaves, in decimal without leading zeros.
- ``<root hash>`` is the RFC 9162 root of those leaves, in standard base64 with padding
  (RFC 4648 section 4), 44 characters.
- ``<timestamp>`` is when the head was made, in milliseconds since the Unix epoch, in
  decimal without leading zeros (RFC 9162's timestamp).

The layout follows C2SP's tlog-checkpoint (origin, size, root, one line each), with a format
line first and the time last. A key's id is the first 8 bytes of SHA-256 of its raw 32-byte
public key, in lower-case hex: it names the key in heads and URLs, it proves nothing.

The private key never enters the database: it is read from a file or an environment
variable, as a PKCS#8 PEM or as the raw 32-byte private key in base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .merkle import HASH_SIZE

FORMAT = "consent-log/v1"
SIGNATURE_SIZE = 64
_ORIGIN = re.compile(r"[\x21-\x7e]{1,255}")


class SigningKeyError(ValueError):
    """No signing key is configured, or what is configured is not an Ed25519 private key."""


@dataclass(frozen=True)
class TreeHead:
    tree_size: int
    root_hash: bytes
    timestamp: int  # milliseconds since the Unix epoch

    def __post_init__(self) -> None:
        if self.tree_size < 0 or self.timestamp < 0 or len(self.root_hash) != HASH_SIZE:
            raise ValueError("a tree head has a size >= 0, a 32-byte root and a time >= 0")

    def note(self, origin: str) -> bytes:
        """The exact bytes that are signed (see the module's docstring)."""
        if not _ORIGIN.fullmatch(origin):
            raise ValueError(f"a log origin is 1-255 printable ASCII characters: {origin!r}")
        root = base64.b64encode(self.root_hash).decode()
        return f"{FORMAT}\n{origin}\n{self.tree_size}\n{root}\n{self.timestamp}\n".encode()


@dataclass(frozen=True)
class SignedTreeHead(TreeHead):
    signature: bytes
    key_id: str

    def as_json(self) -> dict[str, Any]:
        """The head as published and as carried in every receipt's ``proof``."""
        return {
            "tree_size": self.tree_size,
            "root_hash": base64.b64encode(self.root_hash).decode(),
            "timestamp": self.timestamp,
            "signature": base64.b64encode(self.signature).decode(),
            "key_id": self.key_id,
        }

    @classmethod
    def from_json(cls, data: Any) -> SignedTreeHead:
        """Reads a head back from its JSON form; ValueError if it is not well formed."""
        try:
            size, timestamp = data["tree_size"], data["timestamp"]
            if not all(type(v) is int for v in (size, timestamp)):
                raise ValueError("tree_size and timestamp are integers")
            head = cls(
                tree_size=size,
                root_hash=_b64(data["root_hash"]),
                timestamp=timestamp,
                signature=_b64(data["signature"]),
                key_id=str(data["key_id"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a signed tree head: {exc}") from exc
        if len(head.signature) != SIGNATURE_SIZE:
            raise ValueError("an Ed25519 signature is 64 bytes")
        return head


def sign(head: TreeHead, origin: str, private_key: Ed25519PrivateKey) -> SignedTreeHead:
    return SignedTreeHead(
        tree_size=head.tree_size,
        root_hash=head.root_hash,
        timestamp=head.timestamp,
        signature=private_key.sign(head.note(origin)),
        key_id=key_id(private_key.public_key()),
    )


def verify(head: SignedTreeHead, origin: str, public_key: Ed25519PublicKey) -> bool:
    """Was ``head`` signed by this key for this log?"""
    if head.key_id != key_id(public_key):
        return False
    try:
        public_key.verify(head.signature, head.note(origin))
    except (InvalidSignature, ValueError):
        return False
    return True


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(private_key: Ed25519PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted: the file a key-generating command writes (mode 0600)."""
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def parse_private_key(data: bytes | str) -> Ed25519PrivateKey:
    """A private key from a PKCS#8 PEM or from the raw 32-byte key in base64."""
    raw = data.encode() if isinstance(data, str) else data
    raw = raw.strip()
    if raw.startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(raw, password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"unreadable PEM private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError("the PEM key is not an Ed25519 key")
        return key
    try:
        seed = base64.b64decode(raw, validate=True)
    except binascii.Error as exc:
        raise SigningKeyError("a signing key is a PEM or 32 bytes in base64") from exc
    if len(seed) != 32:
        raise SigningKeyError(f"an Ed25519 private key is 32 bytes, not {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def load_private_key(
    *, path: str | os.PathLike[str] | None = None, env_var: str | None = None
) -> Ed25519PrivateKey:
    """The signing key from the environment variable ``env_var`` when it is set and not
    empty, else from the file at ``path``."""
    if env_var and (value := os.environ.get(env_var, "").strip()):
        return parse_private_key(value)
    if path:
        try:
            return parse_private_key(Path(path).read_bytes())
        except OSError as exc:
            raise SigningKeyError(f"cannot read the signing key file {path}: {exc}") from exc
    raise SigningKeyError(f"no signing key: set {env_var or 'the key variable'} or a key file")


def public_key_raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_from_base64(value: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_b64(value))


def key_id(public_key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_key_raw(public_key)).digest()[:8].hex()


def key_document(public_key: Ed25519PublicKey, origin: str) -> dict[str, str]:
    """What ``/.well-known/consent-log/key`` serves."""
    return {
        "format": FORMAT,
        "origin": origin,
        "algorithm": "Ed25519",
        "public_key": base64.b64encode(public_key_raw(public_key)).decode(),
        "key_id": key_id(public_key),
    }


def _b64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("expected a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not base64: {value!r}") from exc
