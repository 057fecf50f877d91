"""The sandbox: Twitter's API endpoints and its authorize page, served by the fake.

The API views hand each request to
:class:`~django_twitter_oauth.testing.provider.FakeProvider`, which verifies the
OAuth signature as Twitter does; its state (request tokens, verifiers, access
tokens, nonces, rate counters, tweets) lives in the database
(:class:`~django_twitter_oauth.sandbox.store.DatabaseStore`), so it survives between
requests, threads, processes and restarts (or in the TWITTER_OAUTH_SANDBOX_CACHE cache
when that setting names one). The pages play the part of the user at
Twitter.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.sites.shortcuts import get_current_site
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from django_twitter_oauth.conf import OOB, app_settings, granted_level
from django_twitter_oauth.sandbox.models import SandboxUser
from django_twitter_oauth.sandbox.store import sandbox_store
from django_twitter_oauth.testing.provider import (
    ConnectionFault,
    FakeProvider,
    FakeResponse,
    TimeoutFault,
    twitter_error,
)

# Internal to the sandbox app (reached through its URLs): nothing to import here.
__all__: list[str] = []

View = Callable[..., HttpResponse]

#: Twitter's rule for screen names.
SCREEN_NAME = re.compile(r"[A-Za-z0-9_]{1,15}")


def _page(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """A sandbox page: it names the app in a friendly way (never by its consumer key)
    and links back to the site."""
    context = {
        "app_name": _("Your app (sandbox)"),
        "site_name": get_current_site(request).name,
        **context,
    }
    return render(request, template, context, status=status)


def sandbox_enabled(view: View) -> View:
    """404 unless DEBUG is on or TWITTER_OAUTH_SANDBOX_ALLOWED, even if checks are silenced."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not (settings.DEBUG or app_settings.SANDBOX_ALLOWED is True):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def provider_for(request: HttpRequest) -> FakeProvider:
    """The fake Twitter for the site's own consumer key, at this sandbox's URL, on the
    TWITTER_OAUTH_SANDBOX_TIER access tier, with the email permission."""
    return FakeProvider(
        app_settings.CONSUMER_KEY,
        app_settings.CONSUMER_SECRET,
        api_url=request.build_absolute_uri(reverse("twitter_oauth_sandbox:index")),
        app_permission=app_settings.APP_PERMISSION,
        store=sandbox_store(),
        tier=app_settings.SANDBOX_TIER,
        email_permission=True,
    )


@sandbox_enabled
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    provider = provider_for(request)
    return _page(
        request,
        "twitter_oauth_sandbox/index.html",
        {
            "users": SandboxUser.objects.all(),
            "api_url": provider.api_url,
            "tier": provider.tier,
            "tweets": provider.tweets()[::-1],
        },
    )


@csrf_exempt  # Twitter's API is signed with OAuth, not CSRF tokens.
@sandbox_enabled
def api(request: HttpRequest, endpoint: str) -> HttpResponse:
    latency = app_settings.SANDBOX_LATENCY
    if latency:
        time.sleep(latency)
    provider = provider_for(request)
    try:
        answer = provider.handle(
            request.method or "GET",
            request.build_absolute_uri(),
            dict(request.headers),
            request.body,
        )
    except (ConnectionFault, TimeoutFault):
        # Over HTTP a network fault cannot be played faithfully; answer "over capacity".
        answer = FakeResponse(
            503, twitter_error(130, "Over capacity."), {"content-type": "application/json"}
        )
    headers = dict(answer.headers)
    response = HttpResponse(
        answer.body, status=answer.status, content_type=headers.pop("content-type", None)
    )
    for name, value in headers.items():
        response[name] = value
    return response


def _invalid_token_page(request: HttpRequest) -> HttpResponse:
    return _page(
        request,
        "twitter_oauth_sandbox/message.html",
        {
            "title": _("This page is no longer valid"),
            "message": _(
                "The request token for this page is invalid. It may have already been "
                "used, or expired because it is too old. Please go back to the site or "
                "application that sent you here and try again."
            ),
        },
        status=400,
    )


def _pending_token(
    view: Callable[[HttpRequest, str, FakeProvider, dict[str, Any]], HttpResponse],
) -> View:
    """For the pages about one request token (``oauth_token`` in the query or the form):
    the view gets the token, the provider and the token's record; a missing, unknown,
    used or expired token gets the "no longer valid" page instead."""

    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        data = request.POST if request.method == "POST" else request.GET
        token = data.get("oauth_token", "")
        provider = provider_for(request)
        record = provider.pending(token) if token else None
        if record is None:
            return _invalid_token_page(request)
        return view(request, token, provider, record)

    return wrapper


def _authorize_page(
    request: HttpRequest,
    token: str,
    provider: FakeProvider,
    record: dict[str, Any],
    *,
    status: int = 200,
    **context: Any,
) -> HttpResponse:
    """The page that asks the user to approve the request token's app."""
    context = {
        "oauth_token": token,
        "users": SandboxUser.objects.all(),
        "access_level": granted_level(provider.app_permission, record["access_type"]),
        "pin_flow": record["callback"] == OOB,
        **context,
    }
    return _page(request, "twitter_oauth_sandbox/authorize.html", context, status=status)


@sandbox_enabled
@require_GET
@_pending_token
def authorize(
    request: HttpRequest, token: str, provider: FakeProvider, record: dict[str, Any]
) -> HttpResponse:
    """``oauth/authorize`` and ``oauth/authenticate``: the user is asked to approve."""
    return _authorize_page(
        request,
        token,
        provider,
        record,
        screen_name=request.GET.get("screen_name", ""),
        force_login=request.GET.get("force_login") in ("true", "1"),
    )


@sandbox_enabled
@require_POST
@_pending_token
def decide(
    request: HttpRequest, token: str, provider: FakeProvider, record: dict[str, Any]
) -> HttpResponse:
    """The user's answer on the authorize page: approve as a fake user, or cancel."""
    pin_flow = record["callback"] == OOB
    if "cancel" in request.POST:
        if not pin_flow:
            return HttpResponseRedirect(provider.deny(token))
        provider.store.pop("request_token", token)
        return _page(
            request,
            "twitter_oauth_sandbox/message.html",
            {
                "title": _("You did not authorize the app"),
                "message": _("Return to the app; it has no access to your account."),
            },
        )
    user = _chosen_user(request)
    if user is None:
        return _authorize_page(
            request,
            token,
            provider,
            record,
            status=400,
            error=_(
                "Choose a fake user, or type a screen name (and, if you like, a valid "
                "email) to create one."
            ),
        )
    verifier = provider.approve(
        token,
        user_id=user.user_id,
        screen_name=user.screen_name,
        name=user.name or user.screen_name,
        email=user.email or None,
    )
    if pin_flow:
        return _page(request, "twitter_oauth_sandbox/pin.html", {"pin": verifier, "user": user})
    return HttpResponseRedirect(provider.redirect_url(token, verifier))


def _valid_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _chosen_user(request: HttpRequest) -> SandboxUser | None:
    screen_name = request.POST.get("screen_name", "").strip().lstrip("@")
    if screen_name:
        email = request.POST.get("email", "").strip()
        if not SCREEN_NAME.fullmatch(screen_name) or (email and not _valid_email(email)):
            return None
        user, _created = SandboxUser.objects.get_or_create(
            screen_name=screen_name, defaults={"name": screen_name, "email": email}
        )
        return user
    user_id = request.POST.get("user", "")
    return SandboxUser.objects.filter(user_id=user_id).first() if user_id else None
