"""The site's own pages: what tests.sites serves as a project of its own (settings.py)
and, with the platform's URLs beside them, inside the platform (urls.py)."""

from django.urls import path

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
    path("t/shop/", views.shop),
    path("t/cached/", views.cached_page),
    path("t/counted/", views.counted_page),
]
