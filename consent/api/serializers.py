"""Validation of what browsers send, the receipts (with their proofs) they get back, and
the transparency log's public answers.

Everything a visitor or an auditor can send is checked here, by DRF's fields and the
``validate_*`` methods: one definition, which also makes the OpenAPI schema.
"""

import re
from collections.abc import Iterable
from contextlib import suppress
from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.settings import api_settings
from rest_framework.utils.serializer_helpers import BindingDict

from ..models import REQUIRED, ConsentRecord, Method, TreeHead
from ..transparency import log, merkle

LANGUAGE = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")


class FieldsBuiltOnce(serializers.Serializer):
    """Fields built once per process, not for every serializer.

    DRF gives every serializer instance its own deep copy of the declared fields, so that
    a view may change them per instance; building them took a large share of the consent
    POST's server CPU (README, "What the consent POST's machinery saves"). Nothing here
    changes a field per request and DRF's fields keep no request state, so one set,
    bound to a template instance, serves every request of the process."""

    _built: ClassVar[dict[type, BindingDict]] = {}

    @property
    def fields(self) -> BindingDict:
        cls = type(self)
        fields = FieldsBuiltOnce._built.get(cls)
        if fields is None:
            fields = FieldsBuiltOnce._built[cls] = super(FieldsBuiltOnce, cls()).fields
        return fields


class StrictBooleanField(serializers.BooleanField):
    """Only JSON true/false: "yes", 1 or "false" are type errors, not guesses."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if data is True or data is False:
            return data
        self.fail("invalid")


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUID in its text form only; DRF would also read an integer as a UUID."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class ConsentSerializer(FieldsBuiltOnce):
    """A decision as the banner posts it. Needs ``bundle`` (the SiteBundle) in context."""

    consent_id = StrictUUIDField(
        required=False, allow_null=True, help_text="The browser's consent id; made when absent."
    )
    decision_id = StrictUUIDField(
        required=False,
        allow_null=True,
        help_text="The browser's id for this decision; a resend of it is recorded once.",
    )
    resent = StrictBooleanField(
        required=False,
        default=False,
        help_text="True when the banner sends this decision again (its answer was lost): "
        "the platform then looks for the record already made.",
    )
    categories = serializers.DictField(
        child=StrictBooleanField(), help_text='Every optional category: {"functional": true}'
    )
    policy_version = StrictIntegerField(min_value=1)
    method = serializers.ChoiceField(choices=Method.choices)
    language = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")
    page_url = serializers.URLField(max_length=2000, required=False, allow_blank=True, default="")

    def run_validation(self, data=empty):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: ["Expected a JSON object."]}
            )
        return super().run_validation(data)

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)

    def validate_categories(self, value: dict) -> dict:
        bundle = self.context["bundle"]
        errors = {}
        if REQUIRED in value and value[REQUIRED] is not True:
            errors[REQUIRED] = "Required cookies cannot be refused."
        for slug in value:
            if slug != REQUIRED and slug not in bundle.optional_categories:
                errors[slug] = "Unknown category."
        for slug in bundle.optional_categories:
            if slug not in value:
                errors[slug] = "Missing: every optional category needs an answer."
        if errors:
            raise serializers.ValidationError(errors)
        return {slug: value[slug] for slug in bundle.optional_categories}

    def validate_policy_version(self, value: int) -> int:
        if value not in self.context["bundle"].versions:
            raise serializers.ValidationError("Unknown policy version for this site.")
        return value

    def validate_method(self, value: str) -> Method:
        return Method(value)

    def validate_language(self, value: str) -> str:
        if value and not LANGUAGE.match(value):
            raise serializers.ValidationError("Not a language tag (e.g. en, de-AT).")
        return value

    def validate_page_url(self, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise serializers.ValidationError("Must be an http(s) URL.")
        return value

    def validate(self, attrs):
        choices = attrs["categories"].values()
        method = attrs["method"]
        if method == Method.ACCEPT_ALL and not all(choices):
            raise serializers.ValidationError({"method": "accept_all needs every category true."})
        if method.refuses_all and any(choices):
            raise serializers.ValidationError({"method": f"{method} needs every category false."})
        return attrs


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


@extend_schema_field(ProofSerializer)
class ProofField(ProofSerializer):
    # A receipt's ``proof``: its value comes from ReceiptSerializer.to_representation,
    # which has the request's Proofs; a field is shared by every request (FieldsBuiltOnce).

    def get_attribute(self, instance: ConsentRecord) -> None:
        return None


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


class ReceiptSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    """What a visitor gets back: proof of what was recorded."""

    # ``proof`` reads the log through the context's ``proofs`` (one Proofs for every
    # record of an answer; made here when the context has none). A record not in the log
    # yet, as every new one is, costs nothing more.

    record_id = serializers.IntegerField(source="id")
    site = serializers.CharField(source="site.key")
    proof = ProofField(
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

    def to_representation(self, instance: ConsentRecord) -> dict[str, Any]:
        data = super().to_representation(instance)
        if instance.leaf_index is not None:
            proofs = self.context.get("proofs")
            if proofs is None:
                proofs = self.context["proofs"] = Proofs()
            data["proof"] = proofs.of(instance)
        return data


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
