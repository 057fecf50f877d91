"""``path("twitter/", include("django_twitter_oauth.urls"))``: the flow's views."""

from __future__ import annotations

from django.urls import path

from django_twitter_oauth import views

__all__ = ["app_name", "urlpatterns"]

app_name = "twitter_oauth"

urlpatterns = [
    path("begin/", views.begin, name="begin"),
    path("callback/", views.callback, name="callback"),
    path("denied/", views.denied, name="denied"),
    path("pin/", views.pin, name="pin"),
    path("disconnect/", views.disconnect, name="disconnect"),
]
