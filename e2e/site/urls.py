"""The platform's URLs, and a Django site's page with the vendors' snippets in its markup
(e2e/site/vendor-snippets.html), under /demo/ where the demo site is enforced."""

from pathlib import Path

from django.http import HttpResponse
from django.urls import include, path, reverse

HERE = Path(__file__).resolve().parent


def vendor_snippets(request):
    page = (HERE / "vendor-snippets.html").read_text()
    page = (
        page.replace("{banner}", reverse("consent-script", args=["demo"]))
        .replace("{first_party}", "/demo")
        .replace("{nonce}", str(request.csp_nonce))
    )
    return HttpResponse(page)


def first_party(request):
    return HttpResponse((HERE / "first-party.js").read_bytes(), content_type="text/javascript")


urlpatterns = [
    path("demo/vendor-snippets/", vendor_snippets),
    path("demo/first-party.js", first_party),
    path("", include("config.urls")),
]
