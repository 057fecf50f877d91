from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.urls import include, path

from example import views

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
]
if apps.is_installed("django_twitter_oauth.sandbox"):
    urlpatterns.append(path("sandbox/", include("django_twitter_oauth.sandbox.urls")))
