"""The platform's URLs, the two reference views, and the consent POST with one piece of
its machinery off (bench/consent_throughput's variants)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as platform
from consent.api import consents

from . import views


@csrf_exempt
def through_the_stack(request: HttpRequest, site_key: str) -> HttpResponse:
    """The consent POST's view, through a function not marked to be answered before the
    middleware (consent.urls marks the view itself)."""
    return consents.record_consent(request, site_key)


urlpatterns = [
    path("bench/bare", views.bare),
    path("bench/insert", views.insert),
    # The consent POST through the whole middleware stack, as without FastPathMiddleware.
    path("bench/stack/sites/<site_key:site_key>/consents", through_the_stack),
    *platform,
]
