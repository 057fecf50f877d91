from __future__ import annotations

from django.urls import include, path

urlpatterns = [path("sandbox/", include("django_twitter_oauth.sandbox.urls"))]
