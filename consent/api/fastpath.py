"""The embed script, answered before the rest of the middleware stack.

Every page view of every embedding site asks for ``/c/<site key>.js``: it is the
platform's hottest URL, and a public, cookie-less, cacheable response that sessions, CSRF,
authentication, messages and CSP have nothing to add to. Like WhiteNoise for static files,
this middleware answers it right after the security headers are in place; the URL pattern
in consent.urls stays for reversing and for the docs.
"""

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .views import script

SCRIPT_PATH = re.compile(r"^/c/(?P<site_key>[A-Za-z0-9_-]{1,64})\.js$")


class ScriptMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        match = SCRIPT_PATH.match(request.path_info)
        if match is None:
            return self.get_response(request)
        return script(request, match["site_key"])
