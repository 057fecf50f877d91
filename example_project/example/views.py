from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

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
