"""TwitterClient.identify: who a token belongs to, through v2 by default (issue 15.2),
with opt-in email through v1.1."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from pytest_django import Settings

from django_twitter_oauth.client import Credentials, TwitterClient
from django_twitter_oauth.exceptions import (
    AccessTierError,
    MalformedResponse,
    TokenInvalid,
    TwitterRateLimited,
)
from tests.signing import assert_signed, oauth_params

API = "https://api.twitter.com"
ME = f"{API}/2/users/me"
V1 = f"{API}/1.1/account/verify_credentials.json"
TOKEN = "6253282-eWudHldSbIaelX7swmsiHImEL4KinwaGloHANdrY"
SECRET = "2EEfA6BG5ly3sR3XjE0IBSnlQu4ZrUzPiYTmrkVU"
V2_USER = {"id": "6253282", "name": "Twitter API", "username": "twitterapi"}
V1_USER = {"id": 6253282, "id_str": "6253282", "screen_name": "twitterapi", "name": "Twitter API"}
TIER_453 = {"errors": [{"code": 453, "message": "You currently have access to a subset."}]}


@pytest.fixture
def api() -> Any:
    with responses.RequestsMock() as mock:
        yield mock


def query(request: Any) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.url).query))


@pytest.mark.parametrize(
    ("headers", "level"), [({"x-access-level": "read-write"}, "read-write"), ({}, None)]
)
def test_identify_through_v2_by_default(
    api: responses.RequestsMock, headers: dict[str, str], level: str | None
) -> None:
    api.get(ME, json={"data": V2_USER}, headers=headers)

    credentials = TwitterClient().identify(TOKEN, SECRET)

    assert credentials == Credentials(
        user_id="6253282",
        screen_name="twitterapi",
        access_level=level,
        data=V2_USER,
        name="Twitter API",
    )
    request = api.calls[0].request
    assert request.url == ME
    assert oauth_params(request)["oauth_token"] == TOKEN
    assert_signed(request, token_secret=SECRET)


def test_identify_without_a_name(api: responses.RequestsMock) -> None:
    api.get(ME, json={"data": {"id": "1", "username": "a"}})

    assert TwitterClient().identify(TOKEN, SECRET).name == ""


def test_identify_through_v1_when_configured(
    api: responses.RequestsMock, settings: Settings
) -> None:
    settings.TWITTER_OAUTH_VERIFY_ENDPOINT = "1.1/account/verify_credentials.json"
    api.get(V1, json=V1_USER, headers={"x-access-level": "read"})

    credentials = TwitterClient().identify(TOKEN, SECRET)

    assert (credentials.user_id, credentials.screen_name, credentials.access_level) == (
        "6253282",
        "twitterapi",
        "read",
    )
    assert (credentials.name, credentials.email) == ("Twitter API", None)
    assert "include_email" not in query(api.calls[0].request)


def test_the_endpoint_can_be_given_to_the_client(api: responses.RequestsMock) -> None:
    api.get(V1, json=V1_USER)

    client = TwitterClient(verify_endpoint="1.1/account/verify_credentials.json")

    assert client.identify(TOKEN, SECRET).user_id == "6253282"


@pytest.mark.parametrize("setting", ["2/users/me", "1.1/account/verify_credentials.json"])
def test_email_is_asked_of_v1_once(
    api: responses.RequestsMock, settings: Settings, setting: str
) -> None:
    settings.TWITTER_OAUTH_VERIFY_ENDPOINT = setting
    api.get(V1, json={**V1_USER, "email": "jack@example.com"})

    credentials = TwitterClient().identify(TOKEN, SECRET, include_email=True)

    assert credentials.email == "jack@example.com"
    assert "example.com" not in repr(credentials)
    assert len(api.calls) == 1
    assert query(api.calls[0].request) == {
        "skip_status": "true",
        "include_entities": "false",
        "include_email": "true",
    }
    assert_signed(api.calls[0].request, token_secret=SECRET)


def test_email_on_the_free_tier_falls_back_to_v2(
    api: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    api.get(V1, status=403, json=TIER_453)
    api.get(ME, json={"data": V2_USER})

    with caplog.at_level(logging.INFO, logger="django_twitter_oauth.client"):
        credentials = TwitterClient().identify(TOKEN, SECRET, include_email=True)

    assert (credentials.user_id, credentials.email) == ("6253282", None)
    assert [str(call.request.url).split("?")[0] for call in api.calls] == [V1, ME]
    assert (
        "No email from Twitter: the app's access tier does not include "
        "1.1/account/verify_credentials.json (error 453); identifying the user through "
        "2/users/me instead."
    ) in caplog.messages


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({}, "Request email from users"),
        ({"email": ""}, "Request email from users"),
        ({"email": "not an address"}, "does not accept"),
        ({"email": 42}, "does not accept"),
        ({"email": "a@" + "b" * 250 + ".com"}, "does not accept"),
    ],
    ids=["absent", "empty", "invalid", "not-text", "too-long"],
)
def test_no_email_is_logged(
    api: responses.RequestsMock, caplog: pytest.LogCaptureFixture, extra: dict[str, Any], why: str
) -> None:
    api.get(V1, json={**V1_USER, **extra})

    with caplog.at_level(logging.INFO, logger="django_twitter_oauth.client"):
        credentials = TwitterClient().identify(TOKEN, SECRET, include_email=True)

    assert (credentials.user_id, credentials.email) == ("6253282", None)
    assert any(why in message for message in caplog.messages)
    assert not any("not an address" in message for message in caplog.messages)


def test_verify_credentials_stays_public(api: responses.RequestsMock) -> None:
    api.get(V1, json={**V1_USER, "email": "jack@example.com"})

    credentials = TwitterClient().verify_credentials(TOKEN, SECRET)

    # Not asked for: not returned, even when the answer holds one.
    assert credentials.email is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html></html>", "is not JSON"),
        ("[]", "is not a JSON object"),
        ("{}", "lacked data"),
        ('{"data": []}', "lacked data"),
        ('{"errors": [{"detail": "Not Found"}]}', "lacked data"),
        ('{"data": {"username": "a"}}', "lacked the user id"),
        ('{"data": {"id": 1, "username": "a"}}', "lacked the user id"),
        ('{"data": {"id": "1"}}', "lacked the screen name"),
        ('{"data": {"id": "1", "username": ""}}', "lacked the screen name"),
        ('{"data": {"id": "1x", "username": "a"}}', "has a malformed user id"),
        (json.dumps({"data": {"id": "1", "username": "a" * 300}}), "has a malformed screen name"),
        (json.dumps({"data": {"id": "1", "username": "a", "name": "n" * 51}}), "malformed name"),
        (json.dumps({"data": {"id": "1", "username": "a", "name": "a\x00b"}}), "malformed name"),
        (json.dumps({"data": {"id": "1", "username": "a", "name": 5}}), "malformed name"),
    ],
)
def test_v2_answers_out_of_shape(api: responses.RequestsMock, body: str, message: str) -> None:
    api.get(ME, body=body)

    with pytest.raises(MalformedResponse, match=message) as info:
        TwitterClient().identify(TOKEN, SECRET)

    assert info.value.endpoint == "2/users/me"


def test_v1_name_out_of_shape(api: responses.RequestsMock) -> None:
    api.get(V1, json={**V1_USER, "name": "x\x00"})

    with pytest.raises(MalformedResponse, match="malformed name"):
        TwitterClient().verify_credentials(TOKEN, SECRET)


def test_v2_401_is_token_invalid(api: responses.RequestsMock) -> None:
    problem = {
        "title": "Unauthorized",
        "type": "about:blank",
        "status": 401,
        "detail": "Unauthorized",
    }
    api.get(ME, status=401, json=problem)

    with pytest.raises(TokenInvalid) as info:
        TwitterClient().identify(TOKEN, SECRET)

    assert str(info.value) == (
        "Twitter says the token sent to 2/users/me is invalid or expired (HTTP 401, Unauthorized)."
    )


def test_v2_429_is_rate_limited(api: responses.RequestsMock) -> None:
    problem = {"title": "Too Many Requests", "type": "about:blank", "status": 429}
    api.get(
        ME,
        status=429,
        json=problem,
        headers={"x-rate-limit-reset": "1705420800", "x-rate-limit-remaining": "0"},
    )

    with pytest.raises(TwitterRateLimited) as info:
        TwitterClient().identify(TOKEN, SECRET)

    assert info.value.reset_at == dt.datetime(2024, 1, 16, 16, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    "body",
    [
        {
            "title": "Client Forbidden",
            "detail": "This request must be made using an approved developer account.",
            "reason": "client-not-enrolled",
            "type": "https://api.twitter.com/2/problems/client-forbidden",
        },
        TIER_453,
    ],
    ids=["client-forbidden", "453"],
)
def test_v2_tier_refusal_is_an_access_tier_error(
    api: responses.RequestsMock, body: dict[str, Any]
) -> None:
    api.get(ME, status=403, json=body)

    with pytest.raises(AccessTierError) as info:
        TwitterClient().identify(TOKEN, SECRET)

    assert str(info.value).startswith(
        "The app's X API access tier does not include 2/users/me (HTTP 403"
    )
    assert "TWITTER_OAUTH_VERIFY_ENDPOINT" not in str(info.value)
