"""The platform's URLs, the two reference views, and the consent POST with one piece of
its machinery off (bench/consent_throughput's variants)."""

from django.urls import path
from rest_framework import serializers

from config.urls import urlpatterns as platform
from consent.api.fastpath import before_middleware
from consent.api.serializers import ConsentSerializer, ReceiptSerializer
from consent.api.views import ConsentCreateView

from . import views


class PerInstanceFields:
    """DRF's default: every serializer instance builds its own copy of the fields."""

    fields = serializers.Serializer.fields


class PerInstanceConsentSerializer(PerInstanceFields, ConsentSerializer):
    pass


class PerInstanceReceiptSerializer(PerInstanceFields, ReceiptSerializer):
    pass


urlpatterns = [
    path("bench/bare", views.bare),
    path("bench/insert", views.insert),
    # The consent POST through the whole middleware stack, as without FastPathMiddleware.
    path("bench/stack/sites/<site_key:site_key>/consents", ConsentCreateView.as_view()),
    # The consent POST with DRF's per-instance serializer fields.
    path(
        "bench/per-instance-fields/sites/<site_key:site_key>/consents",
        before_middleware(
            ConsentCreateView.as_view(
                serializer_class=PerInstanceConsentSerializer,
                receipt_class=PerInstanceReceiptSerializer,
            )
        ),
    ),
    *platform,
]
