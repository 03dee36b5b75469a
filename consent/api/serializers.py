"""Validation of what browsers send, and the receipts they get back.

Everything a visitor can send is checked here, by DRF's fields and the ``validate_*``
methods: one definition, which also makes the OpenAPI schema.
"""

import re
from typing import ClassVar

from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.settings import api_settings
from rest_framework.utils.serializer_helpers import BindingDict

from ..models import REQUIRED, ConsentRecord, Method

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


class ReceiptSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    """What a visitor gets back: proof of what was recorded."""

    record_id = serializers.IntegerField(source="id")
    site = serializers.CharField(source="site.key")

    class Meta:
        model = ConsentRecord
        fields = [
            "consent_id",
            "record_id",
            "site",
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
        ]


class HistorySerializer(serializers.Serializer):
    consent_id = StrictUUIDField()
    current = ReceiptSerializer()
    outdated = serializers.BooleanField(help_text="The current policy version is newer.")
    history = ReceiptSerializer(many=True)


class GpcSerializer(serializers.Serializer):
    gpc = serializers.BooleanField()
    lastUpdate = serializers.DateField()


class ErrorSerializer(serializers.Serializer):
    """Every error but invalid input: what went wrong, in words and as a stable code."""

    detail = serializers.CharField()
    code = serializers.CharField()
