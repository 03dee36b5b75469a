"""A Django site's views, as a site that installs the consent app would write them."""

from django.http import HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.template import engines
from django.views.decorators.cache import cache_page

from consent.decorators import vary_on_consent

COOKIES = [
    # (name, value, httponly): one functional, one advertising and one unknown cookie,
    # each plain and HttpOnly; the session and CSRF middleware add the required ones.
    ("_ga", "GA1.1.1", False),
    ("_gid", "GA1.1.2", True),
    ("_fbp", "fb.1.1", False),
    ("_gcl_au", "1.1.1", True),
    ("promo", "spring", False),
    ("ab_test", "b", True),
]

PAGE = """{% load consent %}<!doctype html><head>{% consent_script %}</head><body>
{% ifconsent "advertising" %}<img src="https://www.facebook.com/tr?id=1" alt="">{% else %}no ads{% endifconsent %}
{% consent_preferences_link %}</body>"""

calls = {"cached": 0}


def set_cookies(request):
    """Sets every kind of cookie: required (session, CSRF), functional, advertising, unknown."""
    request.session["basket"] = ["teapot"]
    get_token(request)
    response = HttpResponse("<!doctype html><title>Shop</title>")
    for name, value, httponly in COOKIES:
        response.set_cookie(name, value, httponly=httponly)
    return response


def set_analytics_cookie(request):
    """Sets one cookie that only a pattern definition (_ga_*) knows."""
    response = HttpResponse("<!doctype html><title>Stats</title>")
    response.set_cookie("_ga_1X2Y3Z", "GS1.1")
    return response


def delete_analytics_cookie(request):
    response = HttpResponse("<!doctype html><title>Bye</title>")
    response.delete_cookie("_ga")
    return response


def raw_header(request):
    response = HttpResponse("<!doctype html><title>Raw</title>")
    response["Set-Cookie"] = "_fbp=fb.1.2; Path=/"
    return response


def plain(request):
    return HttpResponse("<!doctype html><title>Plain</title>")


def data(request):
    return JsonResponse({"ok": True})


def consent_state(request):
    consent = request.consent
    return JsonResponse(
        {
            "functional": consent.allowed("functional"),
            "advertising": consent.allowed("advertising"),
            "required": consent.allowed("required"),
            "choices": consent.choices,
            "consent_id": consent.consent_id,
            "policy_version": consent.policy_version,
            "gpc": consent.signals.gpc,
            "dnt": consent.signals.dnt,
        }
    )


def page(request):
    return HttpResponse(engines["django"].from_string(PAGE).render(request=request))


def shop(request):
    """A page with the banner that also sets every kind of cookie, as set_cookies does."""
    response = page(request)
    request.session["basket"] = ["teapot"]
    get_token(request)
    for name, value, httponly in COOKIES:
        response.set_cookie(name, value, httponly=httponly)
    return response


@cache_page(60)
@vary_on_consent
def cached_page(request):
    calls["cached"] += 1
    return page(request)


def counted_page(request):
    calls["cached"] += 1
    return page(request)
