"""CORS per site: only the origins registered for a site may post its consents.

A generic CORS middleware allows one global list; here every site has its own, so the
check needs the site, which the views already have.
"""

from collections.abc import Iterable

from django.http import HttpRequest, HttpResponse

ALLOWED_HEADERS = "Content-Type"
MAX_AGE = "86400"


def request_origin(request: HttpRequest) -> str | None:
    return request.META.get("HTTP_ORIGIN")  # request.headers would parse every header


def origin_allowed(request: HttpRequest, origins: Iterable[str]) -> bool:
    """No Origin header means no browser cross-origin request (curl, a server): allowed.
    A browser always sends Origin on a cross-origin POST, so a foreign one is refused."""
    origin = request_origin(request)
    return origin is None or origin.rstrip("/") in origins


def add_cors_headers(
    request: HttpRequest, response: HttpResponse, origins: Iterable[str], methods: str
) -> HttpResponse:
    origin = request_origin(request)
    if origin and origin.rstrip("/") in origins:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = methods
        response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response["Access-Control-Max-Age"] = MAX_AGE
    response["Vary"] = ", ".join(filter(None, [response.get("Vary"), "Origin"]))
    return response
