"""TwitterAPI and AccessToken.api: typed calls on the user's behalf (issue 15.6)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from pytest_django import Settings

from django_twitter_oauth import client as client_module
from django_twitter_oauth.client import TwitterAPI, TwitterClient
from django_twitter_oauth.exceptions import (
    AccessTierError,
    MalformedResponse,
    TokenInvalid,
    TwitterRateLimited,
    TwitterRejected,
)
from django_twitter_oauth.models import AccessToken, TokenEvent
from tests.signing import assert_signed, oauth_params
from tests.utils import SECRET, TOKEN, make_token

API = "https://api.twitter.com"
TWEET = {"data": {"id": "1445880548472328192", "text": "Hello"}}


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def user_api() -> TwitterAPI:
    return TwitterAPI(TOKEN, SECRET)


def sent(api: responses.RequestsMock, index: int = 0) -> requests.PreparedRequest:
    return api.calls[index].request


def content_type(request: requests.PreparedRequest) -> str:
    value: str | bytes = request.headers["Content-Type"]  # requests-oauthlib sets bytes
    return value.decode() if isinstance(value, bytes) else value


def test_get_parses_json_and_signs(api: responses.RequestsMock, user_api: TwitterAPI) -> None:
    api.get(f"{API}/2/users/me", json={"data": {"id": "1", "username": "a"}})

    answer = user_api.get("2/users/me", params={"user.fields": "created_at"})

    assert answer == {"data": {"id": "1", "username": "a"}}
    request = sent(api)
    assert dict(parse_qsl(urlsplit(str(request.url)).query)) == {"user.fields": "created_at"}
    assert oauth_params(request)["oauth_token"] == TOKEN
    assert_signed(request, token_secret=SECRET)


def test_post_json(api: responses.RequestsMock, user_api: TwitterAPI) -> None:
    api.post(f"{API}/2/tweets", status=201, json=TWEET)

    answer = user_api.post("2/tweets", json={"text": "Hello"})

    assert answer == TWEET
    request = sent(api)
    assert json.loads(request.body or b"") == {"text": "Hello"}
    assert content_type(request) == "application/json"
    # A JSON body is not part of the OAuth 1.0a signature.
    assert_signed(request, token_secret=SECRET)


def test_post_form_is_signed(api: responses.RequestsMock, user_api: TwitterAPI) -> None:
    api.post(f"{API}/1.1/statuses/update.json", json={"id_str": "1"})

    user_api.post("1.1/statuses/update.json", data={"status": "Hello Ladies + Gentlemen"})

    request = sent(api)
    assert content_type(request) == "application/x-www-form-urlencoded"
    assert_signed(request, token_secret=SECRET)


@pytest.mark.parametrize(("method", "status"), [("PUT", 200), ("DELETE", 204)])
def test_put_and_delete(
    api: responses.RequestsMock, user_api: TwitterAPI, method: str, status: int
) -> None:
    body = json.dumps({"data": {"hidden": True}}) if status == 200 else ""
    api.add(method, f"{API}/2/tweets/1/hidden", status=status, body=body)

    call = user_api.put if method == "PUT" else user_api.delete
    answer = call("2/tweets/1/hidden", json={"hidden": True})

    assert answer == ({"data": {"hidden": True}} if status == 200 else None)
    assert sent(api).method == method


def test_an_empty_200_is_none(api: responses.RequestsMock, user_api: TwitterAPI) -> None:
    api.delete(f"{API}/2/users/1/following/2", body="  ")

    assert user_api.delete("2/users/1/following/2") is None


def test_not_json_is_malformed(api: responses.RequestsMock, user_api: TwitterAPI) -> None:
    api.get(f"{API}/2/users/me", body="<html>Welcome</html>")

    with pytest.raises(MalformedResponse, match="Twitter's answer to 2/users/me is not JSON."):
        user_api.get("2/users/me")


@pytest.mark.parametrize(
    ("api_url", "path", "url"),
    [
        ("https://api.twitter.com", "2/users/me", "https://api.twitter.com/2/users/me"),
        ("https://api.twitter.com/", "/2/users/me", "https://api.twitter.com/2/users/me"),
        ("https://api.x.com", "https://api.x.com/2/users/me", "https://api.x.com/2/users/me"),
        (
            "http://testserver/sandbox",
            "2/users/me",
            "http://testserver/sandbox/2/users/me",
        ),
    ],
)
def test_paths_join_the_api_url(
    api: responses.RequestsMock, settings: Settings, api_url: str, path: str, url: str
) -> None:
    settings.TWITTER_OAUTH_API_URL = api_url
    api.get(url, json={})

    TwitterAPI(TOKEN, SECRET).get(path)

    assert sent(api).url == url


@pytest.mark.parametrize(
    "path",
    [
        "https://evil.example/2/users/me",
        "//evil.example/2/users/me",
        "http://api.twitter.com/2/users/me",  # not the configured https URL
        "https://api.twitter.com.evil.example/2",
        "\\\\evil.example\\2",
        "",
        "/",
    ],
)
def test_other_hosts_are_refused(
    api: responses.RequestsMock, user_api: TwitterAPI, path: str
) -> None:
    with pytest.raises(ValueError, match="TwitterAPI"):
        user_api.get(path)

    assert len(api.calls) == 0


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, {"errors": [{"code": 89, "message": "Invalid or expired token."}]}, TokenInvalid),
        (401, {"title": "Unauthorized", "type": "about:blank", "status": 401}, TokenInvalid),
        (429, {"title": "Too Many Requests", "status": 429}, TwitterRateLimited),
        (403, {"errors": [{"code": 453, "message": "subset"}]}, AccessTierError),
        (
            403,
            {"title": "Client Forbidden", "type": "https://api.x.com/2/problems/client-forbidden"},
            AccessTierError,
        ),
        (
            403,
            {
                "title": "Forbidden",
                "detail": "You are not allowed to create a Tweet with duplicate content.",
                "type": "about:blank",
                "status": 403,
            },
            TwitterRejected,
        ),
    ],
    ids=["89", "v2-401", "429", "453", "client-forbidden", "v2-403"],
)
def test_errors_are_this_apps_exceptions(
    api: responses.RequestsMock,
    user_api: TwitterAPI,
    status: int,
    body: dict[str, Any],
    error: type[Exception],
) -> None:
    api.post(f"{API}/2/tweets", status=status, json=body, headers={"x-rate-limit-reset": "1"})

    with pytest.raises(error) as info:
        user_api.post("2/tweets", json={"text": "Hello"})

    assert type(info.value) is error
    assert TOKEN not in str(info.value)


def test_errors_are_redacted(api: responses.RequestsMock, user_api: TwitterAPI) -> None:
    api.get(f"{API}/2/users/me", status=400, body=f"bad token {TOKEN} and {SECRET}")

    with pytest.raises(TwitterRejected) as info:
        user_api.get("2/users/me")

    assert info.value.twitter_message == "bad token [redacted] and [redacted]"


def test_the_clients_body_cap_applies(api: responses.RequestsMock, user_api: TwitterAPI) -> None:
    api.get(f"{API}/2/users/me", body="[" + "1," * 40000 + "1]")

    with pytest.raises(MalformedResponse, match="longer than 65536 bytes"):
        user_api.get("2/users/me")


def test_the_clients_timeout_applies(api: responses.RequestsMock) -> None:
    api.get(f"{API}/2/users/me", json={})

    TwitterClient(timeout=2.5).api(TOKEN, SECRET).get("2/users/me")

    timeout = api.calls[0].request.req_kwargs["timeout"]  # type: ignore[attr-defined]
    assert all(2 < value <= 2.5 for value in timeout)


def test_repr_has_no_secret(user_api: TwitterAPI) -> None:
    assert repr(user_api) == "TwitterAPI(api_url='https://api.twitter.com')"


def test_on_invalid_is_called_before_raising(api: responses.RequestsMock) -> None:
    api.get(f"{API}/2/users/me", status=401, json={"title": "Unauthorized", "status": 401})
    seen: list[TokenInvalid] = []

    with pytest.raises(TokenInvalid) as info:
        TwitterAPI(TOKEN, SECRET, on_invalid=seen.append).get("2/users/me")

    assert seen == [info.value]


def test_public() -> None:
    assert "TwitterAPI" in client_module.__all__


# -- AccessToken.api ------------------------------------------------------------------------


@pytest.mark.django_db
def test_token_api_calls_as_the_token(api: responses.RequestsMock) -> None:
    token = make_token(token=TOKEN, secret=SECRET)
    api.post(f"{API}/2/tweets", status=201, json=TWEET)

    assert token.api.post("2/tweets", json={"text": "Hello"}) == TWEET

    assert oauth_params(sent(api))["oauth_token"] == TOKEN
    assert_signed(sent(api), token_secret=SECRET)
    assert not TokenEvent.objects.exists()


@pytest.mark.django_db
def test_token_api_records_an_invalid_token(api: responses.RequestsMock) -> None:
    token = make_token(token=TOKEN, secret=SECRET)
    api.get(
        f"{API}/1.1/account/settings.json",
        status=401,
        json={"errors": [{"code": 89, "message": "Invalid or expired token."}]},
    )

    with pytest.raises(TokenInvalid):
        token.api.get("1.1/account/settings.json")

    event = TokenEvent.objects.get()
    assert (event.action, event.twitter_user_id, event.user_id, event.reason) == (
        TokenEvent.Action.FOUND_INVALID,
        token.twitter_user_id,
        token.user_id,
        "api: 1.1/account/settings.json",
    )
    # Recorded, not decided: the token stays for the site (or staff) to act on.
    assert AccessToken.objects.filter(pk=token.pk).exists()


@pytest.mark.django_db
def test_token_api_records_nothing_for_other_errors(api: responses.RequestsMock) -> None:
    token = make_token(token=TOKEN, secret=SECRET)
    api.get(f"{API}/2/users/me", status=429, json={"title": "Too Many Requests"})

    with pytest.raises(TwitterRateLimited):
        token.api.get("2/users/me")

    assert not TokenEvent.objects.exists()


@pytest.mark.django_db
def test_session_stays(api: responses.RequestsMock) -> None:
    token = make_token(token=TOKEN, secret=SECRET)
    api.get(f"{API}/2/users/me", json={})

    with token.session() as session:
        assert session.get(f"{API}/2/users/me").json() == {}
