"""The fake Twitter's provider, spoken to with raw signed requests (``FakeProvider.handle``).

Requests are signed here with oauthlib's client and a fixed nonce and timestamp, or
written out by hand from Twitter's published vectors (tests/vectors.py), so
each test controls exactly what the provider sees.
"""

from __future__ import annotations

import itertools
import json
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any, cast

import pytest
from oauthlib.oauth1 import Client

from django_twitter_oauth.conf import granted_level
from django_twitter_oauth.testing import store as store_module
from django_twitter_oauth.testing.provider import (
    DESKTOP_ONLY_XML,
    ConnectionFault,
    FakeProvider,
    FakeResponse,
    Fault,
    TimeoutFault,
    twitter_error,
)
from django_twitter_oauth.testing.store import MemoryStore
from tests import vectors
from tests.vectors import (
    LOGIN_CALLBACK,
    LOGIN_KEY,
    LOGIN_REQUEST_SECRET,
    LOGIN_REQUEST_TOKEN,
    LOGIN_SECRET,
    LOGIN_TIME,
    LOGIN_VERIFIER,
    SIG_BODY,
    SIG_KEY,
    SIG_SECRET,
    SIG_TIME,
    SIG_TOKEN,
    SIG_TOKEN_SECRET,
)

API = "https://api.twitter.com"
KEY = "provider-key"
SECRET = "provider-secret"
NOW = 1_700_000_000
CALLBACK = "https://example.com/twitter/callback/"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


_nonces = itertools.count()


# -- helpers ------------------------------------------------------------------------------


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider(KEY, SECRET, clock=lambda: NOW)


def header(params: dict[str, str]) -> str:
    """An Authorization header, values percent-encoded as Twitter's docs show them."""
    return "OAuth " + ", ".join(
        f'{name}="{urllib.parse.quote(value, safe="~")}"' for name, value in params.items()
    )


def sign(
    url: str,
    method: str = "POST",
    *,
    key: str = KEY,
    secret: str = SECRET,
    token: str | None = None,
    token_secret: str | None = None,
    callback: str | None = None,
    verifier: str | None = None,
    body: str | None = None,
    timestamp: int = NOW,
    nonce: str | None = None,
) -> tuple[str, dict[str, str], str | None]:
    """A request signed by oauthlib's client: (url, headers, body)."""
    client = Client(
        key,
        client_secret=secret,
        resource_owner_key=token,
        resource_owner_secret=token_secret,
        callback_uri=callback,
        verifier=verifier,
        timestamp=str(timestamp),
        nonce=nonce or f"nonce{next(_nonces)}",
    )
    headers = dict(FORM) if body is not None else {}
    signed_url, signed_headers, signed_body = client.sign(
        url, http_method=cast(Any, method), body=body, headers=headers
    )
    return signed_url, dict(signed_headers), signed_body


def send(
    provider: FakeProvider, endpoint: str, method: str = "POST", **kwargs: Any
) -> FakeResponse:
    url, headers, body = sign(f"{API}/{endpoint}", method, **kwargs)
    return provider.handle(method, url, headers, body)


def error(response: FakeResponse) -> tuple[int, int]:
    """The status and Twitter's error code of a JSON error answer."""
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    errors = json.loads(response.body)["errors"]
    assert len(errors) == 1
    return response.status, errors[0]["code"]


def form(response: FakeResponse) -> dict[str, str]:
    assert response.status == 200, response.body
    return dict(urllib.parse.parse_qsl(response.body))


def request_token(
    provider: FakeProvider, callback: str = CALLBACK, **kwargs: Any
) -> dict[str, str]:
    answer = form(send(provider, "oauth/request_token", callback=callback, **kwargs))
    assert answer["oauth_callback_confirmed"] == "true"
    return answer


def exchange(
    provider: FakeProvider, token: str, request_secret: str, verifier: str, **kwargs: Any
) -> FakeResponse:
    return send(
        provider,
        "oauth/access_token",
        token=token,
        token_secret=request_secret,
        verifier=verifier,
        **kwargs,
    )


def access_token(provider: FakeProvider, **user: Any) -> tuple[str, str]:
    """The whole flow: an access token and its secret."""
    pending = request_token(provider)
    verifier = provider.approve(pending["oauth_token"], **user)
    answer = form(
        exchange(provider, pending["oauth_token"], pending["oauth_token_secret"], verifier)
    )
    return answer["oauth_token"], answer["oauth_token_secret"]


INVALID_REQUEST_TOKEN = (401, "Invalid request token.")
INVALID_VERIFIER = (401, "Error processing your OAuth request: Invalid oauth_verifier parameter")


def text(response: FakeResponse) -> tuple[int, str]:
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    return response.status, response.body


# -- published vectors (tests/vectors.py) ------------------------------------------------------

LOGIN_REQUEST_TOKEN_PARAMS = {
    "oauth_nonce": vectors.LOGIN_REQUEST_TOKEN_NONCE,
    "oauth_callback": LOGIN_CALLBACK,
    "oauth_signature_method": "HMAC-SHA1",
    "oauth_timestamp": str(LOGIN_TIME),
    "oauth_consumer_key": LOGIN_KEY,
    "oauth_signature": vectors.LOGIN_REQUEST_TOKEN_SIGNATURE,
    "oauth_version": "1.0",
}


@pytest.mark.parametrize(
    ("change", "consumer_secret", "api_url"),
    [
        ({}, LOGIN_SECRET, "https://api.twitter.com"),
        ({"oauth_signature": vectors.LOGIN_REQUEST_TOKEN_SIGNATURE[:-2] + "Z="}, LOGIN_SECRET, API),
        ({"oauth_callback": LOGIN_CALLBACK + "x"}, LOGIN_SECRET, API),
        ({"oauth_nonce": "fa9ec8429b68d6b77cd5600adbbb0456"}, LOGIN_SECRET, API),
        ({}, LOGIN_SECRET + "x", API),
        # The vector only reproduces with api.twitter.com (tests/vectors.py).
        ({}, LOGIN_SECRET, "https://api.x.com"),
    ],
    ids=["published", "signature", "callback", "nonce", "consumer-secret", "api.x.com"],
)
def test_vector_login_with_x_request_token(
    change: dict[str, str], consumer_secret: str, api_url: str
) -> None:
    provider = FakeProvider(LOGIN_KEY, consumer_secret, api_url=api_url, clock=lambda: LOGIN_TIME)
    headers = {"Authorization": header({**LOGIN_REQUEST_TOKEN_PARAMS, **change})}

    response = provider.handle("POST", f"{api_url}/oauth/request_token", headers, None)

    if change or consumer_secret != LOGIN_SECRET or api_url != API:
        assert error(response) == (401, 32)
        assert provider.store.get("count", "oauth/request_token") == 1
        return
    answer = form(response)
    assert answer["oauth_callback_confirmed"] == "true"
    record = provider.pending(answer["oauth_token"])
    assert record is not None
    assert record["secret"] == answer["oauth_token_secret"]
    assert record["callback"] == LOGIN_CALLBACK
    assert record["consumer_key"] == LOGIN_KEY


LOGIN_ACCESS_TOKEN_PARAMS = {
    "oauth_consumer_key": LOGIN_KEY,
    "oauth_nonce": vectors.LOGIN_ACCESS_TOKEN_NONCE,
    "oauth_signature": vectors.LOGIN_ACCESS_TOKEN_SIGNATURE,
    "oauth_signature_method": "HMAC-SHA1",
    "oauth_timestamp": str(LOGIN_TIME),
    "oauth_token": LOGIN_REQUEST_TOKEN,
    "oauth_version": "1.0",
}


@pytest.mark.parametrize(
    ("change", "request_secret", "verifier_in"),
    [
        ({}, LOGIN_REQUEST_SECRET, "body"),
        # Same signature with the verifier in the header (tests/vectors.py).
        ({}, LOGIN_REQUEST_SECRET, "header"),
        (
            {"oauth_signature": vectors.LOGIN_ACCESS_TOKEN_SIGNATURE[:-2] + "J="},
            LOGIN_REQUEST_SECRET,
            "body",
        ),
        ({"oauth_timestamp": str(LOGIN_TIME + 1)}, LOGIN_REQUEST_SECRET, "body"),
        ({}, LOGIN_REQUEST_SECRET + "x", "body"),
        # The signature with an empty token secret (tests/vectors.py) is not accepted.
        (
            {"oauth_signature": vectors.LOGIN_ACCESS_TOKEN_SIGNATURE_NO_TOKEN_SECRET},
            LOGIN_REQUEST_SECRET,
            "body",
        ),
    ],
    ids=["published", "verifier-in-header", "signature", "timestamp", "token-secret", "no-key"],
)
def test_vector_login_with_x_access_token(
    change: dict[str, str], request_secret: str, verifier_in: str
) -> None:
    provider = FakeProvider(LOGIN_KEY, LOGIN_SECRET, clock=lambda: LOGIN_TIME)
    provider.add_request_token(LOGIN_REQUEST_TOKEN, request_secret, callback=LOGIN_CALLBACK)
    provider.approve(
        LOGIN_REQUEST_TOKEN, verifier=LOGIN_VERIFIER, user_id="7588892", screen_name="kaiz"
    )
    params = {**LOGIN_ACCESS_TOKEN_PARAMS, **change}
    if verifier_in == "header":
        headers = {"Authorization": header({**params, "oauth_verifier": LOGIN_VERIFIER})}
        body = None
    else:
        headers = {"Authorization": header(params), **FORM}
        body = f"oauth_verifier={LOGIN_VERIFIER}"

    response = provider.handle("POST", f"{API}/oauth/access_token", headers, body)

    if change or request_secret != LOGIN_REQUEST_SECRET:
        assert error(response) == (401, 32)
        assert provider.pending(LOGIN_REQUEST_TOKEN) is not None  # not consumed
        return
    answer = form(response)
    assert answer["oauth_token"].startswith("7588892-")
    assert (answer["user_id"], answer["screen_name"]) == ("7588892", "kaiz")
    assert response.headers["x-access-level"] == "read-write"
    assert provider.access_token_valid(answer["oauth_token"])
    assert provider.pending(LOGIN_REQUEST_TOKEN) is None  # used up


def creating_a_signature(api_url: str, signature: str) -> dict[str, str]:
    params = {
        "oauth_consumer_key": SIG_KEY,
        "oauth_nonce": vectors.SIG_NONCE,
        "oauth_signature": signature,
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(SIG_TIME),
        "oauth_token": SIG_TOKEN,
        "oauth_version": "1.0",
    }
    return {"Authorization": header(params), **FORM}


SIGNATURES = vectors.SIG_SIGNATURES

OTHER_HOST = {
    "https://api.x.com": "https://api.twitter.com",
    "https://api.twitter.com": "https://api.x.com",
}


def sig_provider() -> FakeProvider:
    provider = FakeProvider(SIG_KEY, SIG_SECRET, clock=lambda: SIG_TIME)
    provider.add_access_token(SIG_TOKEN, SIG_TOKEN_SECRET)
    return provider


@pytest.mark.parametrize(("host", "signature"), SIGNATURES)
def test_vector_creating_a_signature(host: str, signature: str) -> None:
    provider = sig_provider()
    url = f"{host}/1.1/statuses/update.json?include_entities=true"

    assert provider.verify_signature("POST", url, creating_a_signature(host, signature), SIG_BODY)
    # Like Twitter, the nonce is used up: the same request again is refused.
    assert not provider.verify_signature(
        "POST", url, creating_a_signature(host, signature), SIG_BODY.encode()
    )


@pytest.mark.parametrize(("host", "signature"), SIGNATURES)
@pytest.mark.parametrize(
    "tamper",
    ["signature", "body", "query", "method", "other-host", "token-secret", "clock"],
)
def test_vector_creating_a_signature_tampered(host: str, signature: str, tamper: str) -> None:
    provider = sig_provider()
    method, url, body = "POST", f"{host}/1.1/statuses/update.json?include_entities=true", SIG_BODY
    if tamper == "signature":
        signature = ("A" if signature[0] != "A" else "B") + signature[1:]
    elif tamper == "body":
        body = body.replace("Ladies", "ladies")
    elif tamper == "query":
        url = url.replace("true", "false")
    elif tamper == "method":
        method = "PUT"
    elif tamper == "other-host":
        url = url.replace(host, OTHER_HOST[host])
    elif tamper == "token-secret":
        provider.add_access_token(SIG_TOKEN, SIG_TOKEN_SECRET + "x")
    else:
        provider.clock = lambda: SIG_TIME + 301

    assert not provider.verify_signature(method, url, creating_a_signature(host, signature), body)


def test_verify_signature_refuses_malformed_requests() -> None:
    provider = sig_provider()
    url = f"{API}/1.1/statuses/update.json"

    assert not provider.verify_signature("POST", url, {"Authorization": "Bearer abc"})
    assert not provider.verify_signature("POST", url, {})
    assert not provider.verify_signature("GET", url + "?a=%zz", {"Authorization": 'OAuth a="b"'})


def test_verify_signature_refuses_unknown_tokens(provider: FakeProvider) -> None:
    url, headers, body = sign(
        f"{API}/1.1/statuses/home_timeline.json", "GET", token="t", token_secret="s"
    )
    assert not provider.verify_signature("GET", url, headers, body)

    provider.add_access_token("t", "s")
    url, headers, body = sign(
        f"{API}/1.1/statuses/home_timeline.json", "GET", token="t", token_secret="s"
    )
    assert provider.verify_signature("GET", url, headers, body)


# -- the flow -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "recorded"),
    [(None, None), ("read", "read"), ("write", "write"), ("admin", None)],
)
def test_request_token_records_the_request(
    provider: FakeProvider, sent: str | None, recorded: str | None
) -> None:
    url = f"{API}/oauth/request_token"
    if sent is not None:
        url += f"?x_auth_access_type={sent}"
    signed_url, headers, body = sign(url, callback=CALLBACK + "?next=%2Fhome")

    answer = form(provider.handle("POST", signed_url, headers, body))

    assert set(answer) == {"oauth_token", "oauth_token_secret", "oauth_callback_confirmed"}
    assert provider.pending(answer["oauth_token"]) == {
        "secret": answer["oauth_token_secret"],
        "consumer_key": KEY,
        "callback": CALLBACK + "?next=%2Fhome",
        "access_type": recorded,
        "verifier": None,
        "user": None,
    }


def test_full_flow(provider: FakeProvider) -> None:
    pending = request_token(provider)
    verifier = provider.approve(pending["oauth_token"], user_id="42", screen_name="jack")

    response = exchange(provider, pending["oauth_token"], pending["oauth_token_secret"], verifier)

    assert response.headers == {
        "content-type": "text/html; charset=utf-8",
        "x-access-level": "read-write",
    }
    answer = form(response)
    token, secret = answer["oauth_token"], answer["oauth_token_secret"]
    assert token.startswith("42-")
    assert (answer["user_id"], answer["screen_name"]) == ("42", "jack")
    assert provider.access_token_valid(token)

    response = send(
        provider, "1.1/account/verify_credentials.json", "GET", token=token, token_secret=secret
    )
    assert response.status == 200
    assert json.loads(response.body) == {
        "id": 42,
        "id_str": "42",
        "name": "jack",
        "screen_name": "jack",
    }
    assert response.headers == {
        "content-type": "application/json; charset=utf-8",
        "x-access-level": "read-write",
        "x-rate-limit-limit": "75",
        "x-rate-limit-remaining": "74",
        "x-rate-limit-reset": str(NOW + 900),
    }

    response = send(provider, "1.1/oauth/invalidate_token", token=token, token_secret=secret)
    assert response.status == 200
    assert json.loads(response.body) == {"access_token": token}
    assert not provider.access_token_valid(token)

    for endpoint, method in [
        ("1.1/account/verify_credentials.json", "GET"),
        ("1.1/oauth/invalidate_token", "POST"),
        ("1.1/oauth/invalidate_token.json", "POST"),
    ]:
        response = send(provider, endpoint, method, token=token, token_secret=secret)
        assert error(response) == (401, 89)


def test_invalidate_token_alias(provider: FakeProvider) -> None:
    token, secret = access_token(provider)

    response = send(provider, "1.1/oauth/invalidate_token.json", token=token, token_secret=secret)

    assert response.status == 200
    assert not provider.access_token_valid(token)
    assert provider.store.get("count", "1.1/oauth/invalidate_token") == 1


def test_pin_flow(provider: FakeProvider) -> None:
    pending = request_token(provider, callback="oob")

    pin = provider.approve(pending["oauth_token"])

    assert len(pin) == 7
    assert pin.isdigit()
    with pytest.raises(ValueError, match="no callback URL"):
        provider.redirect_url(pending["oauth_token"], pin)
    answer = form(exchange(provider, pending["oauth_token"], pending["oauth_token_secret"], pin))
    assert answer["user_id"] == "1000001"


def test_without_user_and_access_level() -> None:
    provider = FakeProvider(
        KEY,
        SECRET,
        clock=lambda: NOW,
        include_user_in_access_token=False,
        send_access_level=False,
    )
    pending = request_token(provider)
    verifier = provider.approve(pending["oauth_token"], user_id="screen-name-like")

    response = exchange(provider, pending["oauth_token"], pending["oauth_token_secret"], verifier)

    answer = form(response)
    assert set(answer) == {"oauth_token", "oauth_token_secret"}
    assert "x-access-level" not in response.headers
    response = send(
        provider,
        "1.1/account/verify_credentials.json",
        "GET",
        token=answer["oauth_token"],
        token_secret=answer["oauth_token_secret"],
    )
    assert "x-access-level" not in response.headers
    # A user id that is not a number is sent as a string.
    assert json.loads(response.body)["id"] == "screen-name-like"


@pytest.mark.parametrize("signature_type", ["BODY", "QUERY"])
def test_oauth_params_in_body_or_query(provider: FakeProvider, signature_type: str) -> None:
    # RFC 5849 §3.5.2 and §3.5.3: the other two places OAuth parameters may travel.
    client = Client(
        KEY,
        client_secret=SECRET,
        callback_uri=CALLBACK,
        signature_type=signature_type,
        timestamp=str(NOW),
        nonce="bodynonce",
    )
    headers = dict(FORM) if signature_type == "BODY" else {}
    body = "" if signature_type == "BODY" else None
    url, headers, body = client.sign(
        f"{API}/oauth/request_token", http_method="POST", body=body, headers=headers
    )

    response = provider.handle("POST", url, headers, body)

    assert form(response)["oauth_callback_confirmed"] == "true"


# -- what the provider refuses --------------------------------------------------------------

RESOURCES = [("1.1/account/verify_credentials.json", "GET"), ("1.1/oauth/invalidate_token", "POST")]


def test_unknown_consumer_key(provider: FakeProvider) -> None:
    assert error(send(provider, "oauth/request_token", key="other", callback=CALLBACK)) == (401, 32)
    pending = request_token(provider)
    verifier = provider.approve(pending["oauth_token"])
    response = exchange(
        provider, pending["oauth_token"], pending["oauth_token_secret"], verifier, key="other"
    )
    assert error(response) == (401, 32)
    token, secret = access_token(provider)
    for endpoint, method in RESOURCES:
        response = send(provider, endpoint, method, key="other", token=token, token_secret=secret)
        assert error(response) == (401, 32)


def test_wrong_consumer_secret(provider: FakeProvider) -> None:
    response = send(provider, "oauth/request_token", secret="wrong", callback=CALLBACK)
    assert error(response) == (401, 32)
    pending = request_token(provider)
    verifier = provider.approve(pending["oauth_token"])
    response = exchange(
        provider, pending["oauth_token"], pending["oauth_token_secret"], verifier, secret="wrong"
    )
    assert error(response) == (401, 32)
    token, secret = access_token(provider)
    for endpoint, method in RESOURCES:
        response = send(
            provider, endpoint, method, secret="wrong", token=token, token_secret=secret
        )
        assert error(response) == (401, 32)
    assert provider.access_token_valid(token)


def test_wrong_token_secret(provider: FakeProvider) -> None:
    pending = request_token(provider)
    verifier = provider.approve(pending["oauth_token"])

    assert error(exchange(provider, pending["oauth_token"], "wrong", verifier)) == (401, 32)
    # The token was not used up: the right secret still works.
    response = exchange(provider, pending["oauth_token"], pending["oauth_token_secret"], verifier)
    assert response.status == 200
    token, secret = access_token(provider)
    for endpoint, method in RESOURCES:
        response = send(provider, endpoint, method, token=token, token_secret="wrong")
        assert error(response) == (401, 32)
    assert provider.access_token_valid(token)


def test_tampered_request(provider: FakeProvider) -> None:
    url, headers, body = sign(
        f"{API}/oauth/request_token?x_auth_access_type=read", callback=CALLBACK
    )
    tampered = url.replace("read", "write")

    assert error(provider.handle("POST", tampered, headers, body)) == (401, 32)

    token, secret = access_token(provider)
    url, headers, body = sign(
        f"{API}/1.1/oauth/invalidate_token", token=token, token_secret=secret, body="reason=spam"
    )
    assert body == "reason=spam"
    assert error(provider.handle("POST", url, headers, "reason=ham")) == (401, 32)
    assert provider.access_token_valid(token)


def test_replayed_nonce(provider: FakeProvider) -> None:
    url, headers, body = sign(f"{API}/oauth/request_token", callback=CALLBACK, nonce="once")

    assert provider.handle("POST", url, headers, body).status == 200
    assert error(provider.handle("POST", url, headers, body)) == (401, 32)

    token, secret = access_token(provider)
    url, headers, body = sign(
        f"{API}/1.1/account/verify_credentials.json", "GET", token=token, token_secret=secret
    )
    assert provider.handle("GET", url, headers, body).status == 200
    assert error(provider.handle("GET", url, headers, body)) == (401, 32)


def test_replayed_access_token_request(provider: FakeProvider) -> None:
    pending = request_token(provider)
    verifier = provider.approve(pending["oauth_token"])
    url, headers, body = sign(
        f"{API}/oauth/access_token",
        token=pending["oauth_token"],
        token_secret=pending["oauth_token_secret"],
        verifier=verifier,
    )

    assert provider.handle("POST", url, headers, body).status == 200
    assert error(provider.handle("POST", url, headers, body)) == (401, 32)


@pytest.mark.parametrize(("offset", "status"), [(-301, 401), (301, 401), (-300, 200), (300, 200)])
def test_timestamp_window(provider: FakeProvider, offset: int, status: int) -> None:
    response = send(provider, "oauth/request_token", callback=CALLBACK, timestamp=NOW + offset)

    assert response.status == status
    if status == 401:
        assert error(response) == (401, 135)
        assert json.loads(response.body)["errors"][0]["message"] == "Timestamp out of bounds."


def test_timestamp_window_is_configurable() -> None:
    provider = FakeProvider(KEY, SECRET, clock=lambda: NOW, timestamp_window=10)

    assert error(send(provider, "oauth/request_token", callback=CALLBACK, timestamp=NOW - 11)) == (
        401,
        135,
    )


def test_stale_timestamp_on_every_endpoint(provider: FakeProvider) -> None:
    token, secret = access_token(provider)
    pending = request_token(provider)
    verifier = provider.approve(pending["oauth_token"])
    provider.clock = lambda: NOW + 3600

    response = exchange(provider, pending["oauth_token"], pending["oauth_token_secret"], verifier)
    assert error(response) == (401, 135)
    for endpoint, method in RESOURCES:
        response = send(provider, endpoint, method, token=token, token_secret=secret)
        assert error(response) == (401, 135)


@pytest.mark.parametrize(
    ("endpoint", "method"),
    [("oauth/request_token", "POST"), ("oauth/access_token", "POST"), *RESOURCES],
)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer AAAA"},
        {"Authorization": 'OAuth oauth_consumer_key="provider-key"'},
        {"Authorization": 'OAuth oauth_consumer_key="provider-key", unterminated="'},
    ],
    ids=["none", "bearer", "incomplete", "malformed"],
)
def test_missing_or_malformed_oauth(
    provider: FakeProvider, endpoint: str, method: str, headers: dict[str, str]
) -> None:
    response = provider.handle(method, f"{API}/{endpoint}", headers, None)

    assert error(response) == (400, 215)


@pytest.mark.parametrize(
    ("change", "now"),
    [
        ({"oauth_timestamp": "soon"}, NOW),
        # oauthlib wants 10 digits.
        ({"oauth_timestamp": "17000000000"}, 17_000_000_000),
        ({"oauth_signature_method": "PLAINTEXT"}, NOW),
        ({"oauth_version": "2.0"}, NOW),
        ({"oauth_nonce": "not a nonce!"}, NOW),
    ],
    ids=["timestamp", "timestamp-size", "signature-method", "version", "nonce"],
)
@pytest.mark.parametrize(
    ("endpoint", "method"),
    [("oauth/request_token", "POST"), ("oauth/access_token", "POST"), *RESOURCES],
)
def test_malformed_oauth_params(
    endpoint: str, method: str, change: dict[str, str], now: int
) -> None:
    provider = FakeProvider(KEY, SECRET, clock=lambda: now)
    params = {
        "oauth_consumer_key": KEY,
        "oauth_nonce": "abc",
        "oauth_signature": "c2lnbmF0dXJl",
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(NOW),
        "oauth_token": "token",
        "oauth_verifier": "verifier",
        "oauth_callback": CALLBACK,
        **change,
    }

    response = provider.handle(method, f"{API}/{endpoint}", {"Authorization": header(params)}, None)

    assert error(response) == (400, 215)


def test_malformed_query_string(provider: FakeProvider) -> None:
    url, headers, body = sign(f"{API}/oauth/request_token", callback=CALLBACK)

    assert error(provider.handle("POST", url + "?a=%zz", headers, body)) == (400, 215)


def test_oauth_params_in_two_places(provider: FakeProvider) -> None:
    token, secret = access_token(provider)
    url, headers, body = sign(
        f"{API}/1.1/account/verify_credentials.json", "GET", token=token, token_secret=secret
    )

    response = provider.handle("GET", url + "?oauth_nonce=more", headers, body)

    assert error(response) == (400, 215)


def test_request_token_needs_a_callback(provider: FakeProvider) -> None:
    assert error(send(provider, "oauth/request_token")) == (400, 215)


def test_access_token_needs_token_and_verifier(provider: FakeProvider) -> None:
    pending = request_token(provider)
    assert error(send(provider, "oauth/access_token", verifier="123")) == (400, 215)
    response = send(
        provider,
        "oauth/access_token",
        token=pending["oauth_token"],
        token_secret=pending["oauth_token_secret"],
    )
    assert error(response) == (400, 215)


def test_resource_needs_an_access_token(provider: FakeProvider) -> None:
    response = send(provider, "1.1/account/verify_credentials.json", "GET")

    assert error(response) == (401, 32)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", f"{API}/1.1/statuses/home_timeline.json"),
        ("GET", f"{API}/oauth/request_token"),
        ("PUT", f"{API}/oauth/access_token"),
        ("POST", f"{API}/1.1/account/verify_credentials.json"),
        ("POST", f"{API}/oauth/authorize"),
        ("GET", f"{API}/"),
        ("GET", "https://api.x.com/oauth/request_token"),
        ("GET", "http://api.twitter.com/oauth/request_token"),
    ],
)
def test_unknown_endpoint_or_method(provider: FakeProvider, method: str, url: str) -> None:
    assert error(provider.handle(method, url, {}, None)) == (404, 34)


@pytest.mark.parametrize("endpoint", ["oauth/authorize", "oauth/authenticate"])
def test_browser_endpoints_answer_a_stub_page(provider: FakeProvider, endpoint: str) -> None:
    response = provider.handle("get", f"{API}/{endpoint}?oauth_token=abc", {}, None)

    assert response == FakeResponse(
        200, "<p>Authorize this app?</p>", {"content-type": "text/html; charset=utf-8"}
    )


def test_endpoint_for() -> None:
    provider = FakeProvider(KEY, SECRET, api_url="http://testserver/sandbox/")

    assert provider.api_url == "http://testserver/sandbox"
    assert provider.endpoint_for("http://TestServer/sandbox/oauth/request_token?a=1") == (
        "oauth/request_token"
    )
    assert provider.endpoint_for("http://testserver/sandbox/1.1/oauth/invalidate_token.json") == (
        "1.1/oauth/invalidate_token"
    )
    assert provider.endpoint_for("http://testserver/other/oauth/request_token") is None
    assert provider.endpoint_for("https://testserver/sandbox/oauth/request_token") is None
    assert provider.endpoint_for("http://elsewhere/sandbox/oauth/request_token") is None


# -- callbacks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "callback",
    [CALLBACK, CALLBACK + "?next=%2Fhome", "oob"],
)
def test_callback_on_the_allow_list(callback: str) -> None:
    provider = FakeProvider(KEY, SECRET, clock=lambda: NOW, callback_urls=[CALLBACK])

    pending = request_token(provider, callback=callback)

    record = provider.pending(pending["oauth_token"])
    assert record is not None
    assert record["callback"] == callback


@pytest.mark.parametrize(
    "callback",
    [
        "https://example.com/twitter/callback",  # no trailing slash
        "http://example.com/twitter/callback/",
        "https://example.com:8443/twitter/callback/",
        "https://evil.example/twitter/callback/",
    ],
)
def test_callback_not_on_the_allow_list(callback: str) -> None:
    provider = FakeProvider(KEY, SECRET, clock=lambda: NOW, callback_urls=[CALLBACK])

    response = send(provider, "oauth/request_token", callback=callback)

    assert error(response) == (403, 415)
    assert json.loads(response.body)["errors"][0]["message"].startswith(
        "Callback URL not approved for this client application."
    )


def test_no_callback_urls_means_pin_only() -> None:
    provider = FakeProvider(KEY, SECRET, clock=lambda: NOW, callback_urls=[])

    response = send(provider, "oauth/request_token", callback=CALLBACK)

    assert response == FakeResponse(
        401, DESKTOP_ONLY_XML, {"content-type": "application/xml; charset=utf-8"}
    )
    assert '<error code="417">' in response.body
    assert request_token(provider, callback="oob")["oauth_callback_confirmed"] == "true"


def test_any_callback_without_an_allow_list(provider: FakeProvider) -> None:
    assert request_token(provider, callback="myapp://callback")["oauth_token"]


# -- request tokens, verifiers, consumers -------------------------------------------------


def test_reused_request_token(provider: FakeProvider) -> None:
    pending = request_token(provider)
    verifier = provider.approve(pending["oauth_token"])
    token, secret = pending["oauth_token"], pending["oauth_token_secret"]

    assert exchange(provider, token, secret, verifier).status == 200
    # The same token and verifier again, in a new request (new nonce).
    assert text(exchange(provider, token, secret, verifier)) == INVALID_REQUEST_TOKEN
    with pytest.raises(LookupError):
        provider.approve(token)


def test_verifier_of_another_request_token(provider: FakeProvider) -> None:
    first = request_token(provider)
    second = request_token(provider)
    provider.approve(first["oauth_token"])
    other_verifier = provider.approve(second["oauth_token"])

    response = exchange(provider, first["oauth_token"], first["oauth_token_secret"], other_verifier)

    assert text(response) == INVALID_VERIFIER


def test_unapproved_request_token(provider: FakeProvider) -> None:
    pending = request_token(provider)

    response = exchange(provider, pending["oauth_token"], pending["oauth_token_secret"], "1234567")

    assert text(response) == INVALID_VERIFIER


def test_approving_again_replaces_the_verifier(provider: FakeProvider) -> None:
    pending = request_token(provider)
    token, secret = pending["oauth_token"], pending["oauth_token_secret"]
    old = provider.approve(token)
    new = provider.approve(token)

    assert old != new
    assert text(exchange(provider, token, secret, old)) == INVALID_VERIFIER
    assert exchange(provider, token, secret, new).status == 200


def test_unknown_request_token(provider: FakeProvider) -> None:
    response = exchange(provider, "unknown", "secret", "1234567")

    assert text(response) == INVALID_REQUEST_TOKEN


def test_request_token_of_another_consumer(provider: FakeProvider) -> None:
    provider.add_consumer("second-app", "second-secret")
    pending = request_token(provider)
    verifier = provider.approve(pending["oauth_token"])
    token, secret = pending["oauth_token"], pending["oauth_token_secret"]

    response = exchange(provider, token, secret, verifier, key="second-app", secret="second-secret")

    assert text(response) == INVALID_REQUEST_TOKEN
    # Not used up by the refusal: its own consumer can still exchange it.
    assert exchange(provider, token, secret, verifier).status == 200
    assert repr(provider) == (
        "<FakeProvider https://api.twitter.com consumers=['provider-key', 'second-app']>"
    )


def test_access_token_of_another_consumer(provider: FakeProvider) -> None:
    provider.add_consumer("second-app", "second-secret")
    token, secret = access_token(provider)

    for endpoint, method in RESOURCES:
        response = send(
            provider,
            endpoint,
            method,
            key="second-app",
            secret="second-secret",
            token=token,
            token_secret=secret,
        )
        assert error(response) == (401, 89)
    assert provider.access_token_valid(token)


def test_request_token_lifetime(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(store_module, "time", type("Time", (), {"monotonic": lambda: clock[0]}))
    provider = FakeProvider(KEY, SECRET, clock=lambda: NOW, request_token_lifetime=60)
    approved = request_token(provider)
    verifier = provider.approve(approved["oauth_token"])
    unapproved = request_token(provider)

    clock[0] += 59
    assert provider.pending(unapproved["oauth_token"]) is not None
    clock[0] += 2

    assert provider.pending(unapproved["oauth_token"]) is None
    with pytest.raises(LookupError):
        provider.approve(unapproved["oauth_token"])
    response = exchange(provider, approved["oauth_token"], approved["oauth_token_secret"], verifier)
    assert text(response) == INVALID_REQUEST_TOKEN


def test_deny(provider: FakeProvider) -> None:
    pending = request_token(provider, callback=CALLBACK + "?next=%2Fhome")
    token = pending["oauth_token"]

    url = provider.deny(token)

    assert url == f"{CALLBACK}?next=%2Fhome&denied={token}"
    assert provider.pending(token) is None
    with pytest.raises(LookupError):
        provider.deny(token)
    with pytest.raises(LookupError):
        provider.approve(token)
    response = exchange(provider, token, pending["oauth_token_secret"], "1234567")
    assert text(response) == INVALID_REQUEST_TOKEN


def test_deny_pin_flow(provider: FakeProvider) -> None:
    token = request_token(provider, callback="oob")["oauth_token"]

    with pytest.raises(ValueError, match="no callback URL"):
        provider.deny(token)
    assert provider.pending(token) is not None


def test_redirect_and_callback_urls(provider: FakeProvider) -> None:
    plain = request_token(provider)["oauth_token"]
    with_query = request_token(provider, callback=CALLBACK + "?a=1&b=%2F")["oauth_token"]

    assert provider.redirect_url(plain, "v") == f"{CALLBACK}?oauth_token={plain}&oauth_verifier=v"
    assert provider.redirect_url(with_query, "v") == (
        f"{CALLBACK}?a=1&b=%2F&oauth_token={with_query}&oauth_verifier=v"
    )
    assert provider.callback_url(plain, x="a b") == f"{CALLBACK}?x=a+b"
    with pytest.raises(LookupError):
        provider.redirect_url("unknown", "v")
    with pytest.raises(LookupError):
        provider.callback_url("unknown")


# -- access levels and tokens ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("app_permission", "access_type", "granted"),
    [
        ("read", None, "read"),
        ("read", "read", "read"),
        ("read", "write", "read"),
        ("read-write", None, "read-write"),
        ("read-write", "read", "read"),
        ("read-write", "write", "read-write"),
        ("read-write-directmessages", None, "read-write-directmessages"),
        ("read-write-directmessages", "read", "read"),
        ("read-write-directmessages", "write", "read-write"),
    ],
)
def test_granted_level(app_permission: str, access_type: str | None, granted: str) -> None:
    assert granted_level(app_permission, access_type) == granted

    provider = FakeProvider(KEY, SECRET, clock=lambda: NOW, app_permission=app_permission)
    query = f"?x_auth_access_type={access_type}" if access_type else ""
    url, headers, body = sign(f"{API}/oauth/request_token{query}", callback=CALLBACK)
    pending = form(provider.handle("POST", url, headers, body))
    verifier = provider.approve(pending["oauth_token"])
    response = exchange(provider, pending["oauth_token"], pending["oauth_token_secret"], verifier)
    assert response.headers["x-access-level"] == granted


def test_approve_with_an_access_level(provider: FakeProvider) -> None:
    pending = request_token(provider)

    with pytest.raises(ValueError, match="access_level"):
        provider.approve(pending["oauth_token"], access_level="admin")
    verifier = provider.approve(pending["oauth_token"], access_level="read-write-directmessages")

    response = exchange(provider, pending["oauth_token"], pending["oauth_token_secret"], verifier)
    assert response.headers["x-access-level"] == "read-write-directmessages"


@pytest.mark.parametrize("value", ["admin", "Read", ""])
def test_app_permission_is_checked(provider: FakeProvider, value: str) -> None:
    with pytest.raises(ValueError, match="app_permission"):
        FakeProvider(KEY, SECRET, app_permission=value)
    with pytest.raises(ValueError, match="app_permission"):
        provider.app_permission = value
    assert provider.app_permission == "read-write"
    provider.app_permission = "read"
    assert provider.app_permission == "read"


def test_reauthorization(provider: FakeProvider) -> None:
    first = access_token(provider, user_id="42")

    assert access_token(provider, user_id="42") == first
    other_level = access_token(provider, user_id="42", access_level="read")
    assert other_level[0] != first[0]
    assert access_token(provider, user_id="7") != first
    # Both levels' tokens stay valid; a revoked one is replaced by a new one.
    assert provider.access_token_valid(first[0])
    assert provider.invalidate(first[0])
    assert not provider.invalidate(first[0])
    again = access_token(provider, user_id="42")
    assert again[0] != first[0]
    assert access_token(provider, user_id="42") == again


def test_add_access_token(provider: FakeProvider) -> None:
    provider.add_consumer("second-app", "second-secret")
    provider.add_access_token("1-abc", "secret-1", user_id="1", screen_name="one")
    provider.add_access_token("2-abc", "secret-2", consumer_key="second-app", access_level="read")
    with pytest.raises(ValueError, match="access_level"):
        provider.add_access_token("3-abc", "secret-3", access_level="none")

    response = send(
        provider,
        "1.1/account/verify_credentials.json",
        "GET",
        token="1-abc",
        token_secret="secret-1",
    )
    assert json.loads(response.body)["screen_name"] == "one"
    assert response.headers["x-access-level"] == "read-write"
    response = send(
        provider,
        "1.1/account/verify_credentials.json",
        "GET",
        key="second-app",
        secret="second-secret",
        token="2-abc",
        token_secret="secret-2",
    )
    assert response.headers["x-access-level"] == "read"
    assert not provider.access_token_valid("3-abc")
    # The user re-authorizing at the same level gets the token the site holds.
    assert access_token(provider, user_id="1") == ("1-abc", "secret-1")


def test_add_request_token(provider: FakeProvider) -> None:
    with pytest.raises(ValueError, match="access_type"):
        provider.add_request_token("t", "s", access_type="admin")
    provider.add_request_token("t", "s", access_type="read")

    assert provider.pending("t") == {
        "secret": "s",
        "consumer_key": KEY,
        "callback": "oob",
        "access_type": "read",
        "verifier": None,
        "user": None,
    }
    verifier = provider.approve("t", verifier="fixed")
    assert verifier == "fixed"
    assert exchange(provider, "t", "s", "fixed").headers["x-access-level"] == "read"


# -- faults ---------------------------------------------------------------------------------


def test_fault_kinds() -> None:
    with pytest.raises(ValueError, match="kind"):
        Fault("bogus")


@pytest.mark.parametrize("endpoint", ["oauth/nope", "", "1.1/statuses/update.json"])
def test_add_fault_unknown_endpoint(provider: FakeProvider, endpoint: str) -> None:
    with pytest.raises(ValueError, match="Unknown endpoint"):
        provider.add_fault(endpoint, Fault())


def test_response_fault(provider: FakeProvider) -> None:
    body = twitter_error(131, "Internal error.")
    provider.add_fault("oauth/request_token", Fault(status=500, body=body), times=2)
    provider.add_fault("oauth/request_token", Fault(status=503, headers={"retry-after": "1"}))

    responses = [send(provider, "oauth/request_token", callback=CALLBACK) for _ in range(4)]

    assert [r.status for r in responses] == [500, 500, 503, 200]
    assert responses[0].body == body
    assert responses[2].headers == {"retry-after": "1"}
    assert provider.store.get("count", "oauth/request_token") == 4


def test_faults_are_per_endpoint(provider: FakeProvider) -> None:
    provider.add_fault("1.1/oauth/invalidate_token.json", Fault(status=502))

    assert request_token(provider)
    token, secret = access_token(provider)
    response = send(provider, "1.1/oauth/invalidate_token", token=token, token_secret=secret)
    assert response.status == 502
    assert provider.access_token_valid(token)


def test_browser_endpoint_fault(provider: FakeProvider) -> None:
    provider.add_fault("oauth/authenticate", Fault(status=503))

    assert provider.handle("GET", f"{API}/oauth/authenticate", {}, None).status == 503
    assert provider.handle("GET", f"{API}/oauth/authenticate", {}, None).status == 200
    assert provider.handle("GET", f"{API}/oauth/authorize", {}, None).status == 200


@pytest.mark.parametrize(
    ("kind", "exception"), [("connection_error", ConnectionFault), ("timeout", TimeoutFault)]
)
def test_network_faults(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, kind: str, exception: type[Exception]
) -> None:
    slept: list[float] = []
    monkeypatch.setattr("django_twitter_oauth.testing.provider.time.sleep", slept.append)
    provider.add_fault("oauth/request_token", Fault(kind, latency=0.25))

    with pytest.raises(exception, match="oauth/request_token"):
        send(provider, "oauth/request_token", callback=CALLBACK)
    assert slept == [0.25]
    assert request_token(provider)
    assert slept == [0.25]


def test_latency_fault(provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("django_twitter_oauth.testing.provider.time.sleep", slept.append)
    provider.add_fault("oauth/request_token", Fault("latency", latency=1.5))
    provider.add_fault("oauth/request_token", Fault("response", status=500, latency=0.5))

    assert request_token(provider)
    assert send(provider, "oauth/request_token", callback=CALLBACK).status == 500
    assert slept == [1.5, 0.5]


# -- races ----------------------------------------------------------------------------------


class RaceStore(MemoryStore):
    """Holds every ``pop`` until ``parties`` callers are there, so that all of them
    validated their request before any consumes the record."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=5)

    def pop(self, kind: str, key: str) -> Any:
        self.barrier.wait()
        return super().pop(kind, key)


def run_together(calls: list[Callable[[], FakeResponse]]) -> list[FakeResponse]:
    results: list[FakeResponse] = []
    threads = [threading.Thread(target=lambda c=call: results.append(c())) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_access_token_exchanges() -> None:
    provider = FakeProvider(KEY, SECRET, clock=lambda: NOW, store=RaceStore(2))
    pending = request_token(provider)
    token, secret = pending["oauth_token"], pending["oauth_token_secret"]
    verifier = provider.approve(token)

    results = run_together([lambda: exchange(provider, token, secret, verifier)] * 2)

    assert sorted(r.status for r in results) == [200, 401]
    assert [text(r) for r in results if r.status == 401] == [INVALID_REQUEST_TOKEN]


def test_concurrent_invalidations() -> None:
    provider = FakeProvider(KEY, SECRET, clock=lambda: NOW, store=RaceStore(2))
    provider.add_access_token("1-abc", "secret")

    def invalidate() -> FakeResponse:
        return send(provider, "1.1/oauth/invalidate_token", token="1-abc", token_secret="secret")

    results = run_together([invalidate, invalidate])

    assert sorted(r.status for r in results) == [200, 401]
    assert [error(r) for r in results if r.status == 401] == [(401, 89)]
    assert not provider.access_token_valid("1-abc")


@pytest.mark.parametrize(
    "callback",
    ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x", "file:///etc/passwd"],
)
@pytest.mark.parametrize("callback_urls", [None, ["javascript:alert(1)"]])
def test_dangerous_callback_schemes_are_refused(
    callback: str, callback_urls: list[str] | None
) -> None:
    from django_twitter_oauth.client import TwitterClient
    from django_twitter_oauth.exceptions import CallbackNotApproved
    from django_twitter_oauth.testing import FakeTwitter

    twitter = TwitterClient(consumer_key=KEY, consumer_secret=SECRET, api_url=API)
    with (
        FakeTwitter(KEY, SECRET, api_url=API, callback_urls=callback_urls),
        pytest.raises(CallbackNotApproved) as excinfo,
    ):
        twitter.fetch_request_token(callback)
    assert (excinfo.value.status_code, excinfo.value.code) == (403, 415)
