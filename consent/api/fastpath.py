"""The platform's hottest public URLs, answered before the rest of the middleware stack.

Every page view of every embedding site asks for the script, and every decision of every
visitor is a consent POST. Both are public, cookie-less and CSRF-exempt: sessions, CSRF,
authentication, messages, CSP and the consent middleware have nothing to add to them.
Like WhiteNoise for static files, ``FastPathMiddleware`` answers them right after the
security headers are in place, with the very views the URLconf names: consent.urls marks
them with ``before_middleware``. Without this middleware they are answered the same
way, through the whole stack (README, "What the consent POST's machinery saves").
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve


def before_middleware(view: Callable) -> Callable:
    """Mark a view of the URLconf to be answered before the middleware below
    ``FastPathMiddleware`` (as ``csrf_exempt`` marks a view for the CSRF middleware)."""
    setattr(view, "before_middleware", True)  # noqa: B010 (functions have no declared attributes)
    return view


class FastPathMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            match = resolve(request.path_info, getattr(request, "urlconf", None))
        except Resolver404:
            return self.get_response(request)
        if not getattr(match.func, "before_middleware", False):
            return self.get_response(request)
        request.resolver_match = match
        response = match.func(request, *match.args, **match.kwargs)
        # What Django's handler and CommonMiddleware would still do.
        if callable(getattr(response, "render", None)):
            response = response.render()
        if not response.streaming and not response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))
        return response
