"""``POST /api/v1/sites/<site key>/consents``: one decision of one browser, recorded.

A plain Django view, reached through the URLconf (consent.urls names it
``consent-create`` and has it answered before the middleware stack, consent.api.fastpath).
Every decision of every visitor of every site comes here, so it is held to the cost of
one INSERT (DESIGN.md; README, "What the consent POST's machinery saves"):

- ``validate`` is the only rule set for a decision: each field's check (``FIELDS``) and
  the checks against the site. Its errors name each field at fault, as every other
  endpoint's invalid input does; the OpenAPI schema is made from ``FIELDS`` too
  (``add_to_schema``).
- Every other refusal is one of DRF's exceptions, worded by the API's exception handler,
  so a 404, 413 or 429 reads here as it does on every endpoint.
- The row is written by ``records.record_consent``; the answer is ``records.receipt``.
"""

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import Error as DatabaseFailure  # DatabaseError, InterfaceError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import (
    APIException,
    MethodNotAllowed,
    ParseError,
    Throttled,
    UnsupportedMediaType,
    ValidationError,
)
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.mediatypes import media_type_matches

from .. import records, regions
from ..bundles import SiteBundle
from ..models import REQUIRED, Method
from ..rules import Signals
from .converters import SiteKeyConverter
from .cors import add_cors_headers, origin_allowed
from .errors import ForbiddenOrigin, PayloadTooLarge, database_unavailable, exception_handler
from .serializers import Proofs
from .throttles import SiteClientThrottle, SiteThrottle, client_ip
from .views import INVALID, THROTTLED, UNAVAILABLE, site_bundle

ALLOWED = "POST, OPTIONS"
MAX_BODY = settings.CONSENT_MAX_BODY_BYTES
JSON = "application/json"
LANGUAGE_TAG = r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*"
LANGUAGE = re.compile(LANGUAGE_TAG)


class Invalid(Exception):
    """A field's value is refused: its message (or, for an object, its keys' messages)."""


# --- The rules --------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One field of a decision: its check (the value as stored, or Invalid) and its
    OpenAPI description."""

    check: Callable[[Any], Any]
    schema: dict[str, Any]
    required: bool = True
    default: Any = None


def _uuid(value: Any) -> uuid.UUID | None:
    if value is None:
        return None
    if type(value) is str:
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise Invalid("Must be a valid UUID.")


def _boolean(value: Any) -> bool:
    if value is True or value is False:
        return value
    raise Invalid("Must be true or false.")


def _categories(value: Any) -> dict[str, bool]:
    if type(value) is not dict:
        raise Invalid("Expected an object of category slug: true or false.")
    wrong = {slug: ["Must be true or false."] for slug, v in value.items() if type(v) is not bool}
    if wrong:
        raise Invalid(wrong)
    return value


def _policy_version(value: Any) -> int:
    if type(value) is not int:
        raise Invalid("A valid integer is required.")
    if value < 1:
        raise Invalid("Ensure this value is greater than or equal to 1.")
    return value


METHODS = {method.value: method for method in Method}


def _method(value: Any) -> Method:
    method = METHODS.get(value) if type(value) is str else None
    if method is None:
        raise Invalid(f"Not one of: {', '.join(METHODS)}.")
    return method


def _language(value: Any) -> str:
    if type(value) is not str:
        raise Invalid("Not a language tag (e.g. en, de-AT).")
    if value and (len(value) > 16 or not LANGUAGE.fullmatch(value)):
        raise Invalid("Not a language tag (e.g. en, de-AT).")
    return value


URL = URLValidator(schemes=["http", "https"])


def _encodable(text: str) -> bool:
    """No lone surrogate ("\\ud800" in JSON), which no database can store."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


MAX_URL = 2000


def _page_url(value: Any) -> str:
    if type(value) is not str:
        raise Invalid("Must be an http(s) URL.")
    if "\x00" in value or not _encodable(value):
        raise Invalid("Must be an http(s) URL.")
    if value:
        if len(value) > MAX_URL:
            raise Invalid(f"Ensure this field has no more than {MAX_URL} characters.")
        try:
            URL(value)
        except DjangoValidationError:
            raise Invalid("Must be an http(s) URL.") from None
    return value


UUID_SCHEMA = {"type": "string", "format": "uuid", "nullable": True}

# What the banner posts. The checks against the site (which categories, which policy
# versions) and between fields (a method's categories) are in ``validate``.
FIELDS: dict[str, Field] = {
    "consent_id": Field(
        _uuid,
        UUID_SCHEMA | {"description": "The browser's consent id; made when absent."},
        required=False,
    ),
    "decision_id": Field(
        _uuid,
        UUID_SCHEMA
        | {"description": "The browser's id for this decision; a resend of it is recorded once."},
        required=False,
    ),
    "resent": Field(
        _boolean,
        {
            "type": "boolean",
            "default": False,
            "description": "True when the banner sends this decision again (its answer was "
            "lost): the platform then looks for the record already made.",
        },
        required=False,
        default=False,
    ),
    "categories": Field(
        _categories,
        {
            "type": "object",
            "additionalProperties": {"type": "boolean"},
            "description": 'Every optional category: {"functional": true}',
        },
    ),
    "policy_version": Field(_policy_version, {"type": "integer", "minimum": 1}),
    "method": Field(_method, {"type": "string", "enum": list(METHODS)}),
    "language": Field(
        _language,
        {"type": "string", "maxLength": 16, "pattern": f"^{LANGUAGE_TAG}$"},
        required=False,
        default="",
    ),
    "page_url": Field(
        _page_url,
        {"type": "string", "format": "uri", "maxLength": MAX_URL},
        required=False,
        default="",
    ),
}


def validate(data: Any, bundle: SiteBundle) -> dict[str, Any]:
    """The decision ``data`` (parsed JSON) as ``records.record_consent`` takes it, or
    ValidationError naming each field at fault."""
    if type(data) is not dict:
        raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: ["Expected a JSON object."]})
    errors: dict[str, Any] = {name: ["Unknown field."] for name in data if name not in FIELDS}
    decision: dict[str, Any] = {}
    for name, field in FIELDS.items():
        if name not in data:
            if field.required:
                errors[name] = ["This field is required."]
            else:
                decision[name] = field.default
            continue
        try:
            decision[name] = field.check(data[name])
        except Invalid as exc:
            (message,) = exc.args
            errors[name] = message if isinstance(message, dict) else [message]
    if errors:
        raise ValidationError(errors)
    asked = decision["categories"]
    site_errors: dict[str, Any] = {}
    category_errors = _category_errors(asked, bundle)
    if category_errors:
        site_errors["categories"] = category_errors
    if decision["policy_version"] not in bundle.versions:
        site_errors["policy_version"] = ["Unknown policy version for this site."]
    if site_errors:
        raise ValidationError(site_errors)
    categories = decision["categories"] = {slug: asked[slug] for slug in bundle.optional_categories}
    choices = categories.values()
    method = decision["method"]
    if method == Method.ACCEPT_ALL and not all(choices):
        raise ValidationError({"method": ["accept_all needs every category true."]})
    if method.refuses_all and any(choices):
        raise ValidationError({"method": [f"{method} needs every category false."]})
    return decision


def _category_errors(asked: dict[str, bool], bundle: SiteBundle) -> dict[str, list[str]]:
    """What is wrong with ``asked`` for the site: each of its optional categories needs an
    answer, no other category may be named, and "required" only as true."""
    optional = bundle.optional_categories
    errors = {}
    if asked.get(REQUIRED, True) is not True:
        errors[REQUIRED] = ["Required cookies cannot be refused."]
    for slug in asked:
        if slug != REQUIRED and slug not in optional:
            errors[slug] = ["Unknown category."]
    for slug in optional:
        if slug not in asked:
            errors[slug] = ["Missing: every optional category needs an answer."]
    return errors


# --- The view ---------------------------------------------------------------------------


@csrf_exempt  # public and cookie-less (consent.urls has it answered before the middleware)
def record_consent(request: HttpRequest, site_key: str) -> HttpResponse:
    """Record one decision of one browser. Answers 201 only once the record is stored."""
    bundle = None
    try:
        # In this order: nothing about the site is looked up for a request that could
        # never be taken, and nothing is counted for one from a foreign origin.
        if request.method not in ("POST", "OPTIONS"):
            raise MethodNotAllowed(str(request.method))
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY:
            raise PayloadTooLarge()
        bundle = site_bundle(site_key)
        if not origin_allowed(request, bundle.origins):
            raise ForbiddenOrigin()
        if request.method == "OPTIONS":
            response = HttpResponse(status=204)
            del response["Content-Type"]
        else:
            response = _record(request, bundle)
    except APIException as exc:
        response = _refusal(exc)
    except DatabaseFailure:
        # Whatever the database says, the banner keeps the decision and sends it again.
        response = _answer(database_unavailable())
    response["Cache-Control"] = "no-store"
    response["Allow"] = ALLOWED
    return add_cors_headers(request, response, bundle.origins if bundle else (), ALLOWED)


def _record(request: HttpRequest, bundle: SiteBundle) -> HttpResponse:
    # In turn: the site's ceiling counts only decisions the client network's limit let
    # through, so one network's flood cannot use it up for every other visitor.
    for throttle in (SiteClientThrottle(), SiteThrottle()):
        if not throttle.allow_site(request, bundle.key):
            raise Throttled(throttle.wait())
    data = _parse(request)
    try:
        decision = validate(data, bundle)
    except ValidationError as exc:
        if not {"policy_version", "categories"} & set(exc.detail):
            raise
        # This process's copy of the site may be RECHECK_SECONDS old: a policy version or
        # category published since must not turn a valid decision away.
        bundle = site_bundle(bundle.key, fresh=True)
        decision = validate(data, bundle)
    record, created = records.record_consent(
        bundle,
        signals=Signals.from_meta(request.META),
        ip=client_ip(request),
        region=regions.from_meta(request.META),
        **decision,
    )
    if created:
        return _json(records.receipt(record, bundle.key), 201)
    # A resent decision gets the receipt of the record already made (found among the
    # site's records), with its proof once the sealer has logged it.
    return _json(records.receipt(record, bundle.key, Proofs().of(record)), 200)


def _parse(request: HttpRequest) -> Any:
    """The body as JSON (an empty body is an empty object)."""
    body = request.body
    if not body:
        return {}
    content_type = request.META.get("CONTENT_TYPE", "")
    if content_type != JSON and not media_type_matches(JSON, content_type):
        raise UnsupportedMediaType(content_type)
    try:
        # The Content-Type's charset when it names one Python knows (request.encoding);
        # else json detects UTF-8, -16 or -32.
        text = body.decode(request.encoding) if request.encoding else body
        return json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[..." too deep
        raise ParseError(f"JSON parse error - {exc}") from None


def _not_json(constant: str) -> None:
    # Python's json reads NaN and Infinity, which JSON does not have.
    raise ValueError(f"{constant} is not JSON")


def _json(data: Any, status: int, headers: Any = None) -> HttpResponse:
    # Non-ASCII as \u escapes: whatever a field name or category slug sent holds (a lone
    # surrogate, U+2028), the answer is valid JSON and valid UTF-8.
    content = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return HttpResponse(content, status=status, content_type=JSON, headers=headers)


def _refusal(exc: APIException) -> HttpResponse:
    """A refusal worded as every other endpoint words it (consent.api.errors)."""
    return _answer(exception_handler(exc, {}))


def _answer(drf_response: Response) -> HttpResponse:
    headers = {name: value for name, value in drf_response.items() if name != "Content-Type"}
    return _json(drf_response.data, drf_response.status_code, headers)


# --- The OpenAPI schema -----------------------------------------------------------------


def _error(description: str) -> dict[str, Any]:
    return {
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
        "description": description,
    }


def _receipt(description: str) -> dict[str, Any]:
    return {
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/Receipt"}}},
        "description": description,
    }


def add_to_schema(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular's postprocessing hook (SPECTACULAR_SETTINGS): the consent POST,
    a plain view that drf-spectacular does not see, with its body described by
    ``FIELDS``. (Its answers are components the other endpoints already use.)"""
    result["components"]["schemas"]["Decision"] = {
        "type": "object",
        "description": "A decision as the banner posts it.",
        "properties": {name: field.schema for name, field in FIELDS.items()},
        "required": [name for name, field in FIELDS.items() if field.required],
        "additionalProperties": False,
    }
    result["paths"]["/api/v1/sites/{site_key}/consents"] = {
        "post": {
            "operationId": "record_consent",
            "description": record_consent.__doc__,
            "tags": ["api"],
            "security": [{}],
            "parameters": [
                {
                    "in": "path",
                    "name": "site_key",
                    "schema": {"type": "string", "pattern": f"^{SiteKeyConverter.regex}$"},
                    "required": True,
                }
            ],
            "requestBody": {
                "content": {JSON: {"schema": {"$ref": "#/components/schemas/Decision"}}},
                "required": True,
            },
            "responses": {
                "201": _receipt("Recorded: the receipt"),
                "200": _receipt("A resent decision's receipt"),
                "400": {
                    "content": {JSON: {"schema": {"type": "object", "additionalProperties": {}}}},
                    "description": str(INVALID.description),
                },
                "403": _error("Origin not registered for the site"),
                "404": _error("Unknown site"),
                "405": _error("Only POST (and the CORS preflight)"),
                "413": _error("Body too large"),
                "415": _error("Not JSON"),
                "429": _error(str(THROTTLED.description)),
                "503": _error(str(UNAVAILABLE.description)),
            },
        }
    }
    return result
