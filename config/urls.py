from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("consent.urls")),
    path("admin/", admin.site.urls),
]

handler404 = "consent.views.not_found"
