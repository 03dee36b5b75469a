"""The public endpoints but the consent POST (consent.api.consents): the script, the
config, a visitor's receipt and its erasure, the GPC well-known resource, and the
transparency log's key, heads and proofs."""

import uuid
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import records, regions
from ..bundles import SiteBundle, get_bundle
from ..models import Category, ConsentRecord, Site, TreeHead
from ..transparency import log
from .cors import add_cors_headers
from .negotiation import AlwaysJSON
from .serializers import (
    AdpcRequestsSerializer,
    ConsistencyProofSerializer,
    ConsistencyQuery,
    ErrorSerializer,
    GpcSerializer,
    HeadsPageSerializer,
    HeadsQuery,
    HistorySerializer,
    InclusionProofSerializer,
    InclusionQuery,
    LogKeySerializer,
    Proofs,
)
from .throttles import (
    ErasureThrottle,
    LogThrottle,
    ReceiptThrottle,
    WindowThrottle,
    client_ip,
)


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


# What the schema documents for failures: invalid input names each field at fault with
# its messages ({"leaf_index": ["..."]}); any other error is an Error.
INVALID = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="Invalid input: each field at fault with its messages, or detail and code",
)
THROTTLED = error("Too many requests; Retry-After says when to try again")
UNAVAILABLE = error("The store is briefly unavailable; Retry-After says when to try again")
CONSENT_ID = OpenApiParameter(
    "consent_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The browser's consent id"
)


def site_bundle(site_key: str, fresh: bool = False) -> SiteBundle:
    """The site's bundle, or NotFound (404)."""
    bundle = get_bundle(site_key, fresh=fresh)
    if bundle is None:
        raise NotFound("No site with this key.")
    return bundle


def _cacheable(
    request: HttpRequest, body: bytes, etag: str, content_type: str, gzipped: bytes = b""
) -> HttpResponse:
    use_gzip = bool(gzipped) and "gzip" in request.headers.get("Accept-Encoding", "")
    if use_gzip:
        etag = etag[:-1] + '-gz"'  # another representation: another strong validator
    response: HttpResponse
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponseNotModified()
    else:
        content = gzipped if use_gzip else body
        response = HttpResponse(content, content_type=content_type)
        response["Content-Length"] = str(len(content))
        if use_gzip:
            response["Content-Encoding"] = "gzip"
    response["ETag"] = etag
    max_age = settings.CONSENT_SCRIPT_MAX_AGE
    response["Cache-Control"] = f"public, max-age={max_age}, stale-while-revalidate={max_age}"
    response["Access-Control-Allow-Origin"] = "*"
    patch_vary_headers(response, ["Accept-Encoding"])
    return response


def _site_script(site_key: str) -> SiteBundle | HttpResponse:
    """The site's bundle, or the script-shaped answer when there is none to serve."""
    try:
        bundle = get_bundle(site_key)
    except DatabaseError:
        return HttpResponse(
            "/* consent: briefly unavailable */",
            status=503,
            content_type="text/javascript",
            headers={"Retry-After": "5"},
        )
    if bundle is None:
        return HttpResponse(
            f"/* consent: no site {site_key!r} */".encode(),
            status=404,
            content_type="text/javascript",
        )
    return bundle


@require_GET
def script(request: HttpRequest, site_key: str) -> HttpResponse:
    """The one file a site embeds: the banner with the site's config inlined."""
    bundle = _site_script(site_key)
    if isinstance(bundle, HttpResponse):
        return bundle
    # The privacy model of the visitor's region (the trusted proxy's headers), and an ADPC
    # refusal: still one request, cacheable by a CDN that keys its cache on those headers.
    variant = bundle.script_for(request.META)
    response = _cacheable(
        request, variant.script, variant.etag, "text/javascript; charset=utf-8", variant.gzipped
    )
    patch_vary_headers(response, ["ADPC", *(regions.vary_headers() if bundle.regional else [])])
    return response


@require_GET
def preferences_script(request: HttpRequest, site_key: str) -> HttpResponse:
    """The preferences layer with its data (consent.layers), which the banner loads the
    first time a visitor opens it: the same for every region, cacheable like the script."""
    bundle = _site_script(site_key)
    if isinstance(bundle, HttpResponse):
        return bundle
    layer = bundle.preferences
    assert layer is not None  # every bundle a release that serves this builds has it
    return _cacheable(
        request, layer.script, layer.etag, "text/javascript; charset=utf-8", layer.gzipped
    )


class SiteConfigView(APIView):
    """The site's banner configuration: categories, vendors, cookies, texts, policy version."""

    @extend_schema(
        responses={
            200: OpenApiTypes.OBJECT,
            304: OpenApiResponse(description="Not modified (If-None-Match)"),
            404: error("Unknown site"),
            503: UNAVAILABLE,
        },
        operation_id="site_config",
    )
    def get(self, request: Request, site_key: str) -> HttpResponse:
        bundle = site_bundle(site_key)
        return _cacheable(request, bundle.config_json, bundle.config_etag, "application/json")


class RulesInvalid(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "This site's rules do not validate: they must be fixed in the admin."
    default_code = "rules_invalid"


class SiteRulesView(APIView):
    """What a Django site apart from the platform enforces (consent.remote fetches it):
    the consent cookie's name, the policy version, the categories, every cookie
    definition and every vendor's hosts (consent.ruleset describes the document)."""

    @extend_schema(
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The site's rules"),
            304: OpenApiResponse(description="Not modified (If-None-Match)"),
            404: error("Unknown site"),
            503: UNAVAILABLE,
        },
        operation_id="site_rules",
    )
    def get(self, request: Request, site_key: str) -> HttpResponse:
        ruleset = site_bundle(site_key).ruleset
        if ruleset is None:
            # Values no validation let in (written by SQL): the sites keep their last
            # good rules, as they do while the platform is away.
            raise RulesInvalid()
        response = _cacheable(request, ruleset.document, ruleset.etag, "application/json")
        # Stored anywhere, but asked again every time (a 304 costs nothing): a CDN in
        # front of the platform must not stretch the sites' staleness bound.
        response["Cache-Control"] = "no-cache"
        return response


def parse_consent_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationError({"consent_id": ["Not a valid UUID."]}) from None


class ConsentReceiptView(APIView):
    """A visitor's receipt and history (access, portability), and erasure."""

    def get_throttles(self) -> list:
        # Erasure also counts against its own, stricter limit.
        throttles: list[WindowThrottle] = [ReceiptThrottle()]
        if self.request.method == "DELETE":
            throttles.append(ErasureThrottle())
        return throttles

    def get_records(self, consent_id: str) -> list[ConsentRecord]:
        # No join to the site: records have no database foreign key to it, and a record
        # of a site deleted since must still be shown and erasable.
        found = list(
            ConsentRecord.objects.filter(consent_id=parse_consent_id(consent_id)).order_by(
                "-created_at", "-id"
            )
        )
        if not found:
            raise NotFound("No records for this consent id.")
        sites = Site.objects.in_bulk({record.site_id for record in found})
        for record in found:
            record.site = sites.get(record.site_id) or Site(pk=record.site_id, key="")
        return found

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        origins = getattr(self, "origins", ())
        return add_cors_headers(request, response, origins, "GET, DELETE, OPTIONS")

    def options(self, request, *args, **kwargs):
        try:
            self.origins = self._origins_for(self.get_records(kwargs["consent_id"]))
        except (NotFound, ValidationError):
            self.origins = ()
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _origins_for(self, found: list[ConsentRecord]) -> tuple[str, ...]:
        return tuple({o for record in found for o in record.site.origins()})

    @extend_schema(
        parameters=[CONSENT_ID],
        responses={
            200: HistorySerializer,
            400: INVALID,
            404: error("No records for this consent id"),
            429: THROTTLED,
            503: UNAVAILABLE,
        },
        operation_id="consent_receipt",
    )
    def get(self, request: Request, consent_id: str) -> Response:
        found = self.get_records(consent_id)
        self.origins = self._origins_for(found)
        current = found[0]
        bundle = get_bundle(current.site.key) if current.site.key else None
        latest = bundle.policy_version if bundle else current.policy_version
        proofs = Proofs()
        proofs.prefetch(found)
        history = [records.receipt(r, r.site.key, proofs.of(r)) for r in found]
        return Response(
            {
                "consent_id": str(current.consent_id),
                "current": history[0],
                "outdated": current.policy_version < latest,
                "history": history,
            }
        )

    @extend_schema(
        parameters=[CONSENT_ID],
        responses={
            204: OpenApiResponse(description="Erased"),
            400: INVALID,
            404: error("No records for this consent id"),
            429: THROTTLED,
            503: UNAVAILABLE,
        },
        operation_id="erase_consent",
    )
    def delete(self, request: Request, consent_id: str) -> Response:
        found = self.get_records(consent_id)
        self.origins = self._origins_for(found)
        visitor = parse_consent_id(consent_id)
        # Who asked, as far as records may say it: the network prefix they store, and
        # (in the event's time) when. The consent id alone proves nothing about them.
        prefix = records.truncate_ip(client_ip(request))
        records.erase(
            visitor,
            actor=f"visitor from {prefix or 'an unknown address'}",
            requester={"via": "api", "ip_prefix": prefix},
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class GpcView(APIView):
    """Tells user agents this site honours Global Privacy Control (GPC spec §3.2)."""

    @extend_schema(responses={200: GpcSerializer}, operation_id="gpc_support")
    def get(self, request: Request) -> Response:
        response = Response({"gpc": True, "lastUpdate": self.last_update(request)})
        response["Access-Control-Allow-Origin"] = "*"
        response["Cache-Control"] = "public, max-age=86400"
        return response

    @staticmethod
    def last_update(request: Request) -> str:
        """When GPC handling last changed (Site.gpc_updated_on, moved by the admin): of
        the site this host serves when one lists it among its origins, else the latest
        of any site; CONSENT_GPC_LAST_UPDATE while there is no site."""
        served = site_for_host(request)
        if served is not None:
            return served.gpc_updated_on.isoformat()
        latest = Site.objects.order_by("-gpc_updated_on").values_list("gpc_updated_on", flat=True)
        found = latest.first()
        return found.isoformat() if found else settings.CONSENT_GPC_LAST_UPDATE


def site_for_host(request: HttpRequest) -> Site | None:
    """The site whose allowed origins name this request's host, if one does."""
    host = request.get_host().lower()
    for site in Site.objects.only("pk", "key", "allowed_origins", "gpc_updated_on"):
        if any(urlsplit(o.strip()).netloc.lower() == host for o in site.allowed_origins.split()):
            return site
    return None


class AdpcView(APIView):
    """The site's consent requests for ADPC (Advanced Data Protection Control): one per
    optional category. A browser that sends ``ADPC: withdraw=*`` or ``object=*`` is
    treated as refusing them all, like GPC."""

    @extend_schema(
        responses={200: AdpcRequestsSerializer, 404: error("Unknown site")},
        operation_id="site_adpc_requests",
    )
    def get(self, request: Request, site_key: str | None = None) -> Response:
        return self.requests_of(request, site_key)

    @staticmethod
    def requests_of(request: Request, site_key: str | None) -> Response:
        if site_key is None:
            served = site_for_host(request)
            if served is None:
                raise NotFound("No site is served from this host.")
            site_key = served.key
        bundle = get_bundle(site_key)
        if bundle is None:
            raise NotFound("No such site.")
        requests = {
            category.slug: f"{category.name}: {category.description}"
            for category in Category.objects.filter(slug__in=bundle.optional_categories)
        }
        response = Response({"consentRequests": requests})
        response["Access-Control-Allow-Origin"] = "*"
        response["Cache-Control"] = "public, max-age=3600"
        return response


class WellKnownAdpcView(AdpcView):
    """The same for the site this host serves (its allowed origins name the host)."""

    @extend_schema(
        responses={200: AdpcRequestsSerializer, 404: error("No site is served from this host")},
        operation_id="adpc_requests",
    )
    def get(self, request: Request, site_key: str | None = None) -> Response:
        return self.requests_of(request, None)


# --- The transparency log ---------------------------------------------------------------


class LogUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The log's key is not configured."
    default_code = "log_unavailable"


# A proof in a given signed head never changes: a year, and no revalidation.
IMMUTABLE = "public, max-age=31536000, immutable"
NOT_A_HEAD = error("No signed head has this tree size (yet)")


def query(serializer_class: type, request: Request) -> dict:
    """The validated query parameters, or ValidationError (400) naming each one at fault."""
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def require_signed_heads(*sizes: int) -> None:
    """NotFound (404) unless every size is that of a signed head."""
    found = set(TreeHead.objects.filter(tree_size__in=sizes).values_list("tree_size", flat=True))
    if missing := [size for size in sizes if size not in found]:
        raise NotFound(f"No signed head has tree size {missing[0]}.")


class LogView(APIView):
    """The log's public endpoints. They hold no personal data, so any origin may read them;
    they are throttled per client network (CONSENT_LOG_THROTTLE_RATE)."""

    throttle_classes = [LogThrottle]
    content_negotiation_class = AlwaysJSON

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Access-Control-Allow-Origin"] = "*"
        if "Cache-Control" not in response:  # errors: a 404 may become a head soon
            response["Cache-Control"] = "no-store"
        return response


class LogKeyView(LogView):
    """The public key that signs the log's heads, and the log's name (its origin)."""

    @extend_schema(
        responses={200: LogKeySerializer, 429: THROTTLED, 503: error("No log key configured")},
        operation_id="log_key",
    )
    def get(self, request: Request) -> Response:
        try:
            document = log.key_document()
        except ValueError:  # no key, or not an Ed25519 one (heads.SigningKeyError among them)
            raise LogUnavailable() from None
        return Response(document, headers={"Cache-Control": "public, max-age=3600"})


class LogHeadsView(LogView):
    """The latest signed head, and every signed head, newest first, a page at a time."""

    @extend_schema(
        parameters=[HeadsQuery],
        responses={200: HeadsPageSerializer, 400: INVALID, 429: THROTTLED, 503: UNAVAILABLE},
        operation_id="log_heads",
    )
    def get(self, request: Request) -> Response:
        params = query(HeadsQuery, request)
        before, limit = params.get("before"), params["limit"]
        rows = TreeHead.objects.order_by("-tree_size")
        if before is not None:
            rows = rows.filter(tree_size__lt=before)
        page = list(rows[: limit + 1])
        latest = page[0] if page and before is None else log.latest_head()
        following = None
        if len(page) > limit:
            page = page[:limit]
            following = request.build_absolute_uri(
                reverse("consent-log-heads")
                + "?"
                + urlencode({"before": page[-1].tree_size, "limit": limit})
            )
        seconds = max(1, int(settings.CONSENT_LOG_SEAL_SECONDS))
        return Response(
            {
                "latest": log.signed(latest).as_json() if latest else None,
                "heads": [log.signed(head).as_json() for head in page],
                "next": following,
            },
            headers={"Cache-Control": f"public, max-age={seconds}"},
        )


class InclusionProofView(LogView):
    """RFC 9162 PATH(leaf_index, D[tree_size]): the leaf's audit path in a signed head."""

    @extend_schema(
        parameters=[InclusionQuery],
        responses={
            200: InclusionProofSerializer,
            400: INVALID,
            404: NOT_A_HEAD,
            429: THROTTLED,
            503: UNAVAILABLE,
        },
        operation_id="log_inclusion_proof",
    )
    def get(self, request: Request) -> Response:
        params = query(InclusionQuery, request)
        leaf_index, tree_size = params["leaf_index"], params["tree_size"]
        require_signed_heads(tree_size)
        path = log.inclusion(leaf_index, tree_size)
        return Response(
            {"leaf_index": leaf_index, "tree_size": tree_size, "audit_path": log.b64(path)},
            headers={"Cache-Control": IMMUTABLE},
        )


class ConsistencyProofView(LogView):
    """RFC 9162 PROOF(first, D[second]): that the head of ``second`` leaves extends, without
    changing it, the head of ``first`` leaves."""

    @extend_schema(
        parameters=[ConsistencyQuery],
        responses={
            200: ConsistencyProofSerializer,
            400: INVALID,
            404: NOT_A_HEAD,
            429: THROTTLED,
            503: UNAVAILABLE,
        },
        operation_id="log_consistency_proof",
    )
    def get(self, request: Request) -> Response:
        params = query(ConsistencyQuery, request)
        first, second = params["first"], params["second"]
        require_signed_heads(first, second)
        path = log.consistency(first, second)
        return Response(
            {"first": first, "second": second, "consistency_path": log.b64(path)},
            headers={"Cache-Control": IMMUTABLE},
        )
