from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.urls import include, path

from example import views

urlpatterns = [
    path("", views.home, name="home"),
    path("profile/", views.profile, name="profile"),
    path("profile/verify/", views.verify, name="verify"),
    path(
        "profile/disconnect/<str:twitter_user_id>/",
        views.disconnect_confirm,
        name="disconnect_confirm",
    ),
    path("logout/", views.SignOutView.as_view(), name="logout"),
    path("twitter/", include("django_twitter_oauth.urls")),
    path("admin/", admin.site.urls),
]
if apps.is_installed("django_twitter_oauth.sandbox"):
    urlpatterns.append(path("sandbox/", include("django_twitter_oauth.sandbox.urls")))
