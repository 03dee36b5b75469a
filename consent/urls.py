from django.urls import path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import views
from .api import consents
from .api import views as api
from .api.converters import SiteKeyConverter
from .api.fastpath import before_middleware

register_converter(SiteKeyConverter, "site_key")

urlpatterns = [
    # The hottest public URLs, first (Django tries the patterns in turn): answered before
    # sessions, CSRF and CSP (consent.api.fastpath).
    path("c/<site_key:site_key>.js", before_middleware(api.script), name="consent-script"),
    path(
        "api/v1/sites/<site_key:site_key>/consents",
        before_middleware(consents.record_consent),
        name="consent-create",
    ),
    path(
        "c/<site_key:site_key>/preferences.js",
        before_middleware(api.preferences_script),
        name="consent-preferences",
    ),
    path("", views.home, name="home"),
    path("demo/", views.demo, name="demo"),
    path("demo/video/", views.demo_video, name="demo-video"),
    path("demo/server-cookies/", views.demo_server_cookies, name="demo-server-cookies"),
    path(
        "api/v1/sites/<site_key:site_key>/config", api.SiteConfigView.as_view(), name="site-config"
    ),
    path("api/v1/sites/<site_key:site_key>/rules", api.SiteRulesView.as_view(), name="site-rules"),
    path(
        "api/v1/consents/<str:consent_id>", api.ConsentReceiptView.as_view(), name="consent-receipt"
    ),
    path(".well-known/gpc.json", api.GpcView.as_view(), name="gpc-json"),
    path(".well-known/adpc.json", api.WellKnownAdpcView.as_view(), name="adpc-json"),
    path("api/v1/sites/<site_key:site_key>/adpc", api.AdpcView.as_view(), name="site-adpc"),
    # The transparency log: its key, its signed heads, and proofs against them.
    path(".well-known/consent-log/key", api.LogKeyView.as_view(), name="consent-log-key"),
    path(".well-known/consent-log/heads", api.LogHeadsView.as_view(), name="consent-log-heads"),
    path(
        "api/v1/log/proof/inclusion",
        api.InclusionProofView.as_view(),
        name="log-inclusion-proof",
    ),
    path(
        "api/v1/log/proof/consistency",
        api.ConsistencyProofView.as_view(),
        name="log-consistency-proof",
    ),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
