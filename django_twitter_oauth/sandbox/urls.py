from __future__ import annotations

from django.urls import path, re_path

from django_twitter_oauth.sandbox import views

__all__ = ["app_name", "urlpatterns"]

app_name = "twitter_oauth_sandbox"

urlpatterns = [
    path("", views.index, name="index"),
    path("oauth/authorize", views.authorize, name="authorize"),
    path("oauth/authenticate", views.authorize, name="authenticate"),
    path("oauth/decide", views.decide, name="decide"),
    # Every API endpoint goes to the provider, which answers unknown ones with
    # Twitter's 404 (code 34).
    re_path(r"^(?P<endpoint>(?:oauth|1\.1|2)/.+)$", views.api, name="api"),
]
