from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from requests_oauthlib import OAuth1Session

from benchmarks.floor.models import TwitterAccount

SESSION_KEY = "floor_request_token"


def _twitter(
    callback: str | None = None, key: str | None = None, secret: str | None = None
) -> OAuth1Session:
    return OAuth1Session(
        settings.TWITTER_OAUTH_CONSUMER_KEY,
        client_secret=settings.TWITTER_OAUTH_CONSUMER_SECRET,
        callback_uri=callback,
        resource_owner_key=key,
        resource_owner_secret=secret,
    )


def _api(path: str) -> str:
    api_url: str = getattr(settings, "TWITTER_OAUTH_API_URL", "https://api.x.com")
    return f"{api_url.rstrip('/')}/{path}"


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "floor/home.html")


@require_POST
def begin(request: HttpRequest) -> HttpResponse:
    callback = request.build_absolute_uri(reverse("floor:callback"))
    token = _twitter(callback).fetch_request_token(_api("oauth/request_token"))
    request.session[SESSION_KEY] = [token["oauth_token"], token["oauth_token_secret"]]
    return redirect(f"{_api('oauth/authenticate')}?oauth_token={token['oauth_token']}")


def callback(request: HttpRequest) -> HttpResponse:
    key, secret = request.session.pop(SESSION_KEY, ("", ""))
    if not key or request.GET.get("oauth_token") != key:
        return HttpResponseBadRequest("no sign-in in progress")
    twitter = _twitter(key=key, secret=secret)
    access = twitter.fetch_access_token(_api("oauth/access_token"), request.GET["oauth_verifier"])
    fields = {
        "screen_name": access["screen_name"],
        "token": access["oauth_token"],
        "secret": access["oauth_token_secret"],
    }
    uid = access["user_id"]
    account = TwitterAccount.objects.select_related("user").filter(twitter_user_id=uid).first()
    if request.user.is_authenticated:  # connect: link the account to the signed-in user
        user = request.user
    elif account is not None:  # sign-in
        user = account.user
    else:  # sign-up
        user = get_user_model().objects.create_user(access["screen_name"])
    if account is None:
        TwitterAccount.objects.create(user=user, twitter_user_id=uid, **fields)
    else:
        TwitterAccount.objects.filter(pk=account.pk).update(user=user, **fields)
    if not request.user.is_authenticated:
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect(reverse("floor:home"))
