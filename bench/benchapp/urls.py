"""The platform's URLs, the reference views, the consent POST's record without its
checks, and the consent POST with one piece of its machinery off
(bench/consent_throughput's targets and variants)."""

import json

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.urls import urlpatterns as platform
from consent import records
from consent.api import consents
from consent.api.fastpath import before_middleware
from consent.api.views import site_bundle
from consent.models import Method
from consent.rules import Signals

from . import views


@csrf_exempt
def through_the_stack(request: HttpRequest, site_key: str) -> HttpResponse:
    """The consent POST's view, through a function not marked to be answered before the
    middleware (consent.urls marks the view itself)."""
    return consents.record_consent(request, site_key)


@before_middleware  # as the consent POST is answered
@csrf_exempt
@require_POST
def record_alone(request: HttpRequest, site_key: str) -> HttpResponse:
    """The consent POST's record and receipt, and nothing else: no origin check, no
    throttle, no validation, no signals; what storing a decision costs whatever checks
    come before it."""
    bundle = site_bundle(site_key)
    decision = json.loads(request.body)
    record, _ = records.record_consent(
        bundle,
        categories=decision["categories"],
        policy_version=decision["policy_version"],
        method=Method(decision["method"]),
        language=decision["language"],
        page_url=decision["page_url"],
        signals=Signals(),
    )
    return consents._json(records.receipt(record, site_key), 201)  # the POST's answer


urlpatterns = [
    path("bench/bare", views.bare),
    path("bench/insert", views.insert),
    # The consent POST's record and receipt without its checks.
    path("bench/record/sites/<site_key:site_key>/consents", record_alone),
    # The consent POST through the whole middleware stack, as without FastPathMiddleware.
    path("bench/stack/sites/<site_key:site_key>/consents", through_the_stack),
    *platform,
]
