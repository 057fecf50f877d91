from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from django_twitter_oauth.models import AccessToken


def home(request: HttpRequest) -> HttpResponse:
    tokens = (
        AccessToken.objects.filter(user=request.user).only("screen_name", "twitter_user_id")
        if request.user.is_authenticated
        else AccessToken.objects.none()
    )
    return render(
        request,
        "example/home.html",
        {"tokens": tokens, "real_twitter": getattr(settings, "USES_REAL_TWITTER", False)},
    )
