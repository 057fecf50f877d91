"""FakeTwitter: the fake answering ``requests`` in-process, driven through TwitterClient.

What the client sends must be accepted, and what a broken or hostile client would send
must be refused with Twitter's status and body, both seen through the client's
exceptions and through raw ``requests`` calls.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import responses
from requests_oauthlib import OAuth1

from django_twitter_oauth.client import TwitterClient
from django_twitter_oauth.exceptions import (
    CallbackNotApproved,
    ConfigurationRejected,
    TokenInvalid,
    TwitterError,
    TwitterRateLimited,
    TwitterRejected,
    TwitterUnavailable,
)
from django_twitter_oauth.testing import store as store_module
from django_twitter_oauth.testing.fake import FakeCall, FakeTwitter

API = "https://api.twitter.com"
KEY = "tests-consumer-key"
SECRET = "tests-consumer-secret"
CALLBACK = "https://example.com/twitter/callback/"
INVALID_REQUEST_TOKEN = "Invalid request token."
INVALID_VERIFIER = "Error processing your OAuth request: Invalid oauth_verifier parameter"


@pytest.fixture
def client() -> TwitterClient:
    return TwitterClient()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[requests.PreparedRequest]:
    """Every request sent through requests, as it went out (signed)."""
    captured: list[requests.PreparedRequest] = []
    real_send = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        captured.append(request.copy())
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send)
    return captured


def tamper(
    monkeypatch: pytest.MonkeyPatch, change: Callable[[requests.PreparedRequest], None]
) -> None:
    """Change every request after it was signed and before it reaches the fake."""
    real_send = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        change(request)
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send)


def resend(request: requests.PreparedRequest) -> requests.Response:
    with requests.Session() as session:
        return session.send(request)


def twitter_code(response: requests.Response) -> tuple[int, int]:
    return response.status_code, response.json()["errors"][0]["code"]


def flow(
    fake: FakeTwitter,
    client: TwitterClient,
    callback: str = CALLBACK,
    access_type: str | None = None,
    **user: Any,
) -> tuple[str, str]:
    """Request token, approval, access token: the access token and secret."""
    pending = client.fetch_request_token(callback, access_type=access_type)
    verifier = fake.approve(pending.token, **user)
    result = client.fetch_access_token(pending.token, pending.secret, verifier)
    return result.token, result.secret


# The site's configuration (codes 32, 135, 417): the client's type says so.
CONFIG = ConfigurationRejected


def expect_error(
    call: Callable[[], object], kind: type[TwitterError] = TwitterRejected
) -> TwitterError:
    with pytest.raises(kind) as info:
        call()
    assert type(info.value) is kind
    return info.value


# -- the client's flow is accepted ----------------------------------------------------------


@pytest.mark.parametrize(
    ("access_type", "level"), [(None, "read-write"), ("read", "read"), ("write", "read-write")]
)
def test_full_flow(
    fake_twitter: FakeTwitter, client: TwitterClient, access_type: str | None, level: str
) -> None:
    pending = client.fetch_request_token(CALLBACK, access_type=access_type)
    redirect = fake_twitter.authorize(pending.token, user_id="6253282", screen_name="twitterapi")

    assert redirect.startswith(CALLBACK + "?")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(redirect).query))
    assert query["oauth_token"] == pending.token
    result = client.fetch_access_token(pending.token, pending.secret, query["oauth_verifier"])
    assert (result.user_id, result.screen_name, result.access_level) == (
        "6253282",
        "twitterapi",
        level,
    )
    assert fake_twitter.access_token_valid(result.token)

    credentials = client.verify_credentials(result.token, result.secret)
    assert (credentials.user_id, credentials.screen_name, credentials.access_level) == (
        "6253282",
        "twitterapi",
        level,
    )

    client.invalidate_token(result.token, result.secret)
    assert not fake_twitter.access_token_valid(result.token)
    error = expect_error(
        lambda: client.verify_credentials(result.token, result.secret), TokenInvalid
    )
    assert (error.status_code, error.code) == (401, 89)
    assert [(c.endpoint, c.method, c.status) for c in fake_twitter.calls] == [
        ("oauth/request_token", "POST", 200),
        ("oauth/access_token", "POST", 200),
        ("1.1/account/verify_credentials.json", "GET", 200),
        ("1.1/oauth/invalidate_token", "POST", 200),
        ("1.1/account/verify_credentials.json", "GET", 401),
    ]


def test_pin_flow(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    pending = client.fetch_request_token("oob")

    pin = fake_twitter.approve(pending.token, screen_name="jack")

    assert len(pin) == 7
    with pytest.raises(ValueError, match="no callback URL"):
        fake_twitter.redirect_url(pending.token, pin)
    result = client.fetch_access_token(pending.token, pending.secret, pin)
    assert result.screen_name == "jack"


def test_callback_query_string_is_kept(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    pending = client.fetch_request_token(CALLBACK + "?next=%2Fhome")

    redirect = fake_twitter.authorize(pending.token)

    assert redirect.startswith(f"{CALLBACK}?next=%2Fhome&oauth_token={pending.token}&")


def test_session_calls_reach_the_fake(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    token, secret = flow(fake_twitter, client, screen_name="jack")

    with client.session(token, secret) as session:
        response = session.get(f"{API}/1.1/account/verify_credentials.json")

    assert response.json()["screen_name"] == "jack"
    assert response.headers["x-access-level"] == "read-write"


def test_add_access_token(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    fake_twitter.add_access_token(
        "42-abc", "secret", user_id="42", screen_name="held", access_level="read"
    )

    credentials = client.verify_credentials("42-abc", "secret")

    assert (credentials.user_id, credentials.screen_name, credentials.access_level) == (
        "42",
        "held",
        "read",
    )
    client.invalidate_token("42-abc", "secret")
    assert not fake_twitter.access_token_valid("42-abc")


def test_bytes_header_values(fake_twitter: FakeTwitter) -> None:
    # requests accepts header values as bytes (requests-oauthlib sends the
    # Authorization header so); the fake reads both.
    request = requests.Request(
        "POST",
        f"{API}/oauth/request_token",
        auth=OAuth1(KEY, SECRET, callback_uri=CALLBACK),
        headers={"X-Text": "text", "X-Bytes": b"bytes"},
    ).prepare()

    response = resend(request)

    assert response.status_code == 200
    assert "oauth_callback_confirmed=true" in response.text


# -- what is refused ------------------------------------------------------------------------


def test_wrong_consumer_secret(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    wrong = TwitterClient(consumer_secret="wrong")

    error = expect_error(lambda: wrong.fetch_request_token(CALLBACK), CONFIG)
    assert (error.status_code, error.code, error.twitter_message) == (
        401,
        32,
        "Could not authenticate you.",
    )
    response = requests.post(
        f"{API}/oauth/request_token", auth=OAuth1(KEY, "wrong", callback_uri=CALLBACK), timeout=5
    )
    assert response.json() == {"errors": [{"code": 32, "message": "Could not authenticate you."}]}
    assert response.status_code == 401

    token, secret = flow(fake_twitter, client)
    error = expect_error(lambda: wrong.verify_credentials(token, secret), CONFIG)
    assert (error.status_code, error.code) == (401, 32)
    error = expect_error(lambda: wrong.invalidate_token(token, secret), CONFIG)
    assert (error.status_code, error.code) == (401, 32)
    assert fake_twitter.access_token_valid(token)


def test_unknown_consumer_key(fake_twitter: FakeTwitter) -> None:
    stranger = TwitterClient(consumer_key="stranger", consumer_secret=SECRET)

    error = expect_error(lambda: stranger.fetch_request_token(CALLBACK), CONFIG)

    assert (error.status_code, error.code) == (401, 32)


def test_wrong_token_secret(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    pending = client.fetch_request_token(CALLBACK)
    verifier = fake_twitter.approve(pending.token)

    error = expect_error(
        lambda: client.fetch_access_token(pending.token, "wrong", verifier), CONFIG
    )
    assert (error.status_code, error.code) == (401, 32)

    result = client.fetch_access_token(pending.token, pending.secret, verifier)
    for call in (client.verify_credentials, client.invalidate_token):
        error = expect_error(functools.partial(call, result.token, "wrong"), CONFIG)
        assert (error.status_code, error.code) == (401, 32)
    assert fake_twitter.access_token_valid(result.token)


def test_tampered_access_type(
    fake_twitter: FakeTwitter, client: TwitterClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.fetch_request_token(CALLBACK, access_type="read")  # accepted untouched

    def upgrade(request: requests.PreparedRequest) -> None:
        assert request.url is not None
        request.url = request.url.replace("x_auth_access_type=read", "x_auth_access_type=write")

    tamper(monkeypatch, upgrade)

    error = expect_error(lambda: client.fetch_request_token(CALLBACK, access_type="read"), CONFIG)
    assert (error.status_code, error.code) == (401, 32)
    assert fake_twitter.calls[-1].url.endswith("x_auth_access_type=write")


def test_tampered_query(
    fake_twitter: FakeTwitter, client: TwitterClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, secret = flow(fake_twitter, client)

    def change(request: requests.PreparedRequest) -> None:
        assert request.url is not None
        request.url = request.url.replace("skip_status=true", "skip_status=false")

    tamper(monkeypatch, change)

    error = expect_error(lambda: client.verify_credentials(token, secret), CONFIG)
    assert (error.status_code, error.code) == (401, 32)


def test_tampered_body(
    fake_twitter: FakeTwitter, client: TwitterClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, secret = flow(fake_twitter, client)
    url = f"{API}/1.1/oauth/invalidate_token"

    def change(request: requests.PreparedRequest) -> None:
        assert request.body == b"reason=spam"
        request.body = b"reason=ham"

    tamper(monkeypatch, change)
    with client.session(token, secret) as session:
        response = session.post(url, data={"reason": "spam"})

    assert twitter_code(response) == (401, 32)
    assert fake_twitter.access_token_valid(token)
    monkeypatch.undo()
    with client.session(token, secret) as session:
        assert session.post(url, data={"reason": "spam"}).status_code == 200


def test_replayed_requests(
    fake_twitter: FakeTwitter, client: TwitterClient, sent: list[requests.PreparedRequest]
) -> None:
    pending = client.fetch_request_token(CALLBACK)
    verifier = fake_twitter.approve(pending.token)
    result = client.fetch_access_token(pending.token, pending.secret, verifier)
    client.verify_credentials(result.token, result.secret)
    assert len(sent) == 3

    for request in list(sent):
        response = resend(request)
        assert twitter_code(response) == (401, 32)
        assert response.json()["errors"][0]["message"] == "Could not authenticate you."
    # The same calls, signed anew, still work.
    client.fetch_request_token(CALLBACK)
    client.verify_credentials(result.token, result.secret)


def test_stale_timestamp(client: TwitterClient) -> None:
    with FakeTwitter(clock=lambda: time.time() + 3600) as fake:
        error = expect_error(lambda: client.fetch_request_token(CALLBACK), CONFIG)
        assert (error.status_code, error.code, error.twitter_message) == (
            401,
            135,
            "Timestamp out of bounds.",
        )
        assert "clock" in str(error)
        assert fake.count("oauth/request_token") == 1
    with FakeTwitter(clock=lambda: time.time() + 200):
        assert client.fetch_request_token(CALLBACK).token


def test_reused_request_token(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    pending = client.fetch_request_token(CALLBACK)
    verifier = fake_twitter.approve(pending.token)
    client.fetch_access_token(pending.token, pending.secret, verifier)

    error = expect_error(lambda: client.fetch_access_token(pending.token, pending.secret, verifier))

    assert (error.status_code, error.code, error.twitter_message) == (
        401,
        None,
        INVALID_REQUEST_TOKEN,
    )
    with pytest.raises(LookupError):
        fake_twitter.approve(pending.token)


def test_verifier_of_another_request_token(
    fake_twitter: FakeTwitter, client: TwitterClient
) -> None:
    first = client.fetch_request_token(CALLBACK)
    second = client.fetch_request_token(CALLBACK)
    fake_twitter.approve(first.token)
    second_verifier = fake_twitter.approve(second.token)

    error = expect_error(
        lambda: client.fetch_access_token(first.token, first.secret, second_verifier)
    )

    assert (error.status_code, error.code, error.twitter_message) == (401, None, INVALID_VERIFIER)
    # The verifier is still good for its own token, once.
    client.fetch_access_token(second.token, second.secret, second_verifier)
    error = expect_error(
        lambda: client.fetch_access_token(second.token, second.secret, second_verifier)
    )
    assert error.twitter_message == INVALID_REQUEST_TOKEN


def test_request_token_of_another_consumer(
    fake_twitter: FakeTwitter, client: TwitterClient
) -> None:
    fake_twitter.provider.add_consumer("second-key", "second-secret")
    second = TwitterClient(consumer_key="second-key", consumer_secret="second-secret")
    pending = client.fetch_request_token(CALLBACK)
    verifier = fake_twitter.approve(pending.token)

    error = expect_error(lambda: second.fetch_access_token(pending.token, pending.secret, verifier))

    assert (error.status_code, error.twitter_message) == (401, INVALID_REQUEST_TOKEN)
    assert second.fetch_request_token(CALLBACK).token  # the second app itself is fine
    assert client.fetch_access_token(pending.token, pending.secret, verifier).token


def test_revoked_access_token(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    token, secret = flow(fake_twitter, client)

    assert fake_twitter.invalidate(token)
    assert not fake_twitter.invalidate(token)

    for call in (client.verify_credentials, client.invalidate_token):
        error = expect_error(functools.partial(call, token, secret), TokenInvalid)
        assert (error.status_code, error.code, error.twitter_message) == (
            401,
            89,
            "Invalid or expired token.",
        )


def test_missing_oauth_params(fake_twitter: FakeTwitter) -> None:
    for endpoint in ("oauth/request_token", "oauth/access_token", "1.1/oauth/invalidate_token"):
        response = requests.post(f"{API}/{endpoint}", timeout=5)
        assert twitter_code(response) == (400, 215)
    assert twitter_code(requests.get(f"{API}/1.1/account/verify_credentials.json", timeout=5)) == (
        400,
        215,
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "1.1/statuses/home_timeline.json"),
        ("DELETE", "2/tweets"),
        ("GET", "2/users/by/username/jack"),
        ("GET", "oauth/request_token"),
        ("DELETE", "oauth/access_token"),
        ("PUT", "1.1/oauth/invalidate_token"),
        ("PATCH", "1.1/account/verify_credentials.json"),
        ("OPTIONS", "oauth/request_token"),
        ("POST", "oauth/authorize"),
        ("GET", ""),
    ],
)
def test_unknown_endpoint_or_method(fake_twitter: FakeTwitter, method: str, path: str) -> None:
    response = requests.request(method, f"{API}/{path}", timeout=5)

    assert twitter_code(response) == (404, 34)
    assert response.json()["errors"][0]["message"] == "Sorry, that page does not exist."
    assert response.headers["content-type"] == "application/json; charset=utf-8"


def test_head_gets_a_404(fake_twitter: FakeTwitter) -> None:
    response = requests.head(f"{API}/oauth/request_token", timeout=5)

    assert (response.status_code, response.content) == (404, b"")
    assert fake_twitter.calls[-1].method == "HEAD"


# -- callbacks ------------------------------------------------------------------------------


def test_callback_allow_list(client: TwitterClient) -> None:
    with FakeTwitter(callback_urls=[CALLBACK]) as fake:
        assert client.fetch_request_token(CALLBACK).token
        assert client.fetch_request_token(CALLBACK + "?next=%2Fhome").token
        assert client.fetch_request_token("oob").token

        error = expect_error(
            lambda: client.fetch_request_token("https://example.com/other/"), CallbackNotApproved
        )
        assert (error.status_code, error.code) == (403, 415)
        assert "https://example.com/other/" in str(error)
        assert fake.count("oauth/request_token") == 4


def test_no_callback_urls_means_pin_only(client: TwitterClient) -> None:
    with FakeTwitter(callback_urls=[]):
        error = expect_error(lambda: client.fetch_request_token(CALLBACK), CONFIG)
        assert (error.status_code, error.code) == (401, 417)
        assert error.twitter_message == (
            "Desktop applications only support the oauth_callback value 'oob'"
        )
        assert "add a callback URL" in str(error)

        response = requests.post(
            f"{API}/oauth/request_token", auth=OAuth1(KEY, SECRET, callback_uri=CALLBACK), timeout=5
        )
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/xml; charset=utf-8"
        assert '<error code="417">' in response.text

        assert client.fetch_request_token("oob").token


# -- lifetimes and races --------------------------------------------------------------------


def test_request_token_lifetime(
    fake_twitter: FakeTwitter, client: TwitterClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(store_module, "time", type("Time", (), {"monotonic": lambda: clock[0]}))
    fake_twitter.provider.request_token_lifetime = 900
    pending = client.fetch_request_token(CALLBACK)
    verifier = fake_twitter.approve(pending.token)

    clock[0] += 901

    error = expect_error(lambda: client.fetch_access_token(pending.token, pending.secret, verifier))
    assert (error.status_code, error.twitter_message) == (401, INVALID_REQUEST_TOKEN)
    with pytest.raises(LookupError):
        fake_twitter.approve(pending.token)


def test_concurrent_exchanges_of_one_request_token(
    fake_twitter: FakeTwitter, client: TwitterClient
) -> None:
    pending = client.fetch_request_token(CALLBACK)
    verifier = fake_twitter.approve(pending.token)
    barrier = threading.Barrier(8, timeout=5)
    outcomes: list[object] = []

    def exchange() -> None:
        barrier.wait()
        try:
            outcomes.append(client.fetch_access_token(pending.token, pending.secret, verifier))
        except TwitterRejected as exc:
            outcomes.append(exc.twitter_message)

    threads = [threading.Thread(target=exchange) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(outcomes) == 8
    assert sorted(map(str, outcomes)).count(INVALID_REQUEST_TOKEN) == 7
    assert fake_twitter.count("oauth/access_token") == 8


# -- faults ---------------------------------------------------------------------------------


def test_fail(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    body = json.dumps({"errors": [{"code": 131, "message": "Internal error."}]})
    fake_twitter.fail(
        "oauth/request_token", status=500, body=body, headers={"x-fault": "yes"}, times=2
    )

    for _ in range(2):
        error = expect_error(lambda: client.fetch_request_token(CALLBACK), TwitterUnavailable)
        assert (error.status_code, error.code, error.twitter_message) == (
            500,
            131,
            "Internal error.",
        )
    response = requests.post(
        f"{API}/oauth/request_token", auth=OAuth1(KEY, SECRET, callback_uri=CALLBACK), timeout=5
    )
    assert response.status_code == 200  # normal again

    fake_twitter.fail("oauth/request_token", status=503, headers={"x-fault": "yes"})
    response = requests.post(f"{API}/oauth/request_token", timeout=5)
    assert (response.status_code, response.text, response.headers["x-fault"]) == (503, "", "yes")
    assert [c.status for c in fake_twitter.calls] == [500, 500, 200, 503]


def test_fail_with_a_refusal(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    token, secret = flow(fake_twitter, client)
    fake_twitter.fail(
        "1.1/account/verify_credentials.json",
        status=403,
        body=json.dumps(
            {"errors": [{"code": 326, "message": "This account is temporarily locked."}]}
        ),
    )

    error = expect_error(lambda: client.verify_credentials(token, secret))

    assert (error.status_code, error.code) == (403, 326)
    assert client.verify_credentials(token, secret).user_id == "1000001"


def test_fail_unknown_endpoint(fake_twitter: FakeTwitter) -> None:
    adds: list[Callable[[], None]] = [
        lambda: fake_twitter.fail("oauth/nope"),
        lambda: fake_twitter.fail_connection("1.1/statuses/update.json"),
        lambda: fake_twitter.fail_timeout("oauth/request_token/"),
        lambda: fake_twitter.delay("", 1),
        lambda: fake_twitter.rate_limit("https://api.twitter.com/oauth/request_token"),
    ]
    for add in adds:
        with pytest.raises(ValueError, match="Unknown endpoint"):
            add()


def test_fail_connection(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    fake_twitter.fail_connection("oauth/request_token", times=2)

    error = expect_error(lambda: client.fetch_request_token(CALLBACK), TwitterUnavailable)
    assert isinstance(error.__cause__, requests.ConnectionError)
    assert error.status_code is None
    with pytest.raises(requests.ConnectionError, match="injected connection error"):
        requests.post(f"{API}/oauth/request_token", timeout=5)
    assert client.fetch_request_token(CALLBACK).token
    assert [c.status for c in fake_twitter.calls] == [None, None, 200]


def test_fail_timeout(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    fake_twitter.fail_timeout("1.1/oauth/invalidate_token.json")
    token, secret = flow(fake_twitter, client)

    with pytest.raises(requests.ReadTimeout, match="injected timeout"):
        requests.post(f"{API}/1.1/oauth/invalidate_token", timeout=5)
    fake_twitter.fail_timeout("1.1/oauth/invalidate_token")
    error = expect_error(lambda: client.invalidate_token(token, secret), TwitterUnavailable)
    assert isinstance(error.__cause__, requests.ReadTimeout)
    assert fake_twitter.access_token_valid(token)
    assert fake_twitter.calls[-1] == FakeCall(
        "1.1/oauth/invalidate_token", "POST", f"{API}/1.1/oauth/invalidate_token", None
    )


def test_delay(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    fake_twitter.delay("oauth/request_token", 0.05)

    started = time.monotonic()
    assert client.fetch_request_token(CALLBACK).token
    assert time.monotonic() - started >= 0.05

    fake_twitter.fail("oauth/request_token", status=502, latency=0.05)
    started = time.monotonic()
    expect_error(lambda: client.fetch_request_token(CALLBACK), TwitterUnavailable)
    assert time.monotonic() - started >= 0.05


def test_rate_limit(client: TwitterClient) -> None:
    now = time.time()
    with FakeTwitter(clock=lambda: now) as fake:
        fake.rate_limit("oauth/request_token", times=2)
        fake.rate_limit("oauth/request_token", reset_in=None)

        for _ in range(2):
            error = expect_error(lambda: client.fetch_request_token(CALLBACK), TwitterRateLimited)
            assert isinstance(error, TwitterRateLimited)
            assert (error.status_code, error.code) == (429, 88)
            assert error.reset_at == dt.datetime.fromtimestamp(int(now + 60), tz=dt.timezone.utc)
        error = expect_error(lambda: client.fetch_request_token(CALLBACK), TwitterRateLimited)
        assert isinstance(error, TwitterRateLimited)
        assert error.reset_at is None
        assert client.fetch_request_token(CALLBACK).token

        fake.rate_limit("oauth/request_token", reset_in=5, latency=0.01)
        response = requests.post(f"{API}/oauth/request_token", timeout=5)
        assert response.status_code == 429
        assert response.json() == {"errors": [{"code": 88, "message": "Rate limit exceeded."}]}
        assert {k: v for k, v in response.headers.items() if k.startswith("x-rate")} == {
            "x-rate-limit-limit": "15",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(int(now + 5)),
        }


# -- records --------------------------------------------------------------------------------


def test_counts_and_calls(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    token, secret = flow(fake_twitter, client)
    client.verify_credentials(token, secret)
    fake_twitter.fail_connection("1.1/oauth/invalidate_token")
    expect_error(lambda: client.invalidate_token(token, secret), TwitterUnavailable)
    client.invalidate_token(token, secret)
    requests.get(f"{API}/nowhere", timeout=5)

    assert fake_twitter.counts == {
        "oauth/request_token": 1,
        "oauth/access_token": 1,
        "1.1/account/verify_credentials.json": 1,
        "1.1/oauth/invalidate_token": 2,
        "nowhere": 1,
    }
    assert fake_twitter.count("1.1/oauth/invalidate_token.json") == 2
    assert fake_twitter.count("oauth/authorize") == 0
    assert fake_twitter.calls[-3:] == [
        FakeCall("1.1/oauth/invalidate_token", "POST", f"{API}/1.1/oauth/invalidate_token", None),
        FakeCall("1.1/oauth/invalidate_token", "POST", f"{API}/1.1/oauth/invalidate_token", 200),
        FakeCall("nowhere", "GET", f"{API}/nowhere", 404),
    ]


@pytest.mark.parametrize("authenticate", [True, False])
def test_browser_endpoints(
    fake_twitter: FakeTwitter, client: TwitterClient, authenticate: bool
) -> None:
    pending = client.fetch_request_token(CALLBACK)
    url = client.authorization_url(pending.token, authenticate=authenticate, force_login=True)
    endpoint = "oauth/authenticate" if authenticate else "oauth/authorize"

    response = requests.get(url, timeout=5)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "Authorize" in response.text
    fake_twitter.fail(endpoint, status=503)
    assert requests.get(url, timeout=5).status_code == 503
    assert fake_twitter.count(endpoint) == 2


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/",
        "https://api.x.com/oauth/request_token",
        "http://api.twitter.com/oauth/request_token",
        "https://api.twitter.com.example.com/oauth/request_token",
        "https://upload.twitter.com/1.1/media/upload.json",
    ],
)
def test_nothing_else_is_reachable(fake_twitter: FakeTwitter, url: str) -> None:
    with pytest.raises(requests.ConnectionError):
        requests.post(url, timeout=5)
    assert fake_twitter.calls == []


# -- the user and the app at Twitter ----------------------------------------------------------


def test_app_permission(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    assert fake_twitter.app_permission == "read-write"
    token, secret = flow(fake_twitter, client, access_type="read")
    assert client.verify_credentials(token, secret).access_level == "read"

    fake_twitter.app_permission = "read-write-directmessages"
    assert fake_twitter.provider.app_permission == "read-write-directmessages"
    token, secret = flow(fake_twitter, client, access_type="write", user_id="2")
    assert client.verify_credentials(token, secret).access_level == "read-write"
    token, secret = flow(fake_twitter, client, user_id="3")
    assert client.verify_credentials(token, secret).access_level == "read-write-directmessages"

    with pytest.raises(ValueError, match="app_permission"):
        fake_twitter.app_permission = "admin"
    assert fake_twitter.app_permission == "read-write-directmessages"


def test_app_permission_from_arguments_and_settings(settings: Any) -> None:
    assert FakeTwitter(app_permission="read").app_permission == "read"
    settings.TWITTER_OAUTH_APP_PERMISSION = "read-write-directmessages"
    assert FakeTwitter().app_permission == "read-write-directmessages"
    with pytest.raises(ValueError, match="app_permission"):
        FakeTwitter(app_permission="write")


def test_granted_levels(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    pending = client.fetch_request_token(CALLBACK, access_type="read")
    verifier = fake_twitter.approve(pending.token)
    assert client.fetch_access_token(pending.token, pending.secret, verifier).access_level == "read"

    pending = client.fetch_request_token(CALLBACK)
    with pytest.raises(ValueError, match="access_level"):
        fake_twitter.approve(pending.token, access_level="write")
    verifier = fake_twitter.approve(
        pending.token, user_id="2", access_level="read-write-directmessages"
    )
    result = client.fetch_access_token(pending.token, pending.secret, verifier)
    assert result.access_level == "read-write-directmessages"


def test_reauthorization(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    first = flow(fake_twitter, client, user_id="42")

    assert flow(fake_twitter, client, user_id="42") == first
    read_only = flow(fake_twitter, client, access_type="read", user_id="42")
    assert read_only[0] != first[0]
    assert flow(fake_twitter, client, access_type="read", user_id="42") == read_only


def test_without_user_and_access_level(client: TwitterClient) -> None:
    with FakeTwitter(include_user_in_access_token=False, send_access_level=False) as fake:
        token, secret = flow(fake, client, user_id="42", screen_name="jack")
        pending = client.fetch_request_token(CALLBACK)
        result = client.fetch_access_token(
            pending.token, pending.secret, fake.approve(pending.token)
        )
        assert (result.user_id, result.screen_name, result.access_level) == (None, None, None)

        credentials = client.verify_credentials(token, secret)
        assert (credentials.user_id, credentials.screen_name, credentials.access_level) == (
            "42",
            "jack",
            None,
        )


def test_user_errors(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    calls: list[Callable[[], object]] = [
        lambda: fake_twitter.approve("unknown"),
        lambda: fake_twitter.deny("unknown"),
        lambda: fake_twitter.redirect_url("unknown", "verifier"),
        lambda: fake_twitter.authorize("unknown"),
    ]
    for call in calls:
        with pytest.raises(LookupError, match="Unknown, used or expired request token"):
            call()
    pin = client.fetch_request_token("oob")
    with pytest.raises(ValueError, match="no callback URL"):
        fake_twitter.deny(pin.token)
    with pytest.raises(ValueError, match="no callback URL"):
        fake_twitter.authorize(pin.token)


def test_deny(fake_twitter: FakeTwitter, client: TwitterClient) -> None:
    pending = client.fetch_request_token(CALLBACK)

    assert fake_twitter.deny(pending.token) == f"{CALLBACK}?denied={pending.token}"

    with pytest.raises(LookupError):
        fake_twitter.approve(pending.token)
    error = expect_error(
        lambda: client.fetch_access_token(pending.token, pending.secret, "1234567")
    )
    assert (error.status_code, error.twitter_message) == (401, INVALID_REQUEST_TOKEN)


# -- plugging in ----------------------------------------------------------------------------


def test_repr() -> None:
    fake = FakeTwitter(api_url="https://api.x.com/")

    assert repr(fake) == "<FakeTwitter https://api.x.com>"
    assert (
        repr(fake.provider) == "<FakeProvider https://api.x.com consumers=['tests-consumer-key']>"
    )


def test_arguments_win_over_settings(client: TwitterClient) -> None:
    fake = FakeTwitter("other-key", "other-secret", api_url="https://api.x.com")

    assert fake.provider.consumers == {"other-key": "other-secret"}
    with fake:
        other = TwitterClient(
            consumer_key="other-key", consumer_secret="other-secret", api_url="https://api.x.com"
        )
        assert other.fetch_request_token(CALLBACK).token
        with pytest.raises(TwitterUnavailable):
            client.fetch_request_token(CALLBACK)  # api.twitter.com is not the fake's


@pytest.fixture
def outer() -> Iterator[responses.RequestsMock]:
    """A mock underneath the fake, standing in for the network."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{API}/1.1/account/verify_credentials.json", body="the network", status=418)
        yield mock


def network_answers() -> bool:
    return requests.get(f"{API}/1.1/account/verify_credentials.json", timeout=5).status_code == 418


def test_start_and_stop(outer: responses.RequestsMock) -> None:
    fake = FakeTwitter()
    assert network_answers()

    assert fake.start() is fake
    assert not network_answers()
    fake.stop()
    assert network_answers()
    fake.start()
    assert not network_answers()
    fake.stop()
    assert len(fake.calls) == 2


def test_context_manager(outer: responses.RequestsMock) -> None:
    fake = FakeTwitter()

    with pytest.raises(RuntimeError), fake as entered:
        assert entered is fake
        assert not network_answers()
        raise RuntimeError
    assert network_answers()
