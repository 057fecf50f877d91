"""Django's DEBUG 500 page for a crash in the middle of an authorization shows no
credential: not in frame locals (``sensitive_variables``), not in the request (the
verifier is blanked in its query string, the PIN in its POST data)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import DatabaseError
from django.test import Client
from pytest_django import Settings

from django_twitter_oauth.backends import TwitterBackend
from django_twitter_oauth.client import AccessTokenResult, TwitterClient
from django_twitter_oauth.models import AccessToken
from django_twitter_oauth.testing import FakeTwitter
from tests.utils import make_token, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def issued(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[AccessTokenResult]]:
    """The access tokens Twitter hands out during the test."""
    results: list[AccessTokenResult] = []
    original = TwitterClient.fetch_access_token

    def spy(self: TwitterClient, *args: Any, **kwargs: Any) -> AccessTokenResult:
        result = original(self, *args, **kwargs)
        results.append(result)
        return result

    monkeypatch.setattr(TwitterClient, "fetch_access_token", spy)
    yield results


@pytest.fixture
def debug_client(settings: Settings) -> Client:
    settings.DEBUG = True
    return Client(raise_request_exception=False)


def start(client: Client) -> str:
    response = client.post("/twitter/begin/")
    assert response.status_code == 302
    location = urllib.parse.urlsplit(response["Location"])
    return urllib.parse.parse_qs(location.query)["oauth_token"][0]


def crash_page(client: Client, fake_twitter: FakeTwitter, *, pin: bool) -> tuple[str, str]:
    """Complete a sign-in of a linked account (by the callback, or the PIN form);
    return the 500 page and the verifier."""
    oauth_token = start(client)
    verifier = fake_twitter.approve(oauth_token, user_id="42", screen_name="jack")
    if pin:
        response = client.post("/twitter/pin/", {"oauth_token": oauth_token, "pin": verifier})
    else:
        response = client.get(fake_twitter.redirect_url(oauth_token, verifier))
    assert response.status_code == 500
    page = response.content.decode()
    assert "Traceback" in page  # Django's technical 500 page, with frame locals
    return page, verifier


def assert_absent(page: str, *values: str) -> None:
    for value in values:
        assert len(value) >= 7
        assert value not in page
        assert urllib.parse.quote(value, safe="") not in page


def break_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    def save(self: AccessToken, *args: Any, **kwargs: Any) -> None:
        raise DatabaseError("disk I/O error")

    monkeypatch.setattr(AccessToken, "save", save)


def break_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    def authenticate(self: TwitterBackend, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug in an authentication backend")

    monkeypatch.setattr(TwitterBackend, "authenticate", authenticate)


@pytest.mark.parametrize("pin", [False, True], ids=["callback", "pin"])
@pytest.mark.parametrize("breakage", [break_the_database, break_the_backend])
def test_a_crash_after_the_exchange_shows_no_credential(
    debug_client: Client,
    fake_twitter: FakeTwitter,
    issued: list[AccessTokenResult],
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    breakage: Any,
    pin: bool,
) -> None:
    if pin:
        settings.TWITTER_OAUTH_CALLBACK_URL = "oob"
    make_token(make_user(), twitter_user_id="42", screen_name="jack")
    breakage(monkeypatch)
    page, verifier = crash_page(debug_client, fake_twitter, pin=pin)
    [result] = issued
    assert_absent(page, result.token, result.secret, verifier)
    # The page still says where it broke.
    assert "_store" in page
