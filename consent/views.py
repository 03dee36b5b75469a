"""The platform's own pages: a front page for operators and the demo site."""

from csp.decorators import csp_replace
from django.conf import settings
from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.defaults import page_not_found


def home(request):
    return redirect("demo")


def demo(request):
    """A small shop page with gated example tags, so a newcomer sees the product work."""
    return render(request, "consent/demo.html", {"site_key": settings.CONSENT_SITE_KEY})


@xframe_options_sameorigin
@csp_replace({"frame-ancestors": ["'self'"]})
def demo_video(request):
    """Stands in for a video vendor's embed on the demo page."""
    return render(request, "consent/demo_video.html")


# What the server-cookies demo tries to set: (name, category, HttpOnly).
SERVER_COOKIES = [
    ("_ga", "Functional", False),
    ("_gid", "Functional", True),
    ("_fbp", "Advertising", False),
    ("_gcl_au", "Advertising", True),
    ("promo", "unknown", False),
    ("ab_test", "unknown", True),
]


def demo_server_cookies(request):
    """A page whose server sets every kind of cookie: ConsentMiddleware lets through only
    the ones the visitor allowed, and expires refused ones, HttpOnly included."""
    request.session["basket"] = ["teapot"]
    get_token(request)
    rows = [
        {"name": name, "category": category, "httponly": httponly, "held": name in request.COOKIES}
        for name, category, httponly in SERVER_COOKIES
    ]
    response = render(
        request,
        "consent/demo_server_cookies.html",
        {"rows": rows, "held": sorted(request.COOKIES)},
    )
    for name, _category, httponly in SERVER_COOKIES:
        response.set_cookie(name, "demo", max_age=3600, httponly=httponly, samesite="Lax")
    return response


def not_found(request, exception=None):
    """404: the API answers in its own JSON shape (a malformed site key never reaches a
    view: it matches no URL); every other path gets Django's page."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return page_not_found(request, exception)
