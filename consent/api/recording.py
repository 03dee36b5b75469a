"""Recording a decision: ``POST /api/v1/sites/<site key>/consents``, answered without
DRF's dispatch.

Every decision of every visitor of every site comes here, so this endpoint must cost
little more than a bare JSON view (DESIGN.md: at least 0.5 x). DRF's request wrapping,
content negotiation and serializer machinery cost more than the INSERT did (about 0.3 ms
for ``ConsentSerializer`` alone), so the common case takes a shorter road:

- ``fast_accept`` takes only what the banner sends, after the same checks the serializer
  makes; anything else, every error included, goes to ``ConsentSerializer``, which stays
  the one definition of what is valid and of every message. tests/api/test_fast_accept.py
  holds the two together.
- DRF's own parts are reused where they decide something: ``JSONParser`` and its media
  type matching, the throttles, the exceptions and our exception handler, so every
  refusal reads exactly as the rest of the API's.
- The row goes to the group commit (consent.groupcommit): one INSERT per batch of
  concurrent decisions, answered after its COMMIT.

``FastPathMiddleware`` calls ``answer`` before the rest of the middleware stack, and
``ConsentCreateView`` (which carries the URL name and the OpenAPI description) hands its
requests to it too, so both roads answer alike.
"""

import io
import json
import re
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import Error as DBError
from django.http import HttpRequest, HttpResponse
from rest_framework.exceptions import (
    APIException,
    MethodNotAllowed,
    NotFound,
    ParseError,
    Throttled,
    UnsupportedMediaType,
    ValidationError,
)
from rest_framework.parsers import JSONParser
from rest_framework.utils.mediatypes import media_type_matches

from .. import records
from ..models import REQUIRED, Method
from ..policy import Signals
from ..siteconfig import SiteBundle, get_bundle
from .cors import add_cors_headers, origin_allowed
from .errors import ForbiddenOrigin, PayloadTooLarge, database_unavailable, exception_handler
from .serializers import LANGUAGE, ConsentSerializer
from .throttles import SiteClientThrottle, SiteThrottle, client_ip

ALLOWED = "POST, OPTIONS"
JSON = "application/json"
FIELDS = frozenset(
    {"consent_id", "decision_id", "categories", "policy_version", "method", "language", "page_url"}
)
METHODS = frozenset(Method.values)
ALL_FALSE = frozenset({Method.REJECT_ALL, Method.GPC, Method.DNT})
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
URL = URLValidator()
PARSER = JSONParser()


def fast_accept(data: dict, bundle: SiteBundle) -> dict | None:
    """The serializer's ``validated_data`` for a decision in the shape the banner sends
    it, or None: then the serializer decides (and words any error). Accepts nothing the
    serializer would refuse, and yields what it would."""
    if not FIELDS.issuperset(data):
        return None
    categories = data.get("categories")
    if type(categories) is not dict:
        return None
    optional = bundle.optional_categories
    if len(categories) != len(optional) + (REQUIRED in categories):
        return None
    if REQUIRED in categories and categories[REQUIRED] is not True:
        return None
    choices = {}
    for slug in optional:
        value = categories.get(slug)
        if value is not True and value is not False:
            return None
        choices[slug] = value
    version = data.get("policy_version")
    if type(version) is not int or version < 1 or version not in bundle.versions:
        return None
    method = data.get("method")
    if type(method) is not str or method not in METHODS:
        return None
    if method == Method.ACCEPT_ALL and not all(choices.values()):
        return None
    if method in ALL_FALSE and any(choices.values()):
        return None
    language = data.get("language", "")
    if type(language) is not str or (
        language and (len(language) > 16 or not LANGUAGE.fullmatch(language))
    ):
        return None
    page_url = data.get("page_url", "")
    if type(page_url) is not str or (page_url and not _plain_http_url(page_url)):
        return None
    accepted = {
        "categories": choices,
        "policy_version": version,
        "method": method,
        "language": language,
        "page_url": page_url,
    }
    for name in ("consent_id", "decision_id"):
        if name in data:
            value = data[name]
            if value is None:
                accepted[name] = None
            elif type(value) is str and UUID_TEXT.fullmatch(value):
                accepted[name] = uuid.UUID(value)
            else:
                return None
    return accepted


def _plain_http_url(url: str) -> bool:
    """What URLField and validate_page_url accept, narrowed to plain ASCII without
    surrounding blanks (DRF would trim those; the serializer handles them)."""
    if (
        len(url) > 2000
        or not url.isascii()
        or "\x00" in url
        or url != url.strip()
        or not url.startswith(("http://", "https://"))
    ):
        return False
    try:
        URL(url)
    except DjangoValidationError:
        return False
    return True


def validate(data: object, bundle: SiteBundle) -> dict:
    """The decision, validated; ValidationError as the serializer words it."""
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": ["Expected a JSON object."]})
    accepted = fast_accept(data, bundle)
    if accepted is not None:
        return accepted
    serializer = ConsentSerializer(data=data, context={"bundle": bundle})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _json(data: dict | None, status: int, headers: dict | None = None) -> HttpResponse:
    # As DRF's JSONRenderer writes it.
    content = (
        b""
        if data is None
        else json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    )
    response = HttpResponse(content, status=status, content_type=JSON, headers=headers)
    # Answered before CommonMiddleware, which would have said it.
    response["Content-Length"] = str(len(content))
    return response


def _refusal(exc: APIException) -> HttpResponse:
    """An APIException answered as every other endpoint answers it."""
    drf_response = exception_handler(exc, {})
    headers = {name: value for name, value in drf_response.items() if name != "Content-Type"}
    return _json(drf_response.data, drf_response.status_code, headers)


def answer(request: HttpRequest, site_key: str) -> HttpResponse:
    bundle = None
    try:
        if request.method not in ("POST", "OPTIONS"):
            raise MethodNotAllowed(request.method)
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > settings.CONSENT_MAX_BODY_BYTES:
            raise PayloadTooLarge()
        bundle = site_bundle(site_key)
        if not origin_allowed(request, bundle.origins):
            raise ForbiddenOrigin()
        if request.method == "OPTIONS":
            response = HttpResponse(status=204)
        else:
            response = _record(request, bundle)
    except APIException as exc:
        response = _refusal(exc)
        if isinstance(exc, MethodNotAllowed):
            response["Allow"] = ALLOWED
    except DBError:  # DatabaseError, and InterfaceError (a closed connection)
        response = _unavailable()
    response["Cache-Control"] = "no-store"
    return add_cors_headers(request, response, bundle.origins if bundle else (), ALLOWED)


def site_bundle(site_key: str, fresh: bool = False) -> SiteBundle:
    """The site's bundle, or NotFound (404)."""
    bundle = get_bundle(site_key, fresh=fresh)
    if bundle is None:
        raise NotFound("No site with this key.")
    return bundle


def _unavailable() -> HttpResponse:
    drf_response = database_unavailable()
    return _json(
        drf_response.data, drf_response.status_code, {"Retry-After": drf_response["Retry-After"]}
    )


def _record(request: HttpRequest, bundle: SiteBundle) -> HttpResponse:
    _throttle(request, bundle.key)
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
    record = records.record_consent(
        bundle,
        categories=decision["categories"],
        policy_version=decision["policy_version"],
        method=decision["method"],
        signals=Signals.from_meta(request.META),
        consent_id=decision.get("consent_id"),
        language=decision["language"],
        page_url=decision["page_url"],
        ip=client_ip(request),
        decision_id=decision.get("decision_id"),
    )
    # A resent decision gets the receipt of the record already made.
    return _json(records.receipt(record), 200 if record.replayed else 201)


def _throttle(request: HttpRequest, site_key: str) -> None:
    """Throttled (429) past the client network's limit for the site, or the site's own
    ceiling. The ceiling counts only decisions the network's limit let through: one
    network's flood must not use up the site's ceiling for every other visitor."""
    per_network = SiteClientThrottle()
    if not per_network.allow(request, site_key):
        raise Throttled(per_network.wait())
    per_site = SiteThrottle()
    if not per_site.allow(site_key):
        raise Throttled(per_site.wait())


def _parse(request: HttpRequest) -> object:
    """The body as DRF's JSONParser reads it (an empty body is an empty object)."""
    body = request.body
    if not body:
        return {}
    content_type = request.META.get("CONTENT_TYPE", "")
    if content_type != JSON and not media_type_matches(PARSER.media_type, content_type):
        raise UnsupportedMediaType(content_type)
    context = {"encoding": request.encoding or settings.DEFAULT_CHARSET}
    try:
        return PARSER.parse(io.BytesIO(body), content_type, context)
    except RecursionError:  # "[[[[..." nested deeper than Python's json will go
        raise ParseError("JSON parse error - nested too deeply.") from None
