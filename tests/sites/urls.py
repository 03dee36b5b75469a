from django.urls import include, path

from . import views

urlpatterns = [
    path("t/cookies/", views.set_cookies),
    path("t/analytics/", views.set_analytics_cookie),
    path("t/forget-analytics/", views.delete_analytics_cookie),
    path("t/raw/", views.raw_header),
    path("t/plain/", views.plain),
    path("t/data/", views.data),
    path("t/consent/", views.consent_state),
    path("t/page/", views.page),
    path("t/cached/", views.cached_page),
    path("t/counted/", views.counted_page),
    path("", include("consent.urls")),
]
