"""What the API's endpoints read from query strings (DRF's fields, which also make the
OpenAPI schema), and the schema of what they answer: receipts with their proofs, and the
transparency log's public answers.

A decision (the consent POST's body) is checked by consent.api.consents alone.
"""

import re
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

from rest_framework import serializers
from rest_framework.fields import empty

from ..models import ConsentRecord, TreeHead
from ..transparency import log, merkle


class StrictUUIDField(serializers.UUIDField):
    """A UUID in its text form only; DRF would also read an integer as a UUID."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class SignedHeadSerializer(serializers.Serializer):
    """A signed tree head (consent/transparency/FORMAT.md)."""

    tree_size = serializers.IntegerField(help_text="Leaves in the tree")
    root_hash = serializers.CharField(help_text="RFC 9162 root of those leaves, base64")
    timestamp = serializers.IntegerField(help_text="Milliseconds since 1970-01-01T00:00:00Z")
    signature = serializers.CharField(help_text="Ed25519 over the consent-log/v1 note, base64")
    key_id = serializers.CharField(help_text="First 8 bytes of SHA-256(public key), hex")


class ProofSerializer(serializers.Serializer):
    """That a record is in the log the platform signed: its leaf, and the path from the
    leaf to a signed head's root."""

    leaf_index = serializers.IntegerField()
    leaf_input = serializers.CharField(help_text="The exact bytes logged (canonical JSON), base64")
    leaf_hash = serializers.CharField(help_text="SHA-256(0x00 || leaf input), base64")
    audit_path = serializers.ListField(
        child=serializers.CharField(), help_text="RFC 9162 PATH(leaf_index, D[tree_size]), base64"
    )
    head = SignedHeadSerializer()


class Proofs:
    """The proofs in one answer: the latest signed head read once, and the tiles of every
    proof read together. Nothing is read for a record that is not in the log yet."""

    def __init__(self) -> None:
        self.tiles = log.CachedTiles()
        self._head: TreeHead | None = None
        self._head_read = False

    @property
    def head(self) -> TreeHead | None:
        if not self._head_read:
            self._head, self._head_read = log.latest_head(), True
        return self._head

    def prefetch(self, records: Iterable[ConsentRecord]) -> None:
        """Reads the tiles of every record's proof in one query.

        A proof asks for all its tiles in one call, so a reader that only notes the keys
        it is asked for, and holds none, learns them at no cost (the proof then stops for
        want of hashes)."""
        leaves = [r.leaf_index for r in records if r.leaf_index is not None and not r.erased]
        head = self.head if leaves else None
        if head is None:
            return
        wanted: list[tuple[int, int]] = []

        def note(keys: Iterable[tuple[int, int]]) -> dict:
            wanted.extend(keys)
            return {}

        for leaf_index in leaves:
            if leaf_index < head.tree_size:
                with suppress(merkle.MissingHashes):
                    log.inclusion(leaf_index, head.tree_size, note)
        self.tiles(list(dict.fromkeys(wanted)))

    def of(self, record: ConsentRecord) -> dict[str, Any] | None:
        if record.leaf_index is None:  # not sealed yet: no query
            return None
        return log.record_proof(record, self.head, self.tiles)


class ReceiptSerializer(serializers.ModelSerializer):
    """What a visitor gets back: proof of what was recorded. Describes, for the schema,
    what ``records.receipt`` writes (tests/api/test_schema.py holds the two together)."""

    record_id = serializers.IntegerField(source="id")
    site = serializers.CharField(source="site.key")
    proof = ProofSerializer(
        read_only=True,
        allow_null=True,
        help_text="null until the sealer has put the record in a signed head (seconds)",
    )

    class Meta:
        model = ConsentRecord
        fields = [
            "consent_id",
            "record_id",
            "site",
            "site_id",
            "created_at",
            "expires_at",
            "categories",
            "policy_version",
            "texts_hash",
            "method",
            "gpc",
            "dnt",
            "language",
            "page_url",
            "region",
            "privacy_model",
            "signal_conflict",
            "proof",
        ]


class HistorySerializer(serializers.Serializer):
    consent_id = StrictUUIDField()
    current = ReceiptSerializer()
    outdated = serializers.BooleanField(help_text="The current policy version is newer.")
    history = ReceiptSerializer(many=True)


DIGITS = re.compile(r"[0-9]{1,19}")
# The largest value of the log's 64-bit columns: no larger number can name a leaf or a head.
MAX_INDEX = 2**63 - 1


class QueryIntegerField(serializers.IntegerField):
    """A whole number in a query string: decimal digits only (IntegerField would also take
    " 7", "7.0" or "-0"), no larger than the log's columns."""

    default_error_messages = {"invalid": "A whole number, in decimal digits, is required."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_value", MAX_INDEX)
        super().__init__(**kwargs)

    def get_value(self, dictionary: Any) -> Any:
        # DRF reads an empty form value of an optional field as absent ("?limit="); a
        # query parameter given empty is a malformed one.
        return dictionary.get(self.field_name, empty)

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, str) or not DIGITS.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class HeadsQuery(serializers.Serializer):
    before = QueryIntegerField(
        required=False, min_value=1, help_text="Only heads of fewer leaves (the next page)"
    )
    limit = QueryIntegerField(required=False, min_value=1, max_value=1000, default=100)


class InclusionQuery(serializers.Serializer):
    leaf_index = QueryIntegerField(min_value=0)
    tree_size = QueryIntegerField(min_value=1, help_text="A signed head's tree size")

    def validate(self, attrs: dict[str, int]) -> dict[str, int]:
        if attrs["leaf_index"] >= attrs["tree_size"]:
            raise serializers.ValidationError(
                {"leaf_index": "Must be smaller than tree_size (leaves are numbered from 0)."}
            )
        return attrs


class ConsistencyQuery(serializers.Serializer):
    first = QueryIntegerField(min_value=1, help_text="The older signed head's tree size")
    second = QueryIntegerField(min_value=1, help_text="The newer signed head's tree size")

    def validate(self, attrs: dict[str, int]) -> dict[str, int]:
        if attrs["first"] > attrs["second"]:
            raise serializers.ValidationError({"first": "Must not be larger than second."})
        return attrs


class LogKeySerializer(serializers.Serializer):
    format = serializers.CharField(help_text="consent-log/v1")
    origin = serializers.CharField(help_text="The log's name: the second line of every head")
    algorithm = serializers.CharField(help_text="Ed25519")
    public_key = serializers.CharField(help_text="The raw 32-byte public key, base64")
    key_id = serializers.CharField(help_text="First 8 bytes of SHA-256(public key), hex")


class HeadsPageSerializer(serializers.Serializer):
    latest = SignedHeadSerializer(allow_null=True, help_text="The newest signed head")
    heads = SignedHeadSerializer(many=True, help_text="Signed heads, newest first")
    next = serializers.URLField(allow_null=True, help_text="The next (older) page, if any")


class InclusionProofSerializer(serializers.Serializer):
    leaf_index = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    audit_path = serializers.ListField(child=serializers.CharField(), help_text="base64 hashes")


class ConsistencyProofSerializer(serializers.Serializer):
    first = serializers.IntegerField()
    second = serializers.IntegerField()
    consistency_path = serializers.ListField(
        child=serializers.CharField(), help_text="RFC 9162 PROOF(first, D[second]), base64"
    )


class AdpcRequestsSerializer(serializers.Serializer):
    """ADPC's consent requests document (https://www.dataprotectioncontrol.org/spec/)."""

    consentRequests = serializers.DictField(
        child=serializers.CharField(), help_text="Consent request id: its text"
    )


class GpcSerializer(serializers.Serializer):
    gpc = serializers.BooleanField()
    lastUpdate = serializers.DateField()


class ErrorSerializer(serializers.Serializer):
    """Every error but invalid input: what went wrong, in words and as a stable code."""

    detail = serializers.CharField()
    code = serializers.CharField()
