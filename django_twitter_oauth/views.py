"""Thin views over :mod:`django_twitter_oauth.flow`: parse the request, call the flow,
render the result. Every failure is a page with the status docs/flow.rst lists, never a
500, and never shows a secret.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from typing import Any

from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required, login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.debug import SafeExceptionReporterFilter, get_default_exception_reporter_filter
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from django_twitter_oauth import flow, signals
from django_twitter_oauth.conf import app_settings
from django_twitter_oauth.exceptions import (
    AuthorizationError,
    ConfigurationRejected,
    TwitterOAuthError,
    TwitterRateLimited,
    TwitterRejected,
)
from django_twitter_oauth.models import RequestToken

__all__ = ["begin", "callback", "denied", "disconnect", "pin"]

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]

TRUE_VALUES = ("1", "true", "yes", "on")
#: What a consumed credential in the request is replaced with (as Django's own filter
#: shows a sensitive variable).
CLEANSED = "********************"

# Reachable by anonymous visitors even under Django's LoginRequiredMiddleware.
_public = login_not_required


_ALWAYS_ACTIVE: dict[type[SafeExceptionReporterFilter], type[SafeExceptionReporterFilter]] = {}


def _always_active(filter_class: type[SafeExceptionReporterFilter]) -> SafeExceptionReporterFilter:
    """``filter_class`` (the site's DEFAULT_EXCEPTION_REPORTER_FILTER), active with
    DEBUG on too: Django's filter hides nothing while DEBUG is on."""
    if filter_class not in _ALWAYS_ACTIVE:

        class AlwaysActive(filter_class):  # type: ignore[valid-type,misc]
            def is_active(self, request: HttpRequest | None) -> bool:
                return True

        _ALWAYS_ACTIVE[filter_class] = AlwaysActive
    return _ALWAYS_ACTIVE[filter_class]()


def _cleansed_reports(view: View) -> View:
    """Error reports of ``view`` (Django's DEBUG 500 page, the admins' e-mail, error
    trackers that use Django's filter) hide what ``sensitive_variables`` and
    ``sensitive_post_parameters`` mark, DEBUG or not: the view holds credentials."""

    @functools.wraps(view)
    def cleansed(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        filter_class = type(get_default_exception_reporter_filter())
        request.exception_reporter_filter = _always_active(filter_class)
        return view(request, *args, **kwargs)

    return cleansed


def _next_or_default(request: HttpRequest, next_url: str) -> str:
    return next_url or resolve_url(app_settings.REDIRECT_URL)


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in TRUE_VALUES


def _error_page(
    request: HttpRequest,
    exc: TwitterOAuthError,
    *,
    next_url: str = "",
    authorization: bool = True,
) -> HttpResponse:
    """The page for a failed authorization (or disconnect), with the status docs/flow.rst
    lists; ``authorization_failed`` is sent when it ends an ``authorization``."""
    status, title, staff_hint, retry_after = 502, _("Twitter could not be reached"), "", 0
    message = _(
        "Twitter could not be reached or gave an answer this site does not understand. "
        "Please try again in a moment."
    )
    if isinstance(exc, AuthorizationError):
        status, title, message = exc.status_code, _("Twitter authorization failed"), str(exc)
    elif isinstance(exc, TwitterRateLimited):
        status, title = 503, _("Twitter is busy")
        message = _("Twitter asked this site to slow down.")
        seconds = exc.seconds_until_reset()
        retry_after = max(1, math.ceil(seconds)) if seconds is not None else 60
    elif isinstance(exc, ConfigurationRejected):
        # The site's own configuration (the client decides which refusals these are): tell
        # staff what to fix, never a secret.
        title = _("Sign-in with Twitter is misconfigured")
        message = _("This site's Twitter app settings need attention. Please try again later.")
        staff_hint = str(exc)
    elif isinstance(exc, TwitterRejected) and exc.status_code in (400, 401, 403):
        status, title = 400, _("Twitter did not accept this authorization")
        message = _(
            "The PIN or the link from Twitter was not accepted (it may have been used "
            "already). Please start again."
        )
    logger.info("Twitter authorization failed (%s): %s", status, exc)
    if authorization:
        signals.send_after_commit(
            signals.authorization_failed,
            using=flow.database(),
            sender=RequestToken,
            request=request,
            error=exc,
        )
    response = render(
        request,
        "twitter_oauth/error.html",
        {
            "status": status,
            "title": title,
            "message": message,
            "staff_hint": staff_hint,
            "retry_after": retry_after,
            "retry_minutes": math.ceil(retry_after / 60),
            "next_url": _next_or_default(request, next_url),
        },
        status=status,
    )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@_public
@never_cache
@require_http_methods(["GET", "POST"])
def begin(request: HttpRequest) -> HttpResponse:
    """Start the flow on POST (CSRF-protected); GET shows a confirmation page unless
    TWITTER_OAUTH_LOGIN_ON_GET. Parameters: ``next``, ``force_login``, ``screen_name``,
    ``authorize``, ``access_type``."""
    data = request.POST if request.method == "POST" else request.GET
    next_url = flow.safe_next(request, data.get("next"))
    if request.method == "GET" and not app_settings.LOGIN_ON_GET:
        params = {
            name: data[name]
            for name in ("force_login", "screen_name", "authorize", "access_type")
            if data.get(name)
        }
        if next_url:
            params["next"] = next_url
        return render(request, "twitter_oauth/begin.html", {"params": params})
    try:
        begun = flow.begin(
            request,
            next_url=next_url,
            force_login=_flag(data.get("force_login")),
            screen_name=data.get("screen_name", ""),
            authorize=_flag(data.get("authorize")),
            access_type=data.get("access_type") or None,
        )
    except TwitterOAuthError as exc:
        return _error_page(request, exc, next_url=next_url)
    if begun.oob:
        # The PIN page links to Twitter's authorize URL, with force_login/screen_name.
        query = urlencode(
            {
                "oauth_token": begun.oauth_token,
                **{k: v for k, v in begun.authorization_params.items() if k != "oauth_token"},
            }
        )
        response = HttpResponseRedirect(f"{reverse('twitter_oauth:pin')}?{query}")
    else:
        response = HttpResponseRedirect(begun.authorization_url)
    flow.set_flow_cookie(response, request, begun.flow_key)
    return response


def _consume(request: HttpRequest, name: str) -> str:
    """The query parameter ``name``, then blanked in the request (its ``GET`` and the
    query string its URL and ``repr()`` show): a crash report, an error tracker or a
    signal receiver sees the request without it."""
    value = request.GET.get(name, "")
    if value:
        query = request.GET.copy()
        query[name] = CLEANSED
        query_string = query.urlencode(safe="*")
        request.GET = QueryDict(query_string, encoding=request.encoding)
        request.META = {**request.META, "QUERY_STRING": query_string}
    return value


@sensitive_variables()
def _finish(request: HttpRequest, oauth_token: str, verifier: str) -> HttpResponse:
    try:
        completed = flow.complete(request, oauth_token, verifier)
    except TwitterOAuthError as exc:
        return _error_page(request, exc)
    if completed.sign_in:
        # The flow authenticated the user through the backends; rotates the session key.
        login(request, completed.user)
    return HttpResponseRedirect(_next_or_default(request, completed.next_url))


@_public
@never_cache
@require_GET
@_cleansed_reports
@sensitive_variables()
def callback(request: HttpRequest) -> HttpResponse:
    """Where Twitter sends the browser back: complete the flow, or handle ``denied``."""
    if "denied" in request.GET:
        next_url = flow.deny(request, request.GET.get("denied", ""))
        query = f"?{urlencode({'next': next_url})}" if next_url else ""
        return HttpResponseRedirect(f"{reverse('twitter_oauth:denied')}{query}")
    verifier = _consume(request, "oauth_verifier")
    return _finish(request, request.GET.get("oauth_token", ""), verifier)


@_public
@never_cache
@require_GET
def denied(request: HttpRequest) -> HttpResponse:
    """The "you cancelled" page, linking back to the safe ``next``."""
    next_url = _next_or_default(request, flow.safe_next(request, request.GET.get("next")))
    return render(request, "twitter_oauth/denied.html", {"next_url": next_url})


@_public
@never_cache
@require_http_methods(["GET", "POST"])
@_cleansed_reports
@sensitive_post_parameters("pin")
@sensitive_variables()
def pin(request: HttpRequest) -> HttpResponse:
    """The PIN (``oob``) flow: a link to Twitter and a form for the PIN it shows."""
    if request.method == "POST":
        return _finish(
            request,
            request.POST.get("oauth_token", ""),
            "".join(request.POST.get("pin", "").split()),
        )
    # The browser brings the request token; only its hash is stored.
    oauth_token = request.GET.get("oauth_token", "")
    try:
        flow.find_pending(request, oauth_token)
    except TwitterOAuthError as exc:
        return _error_page(request, exc)
    authorization_url = flow.pin_authorization_url(
        oauth_token,
        force_login=_flag(request.GET.get("force_login")),
        screen_name=request.GET.get("screen_name", ""),
    )
    return render(
        request,
        "twitter_oauth/pin.html",
        {"oauth_token": oauth_token, "authorization_url": authorization_url},
    )


@never_cache
@require_POST
@login_required
@_cleansed_reports
@sensitive_variables()
def disconnect(request: HttpRequest) -> HttpResponse:
    """Revoke the signed-in user's token for ``twitter_user_id`` at Twitter, delete it."""
    next_url = flow.safe_next(request, request.POST.get("next"))
    try:
        result = flow.disconnect(request, request.POST.get("twitter_user_id", ""))
    except TwitterOAuthError as exc:
        return _error_page(request, exc, next_url=next_url, authorization=False)
    context: dict[str, Any] = {
        "screen_name": result.token.screen_name,
        "told_twitter": result.told_twitter,
        "next_url": _next_or_default(request, next_url),
    }
    return render(request, "twitter_oauth/disconnected.html", context)
