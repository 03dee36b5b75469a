from django.urls import include, path

from .site_urls import urlpatterns as site_pages

urlpatterns = [*site_pages, path("", include("consent.urls"))]
