"""The two hot public URLs, answered before the rest of the middleware stack.

Every page view of every embedding site asks for ``/c/<site key>.js``, and every
decision of every visitor is a ``POST`` to ``/api/v1/sites/<site key>/consents``. Both are
public, cookie-less and CSRF-exempt: sessions, CSRF, authentication, messages, CSP and
the consent middleware have nothing to add to them. Like WhiteNoise for static files,
this middleware answers them right after the security headers are in place. The URL
patterns in consent.urls stay, for reversing, the OpenAPI schema and a project that
leaves this middleware out.
"""

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from . import recording
from .converters import SITE_KEY
from .views import script

# The site key grammar of consent.urls: a path these do not match is left to the URL
# resolver, which answers 404 for a key no site could have.
SCRIPT_PATH = re.compile(rf"/c/(?P<site_key>{SITE_KEY})\.js")
CONSENTS_PATH = re.compile(rf"/api/v1/sites/(?P<site_key>{SITE_KEY})/consents")


class FastPathMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith("/c/"):
            match = SCRIPT_PATH.fullmatch(path)
            if match is not None:
                return script(request, match["site_key"])
        elif path.endswith("/consents"):
            match = CONSENTS_PATH.fullmatch(path)
            if match is not None:
                return recording.answer(request, match["site_key"])
        return self.get_response(request)
