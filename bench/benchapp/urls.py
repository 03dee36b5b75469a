from django.urls import path

from config.urls import urlpatterns as platform

from . import views

urlpatterns = [
    path("bench/bare", views.bare),
    path("bench/insert", views.insert),
    *platform,
]
