"""URLs for benchmarks/flow.py: the app under ``/twitter/``, the floor under
``/floor/``, allauth (when installed for the comparison) under ``/accounts/``, and a
home page to land on."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("home")


urlpatterns: list[URLPattern | URLResolver] = [
    path("", home),
    path("twitter/", include("django_twitter_oauth.urls")),
    path("floor/", include("benchmarks.floor.urls")),
]
if "allauth" in settings.INSTALLED_APPS:
    urlpatterns.append(path("accounts/", include("allauth.urls")))
