from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LogoutView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from django_twitter_oauth.conf import app_settings
from django_twitter_oauth.exceptions import TwitterError
from django_twitter_oauth.models import AccessToken


def _context(request: HttpRequest, **extra: object) -> dict[str, object]:
    return extra


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "example/home.html", _context(request))


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    tokens = AccessToken.objects.filter(user=request.user).defer("token", "secret")
    return render(request, "example/profile.html", _context(request, tokens=tokens))


@login_required
@require_GET
def disconnect_confirm(request: HttpRequest, twitter_user_id: str) -> HttpResponse:
    """Disconnecting revokes the site's access at Twitter: ask first. The form posts to
    the app's ``twitter_oauth:disconnect`` view."""
    token = get_object_or_404(
        AccessToken.objects.defer("token", "secret"),
        user=request.user,
        twitter_user_id=twitter_user_id,
    )
    return render(request, "example/disconnect_confirm.html", _context(request, token=token))


class SignOutView(LogoutView):
    """Django's logout, saying so on the page it lands on."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        was_signed_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_signed_in:
            messages.success(request, "You are signed out.")
        return response


@login_required
@require_POST
def verify(request: HttpRequest) -> HttpResponse:
    """One signed call on the user's behalf, through AccessToken.session()."""
    token = get_object_or_404(
        AccessToken, user=request.user, twitter_user_id=request.POST.get("twitter_user_id", "")
    )
    url = f"{app_settings.API_URL.rstrip('/')}/1.1/account/verify_credentials.json"
    try:
        with token.session() as session:
            response = session.get(url, params={"skip_status": "true"})
        answer = {
            "status": response.status_code,
            "access_level": response.headers.get("x-access-level", ""),
            "body": response.json() if response.ok else response.text[:500],
        }
    except (TwitterError, OSError, ValueError) as exc:
        answer = {"status": None, "error": type(exc).__name__}
    return render(request, "example/verify.html", _context(request, token=token, answer=answer))
