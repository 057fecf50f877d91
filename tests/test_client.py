from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl, quote

import pytest
import requests
import responses
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from pytest_django import Settings
from requests_oauthlib import OAuth1Session

from django_twitter_oauth import client as client_module
from django_twitter_oauth.client import (
    AccessTokenResult,
    Credentials,
    RequestTokenResult,
    TwitterClient,
    TwitterSession,
)
from django_twitter_oauth.exceptions import (
    AccessTierError,
    CallbackNotApproved,
    ConfigurationRejected,
    MalformedResponse,
    TokenInvalid,
    TwitterError,
    TwitterRateLimited,
    TwitterRejected,
    TwitterUnavailable,
)
from tests import vectors
from tests.signing import assert_signed, body_text, expected_signature, oauth_params
from tests.vectors import (
    LOGIN_KEY,
    LOGIN_REQUEST_SECRET,
    LOGIN_REQUEST_TOKEN,
    LOGIN_SECRET,
    LOGIN_VERIFIER,
    SIG_KEY,
    SIG_SECRET,
    SIG_STATUS,
    SIG_TOKEN,
    SIG_TOKEN_SECRET,
)

API = "https://api.twitter.com"
CONSUMER_KEY = "tests-consumer-key"
CONSUMER_SECRET = "tests-consumer-secret"
CALLBACK = "https://example.com/twitter/callback/"
REQUEST_TOKEN = "Z6eEdO8MOmk394WozF5oKyuAv855l4Mlqo7hhlSLik"
REQUEST_SECRET = "Kd75W4OQfb2oJTV0vzGzeXftVAwgMnEK9MumzYcM"
VERIFIER = "ghLM8lYmAxDbaqL912RZSRjCCEXKDIzx"
ACCESS_TOKEN = "6253282-eWudHldSbIaelX7swmsiHImEL4KinwaGloHANdrY"
ACCESS_SECRET = "2EEfA6BG5ly3sR3XjE0IBSnlQu4ZrUzPiYTmrkVU"
SECRETS = (CONSUMER_SECRET, REQUEST_TOKEN, REQUEST_SECRET, VERIFIER, ACCESS_TOKEN, ACCESS_SECRET)

REQUEST_TOKEN_BODY = (
    f"oauth_token={REQUEST_TOKEN}&oauth_token_secret={REQUEST_SECRET}&oauth_callback_confirmed=true"
)
ACCESS_TOKEN_BODY = (
    f"oauth_token={ACCESS_TOKEN}&oauth_token_secret={ACCESS_SECRET}"
    "&user_id=6253282&screen_name=twitterapi"
)
USER = {"id": 6253282, "id_str": "6253282", "screen_name": "twitterapi", "name": "Twitter API"}


# -- helpers ------------------------------------------------------------------------------


def assert_no_secrets(text: str, *extra: str) -> None:
    for secret in (*SECRETS, *extra):
        assert secret not in text
        assert quote(secret, safe="") not in text


def assert_deadline(timeout: object, seconds: float) -> None:
    """The (connect, read) timeouts sent: the time left of a ``seconds`` deadline."""
    assert isinstance(timeout, tuple)
    assert all(seconds - 0.2 < value <= seconds for value in timeout)


def sent(api: responses.RequestsMock, index: int = 0) -> requests.PreparedRequest:
    return api.calls[index].request


def sent_kwargs(api: responses.RequestsMock, index: int = 0) -> dict[str, Any]:
    # responses keeps the keyword arguments the adapter's send() got (timeout, ...).
    return cast(dict[str, Any], cast(Any, sent(api, index)).req_kwargs)


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def client() -> TwitterClient:
    return TwitterClient()


@pytest.fixture
def fixed_nonce(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], None]:
    """Fix oauthlib's nonce and timestamp, as the published vectors do."""

    def fix(nonce: str, timestamp: str) -> None:
        monkeypatch.setattr("oauthlib.oauth1.rfc5849.generate_nonce", lambda: nonce)
        monkeypatch.setattr("oauthlib.oauth1.rfc5849.generate_timestamp", lambda: timestamp)

    return fix


@dataclass(frozen=True)
class Call:
    """One TwitterClient method, its endpoint and a successful answer."""

    endpoint: str
    method: str
    invoke: Callable[[TwitterClient], object]
    ok_body: str
    token_secret: str

    @property
    def url(self) -> str:
        return f"{API}/{self.endpoint}"


CALLS = [
    Call(
        "oauth/request_token",
        "POST",
        lambda c: c.fetch_request_token(CALLBACK),
        REQUEST_TOKEN_BODY,
        "",
    ),
    Call(
        "oauth/access_token",
        "POST",
        lambda c: c.fetch_access_token(REQUEST_TOKEN, REQUEST_SECRET, VERIFIER),
        ACCESS_TOKEN_BODY,
        REQUEST_SECRET,
    ),
    Call(
        "1.1/oauth/invalidate_token",
        "POST",
        lambda c: c.invalidate_token(ACCESS_TOKEN, ACCESS_SECRET),
        json.dumps({"access_token": ACCESS_TOKEN}),
        ACCESS_SECRET,
    ),
    Call(
        "1.1/account/verify_credentials.json",
        "GET",
        lambda c: c.verify_credentials(ACCESS_TOKEN, ACCESS_SECRET),
        json.dumps(USER),
        ACCESS_SECRET,
    ),
]
every_call = pytest.mark.parametrize("call", CALLS, ids=[c.endpoint for c in CALLS])


# -- published signature vectors ----------------------------------------------------------


def test_signature_helper_reproduces_rfc_vector() -> None:
    # RFC 5849 §3.4.1 (with the corrected signature, tests/vectors.py): proves the helper
    # the other tests check against is itself right.
    request = requests.Request(
        "POST",
        vectors.RFC_URL,
        data=vectors.RFC_BODY,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": 'OAuth realm="Example", '
            f'oauth_consumer_key="{vectors.RFC_CONSUMER_KEY}", oauth_token="{vectors.RFC_TOKEN}", '
            'oauth_signature_method="HMAC-SHA1", '
            f'oauth_timestamp="{vectors.RFC_TIME}", oauth_nonce="{vectors.RFC_NONCE}"',
        },
    ).prepare()
    params = oauth_params(request)
    assert params.pop("realm") == "Example"
    request.headers["Authorization"] = "OAuth " + ", ".join(f'{k}="{v}"' for k, v in params.items())
    assert (
        expected_signature(request, vectors.RFC_CONSUMER_SECRET, vectors.RFC_TOKEN_SECRET)
        == vectors.RFC_SIGNATURE
    )


def test_vector_login_with_x_request_token(
    api: responses.RequestsMock, fixed_nonce: Callable[[str, str], None]
) -> None:
    fixed_nonce(vectors.LOGIN_REQUEST_TOKEN_NONCE, str(vectors.LOGIN_TIME))
    api.post(
        f"{API}/oauth/request_token",
        body=f"oauth_token={LOGIN_REQUEST_TOKEN}&oauth_token_secret={LOGIN_REQUEST_SECRET}"
        "&oauth_callback_confirmed=true",
        content_type="text/html; charset=utf-8",
    )
    client = TwitterClient(consumer_key=LOGIN_KEY, consumer_secret=LOGIN_SECRET, api_url=API)

    result = client.fetch_request_token(vectors.LOGIN_CALLBACK)

    assert result == RequestTokenResult(token=LOGIN_REQUEST_TOKEN, secret=LOGIN_REQUEST_SECRET)
    request = sent(api)
    assert request.method == "POST"
    assert request.url == f"{API}/oauth/request_token"
    assert not request.body
    assert oauth_params(request) == {
        "oauth_callback": vectors.LOGIN_CALLBACK,
        "oauth_consumer_key": LOGIN_KEY,
        "oauth_nonce": vectors.LOGIN_REQUEST_TOKEN_NONCE,
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(vectors.LOGIN_TIME),
        "oauth_version": "1.0",
        "oauth_signature": vectors.LOGIN_REQUEST_TOKEN_SIGNATURE,
    }


def test_vector_login_with_x_access_token(
    api: responses.RequestsMock, fixed_nonce: Callable[[str, str], None]
) -> None:
    fixed_nonce(vectors.LOGIN_ACCESS_TOKEN_NONCE, str(vectors.LOGIN_TIME))
    api.post(
        f"{API}/oauth/access_token",
        body=f"oauth_token={vectors.LOGIN_ACCESS_TOKEN}"
        f"&oauth_token_secret={vectors.LOGIN_ACCESS_SECRET}",
    )
    client = TwitterClient(consumer_key=LOGIN_KEY, consumer_secret=LOGIN_SECRET, api_url=API)

    result = client.fetch_access_token(LOGIN_REQUEST_TOKEN, LOGIN_REQUEST_SECRET, LOGIN_VERIFIER)

    assert result == AccessTokenResult(
        token=vectors.LOGIN_ACCESS_TOKEN,
        secret=vectors.LOGIN_ACCESS_SECRET,
        user_id=None,
        screen_name=None,
        access_level=None,
    )
    assert oauth_params(sent(api)) == {
        "oauth_consumer_key": LOGIN_KEY,
        "oauth_nonce": vectors.LOGIN_ACCESS_TOKEN_NONCE,
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(vectors.LOGIN_TIME),
        "oauth_token": LOGIN_REQUEST_TOKEN,
        "oauth_verifier": LOGIN_VERIFIER,
        "oauth_version": "1.0",
        "oauth_signature": vectors.LOGIN_ACCESS_TOKEN_SIGNATURE,
    }


@pytest.mark.parametrize(("host", "signature"), vectors.SIG_SIGNATURES)
def test_vector_creating_a_signature(
    api: responses.RequestsMock,
    fixed_nonce: Callable[[str, str], None],
    host: str,
    signature: str,
) -> None:
    fixed_nonce(vectors.SIG_NONCE, str(vectors.SIG_TIME))
    api.post(f"{host}/1.1/statuses/update.json", json={"id_str": "1"})
    client = TwitterClient(consumer_key=SIG_KEY, consumer_secret=SIG_SECRET, api_url=host)

    with client.session(SIG_TOKEN, SIG_TOKEN_SECRET) as session:
        response = session.post(
            f"{host}/1.1/statuses/update.json?include_entities=true", data={"status": SIG_STATUS}
        )

    assert response.json() == {"id_str": "1"}
    request = sent(api)
    assert dict(parse_qsl(body_text(request))) == {"status": SIG_STATUS}
    assert oauth_params(request) == {
        "oauth_consumer_key": SIG_KEY,
        "oauth_nonce": vectors.SIG_NONCE,
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(vectors.SIG_TIME),
        "oauth_token": SIG_TOKEN,
        "oauth_version": "1.0",
        "oauth_signature": signature,
    }
    assert expected_signature(request, SIG_SECRET, SIG_TOKEN_SECRET) == signature


# -- construction and settings ------------------------------------------------------------


def test_client_reads_settings(client: TwitterClient) -> None:
    assert client.consumer_key == CONSUMER_KEY
    assert client.consumer_secret == CONSUMER_SECRET
    assert client.api_url == "https://api.twitter.com"
    assert client.timeout == 10


def test_new_client_picks_up_changed_settings(api: responses.RequestsMock) -> None:
    api.post("https://api.x.com/oauth/request_token", body=REQUEST_TOKEN_BODY)
    with override_settings(
        TWITTER_OAUTH_CONSUMER_KEY="other-key",
        TWITTER_OAUTH_CONSUMER_SECRET="other-secret",
        TWITTER_OAUTH_API_URL="https://api.x.com/",
        TWITTER_OAUTH_TIMEOUT=2.5,
    ):
        client = TwitterClient()
    assert (client.consumer_key, client.api_url, client.timeout) == (
        "other-key",
        "https://api.x.com",
        2.5,
    )

    client.fetch_request_token(CALLBACK)

    request = sent(api)
    assert oauth_params(request)["oauth_consumer_key"] == "other-key"
    assert_signed(request, consumer_secret="other-secret")
    assert_deadline(sent_kwargs(api)["timeout"], 2.5)


def test_arguments_win_over_settings() -> None:
    client = TwitterClient(
        consumer_key="arg-key", consumer_secret="arg-secret", api_url="http://fake//", timeout=1
    )
    assert (client.consumer_key, client.consumer_secret, client.api_url, client.timeout) == (
        "arg-key",
        "arg-secret",
        "http://fake",
        1,
    )


@pytest.mark.parametrize("name", ["TWITTER_OAUTH_CONSUMER_KEY", "TWITTER_OAUTH_CONSUMER_SECRET"])
def test_missing_keys_are_a_configuration_error(settings: Settings, name: str) -> None:
    setattr(settings, name, "")
    with pytest.raises(ImproperlyConfigured, match="TWITTER_OAUTH_CONSUMER_SECRET") as info:
        TwitterClient()
    assert_no_secrets(str(info.value))


def test_client_repr_has_no_secret(client: TwitterClient) -> None:
    text = repr(client)
    assert text == (
        "TwitterClient(consumer_key='tests-consumer-key', "
        "api_url='https://api.twitter.com', timeout=10)"
    )
    assert_no_secrets(text)


def test_result_reprs_have_no_secret() -> None:
    texts = [
        repr(RequestTokenResult(token=REQUEST_TOKEN, secret=REQUEST_SECRET)),
        repr(AccessTokenResult(ACCESS_TOKEN, ACCESS_SECRET, "6253282", "twitterapi", "read")),
        repr(
            Credentials(
                "6253282", "twitterapi", "read", {"email": "a@example.com"}, "X", "a@example.com"
            )
        ),
    ]
    assert texts == [
        "RequestTokenResult()",
        "AccessTokenResult(user_id='6253282', screen_name='twitterapi', access_level='read')",
        "Credentials(user_id='6253282', screen_name='twitterapi', access_level='read', name='X')",
    ]
    assert "example.com" not in texts[2]
    for text in texts:
        assert_no_secrets(text)


# -- request token ------------------------------------------------------------------------


@pytest.mark.parametrize("access_type", ["read", "write"])
def test_fetch_request_token_with_access_type(
    api: responses.RequestsMock, client: TwitterClient, access_type: str
) -> None:
    api.post(f"{API}/oauth/request_token", body=REQUEST_TOKEN_BODY)

    result = client.fetch_request_token(CALLBACK, access_type=access_type)

    assert result == RequestTokenResult(token=REQUEST_TOKEN, secret=REQUEST_SECRET)
    request = sent(api)
    assert request.url == f"{API}/oauth/request_token?x_auth_access_type={access_type}"
    assert oauth_params(request)["oauth_callback"] == CALLBACK
    assert "oauth_token" not in oauth_params(request)
    # x_auth_access_type is part of the signature base string (checked independently).
    assert_signed(request)


def test_fetch_request_token_oob_ignores_content_type(
    api: responses.RequestsMock, client: TwitterClient
) -> None:
    api.post(f"{API}/oauth/request_token", body=REQUEST_TOKEN_BODY, content_type="application/json")

    result = client.fetch_request_token("oob")

    assert result.token == REQUEST_TOKEN
    assert result.secret == REQUEST_SECRET
    request = sent(api)
    assert request.url == f"{API}/oauth/request_token"
    assert oauth_params(request)["oauth_callback"] == "oob"
    assert_signed(request)


def test_fetch_request_token_rejects_unknown_access_type(client: TwitterClient) -> None:
    with pytest.raises(ValueError, match="access_type"):
        client.fetch_request_token(CALLBACK, access_type="read-write")


def test_fetch_request_token_requires_callback(client: TwitterClient) -> None:
    with pytest.raises(ValueError, match="callback"):
        client.fetch_request_token("")


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        (f"oauth_token_secret={REQUEST_SECRET}&oauth_callback_confirmed=true", "oauth_token"),
        (
            f"oauth_token={REQUEST_TOKEN}&oauth_token_secret=&oauth_callback_confirmed=true",
            "oauth_token_secret",
        ),
        ("", "oauth_token, oauth_token_secret"),
        ("<html><body>Welcome</body></html>", "oauth_token, oauth_token_secret"),
    ],
)
def test_fetch_request_token_incomplete_body(
    api: responses.RequestsMock, client: TwitterClient, body: str, missing: str
) -> None:
    api.post(f"{API}/oauth/request_token", body=body)

    with pytest.raises(MalformedResponse) as info:
        client.fetch_request_token(CALLBACK)

    error = info.value
    assert str(error) == f"Twitter's answer to oauth/request_token lacked {missing}."
    assert (error.endpoint, error.status_code, error.code, error.twitter_message) == (
        "oauth/request_token",
        200,
        None,
        "",
    )
    assert_no_secrets(str(error))


@pytest.mark.parametrize("confirmed", ["True", "TRUE", "true"])
def test_fetch_request_token_callback_confirmed_any_case(
    api: responses.RequestsMock, client: TwitterClient, confirmed: str
) -> None:
    # Twitter sends "true"; independent OAuth 1.0a servers send "True" (issue 14.10).
    api.post(
        f"{API}/oauth/request_token",
        body=f"oauth_token={REQUEST_TOKEN}&oauth_token_secret={REQUEST_SECRET}"
        f"&oauth_callback_confirmed={confirmed}",
    )

    result = client.fetch_request_token(CALLBACK)

    assert (result.token, result.secret) == (REQUEST_TOKEN, REQUEST_SECRET)


@pytest.mark.parametrize(
    "confirmed",
    [
        "&oauth_callback_confirmed=false",
        "",
        "&oauth_callback_confirmed=",
        "&oauth_callback_confirmed=yes",
    ],
)
def test_fetch_request_token_callback_not_confirmed(
    api: responses.RequestsMock, client: TwitterClient, confirmed: str
) -> None:
    api.post(
        f"{API}/oauth/request_token",
        body=f"oauth_token={REQUEST_TOKEN}&oauth_token_secret={REQUEST_SECRET}{confirmed}",
    )

    with pytest.raises(MalformedResponse, match="did not confirm the callback") as info:
        client.fetch_request_token(CALLBACK)

    assert info.value.status_code == 200
    assert_no_secrets(str(info.value))


def test_fetch_request_token_body_not_utf8(
    api: responses.RequestsMock, client: TwitterClient
) -> None:
    api.post(f"{API}/oauth/request_token", body=b"oauth_token=\xff\xfe")

    with pytest.raises(MalformedResponse, match="not UTF-8"):
        client.fetch_request_token(CALLBACK)


# -- authorization URL --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, f"{API}/oauth/authenticate?oauth_token={REQUEST_TOKEN}"),
        ({"authenticate": False}, f"{API}/oauth/authorize?oauth_token={REQUEST_TOKEN}"),
        (
            {"force_login": True},
            f"{API}/oauth/authenticate?oauth_token={REQUEST_TOKEN}&force_login=true",
        ),
        (
            {"authenticate": False, "force_login": True, "screen_name": "jack o'neil"},
            f"{API}/oauth/authorize?oauth_token={REQUEST_TOKEN}&force_login=true"
            "&screen_name=jack+o%27neil",
        ),
        ({"screen_name": ""}, f"{API}/oauth/authenticate?oauth_token={REQUEST_TOKEN}"),
    ],
)
def test_authorization_url(client: TwitterClient, kwargs: Any, expected: str) -> None:
    url = client.authorization_url(REQUEST_TOKEN, **kwargs)

    assert url == expected
    assert "oauth_callback" not in url


def test_authorization_url_uses_api_url() -> None:
    client = TwitterClient(api_url="https://api.x.com/")

    assert client.authorization_url("t") == "https://api.x.com/oauth/authenticate?oauth_token=t"


# -- access token -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "level"),
    [
        (None, None),
        ("read", "read"),
        ("read-write", "read-write"),
        ("read-write-directmessages", "read-write-directmessages"),
        (" Read-Write ", "read-write"),
        ("", None),
    ],
)
def test_fetch_access_token(
    api: responses.RequestsMock, client: TwitterClient, header: str | None, level: str | None
) -> None:
    headers = {} if header is None else {"x-access-level": header}
    api.post(f"{API}/oauth/access_token", body=ACCESS_TOKEN_BODY, headers=headers)

    result = client.fetch_access_token(REQUEST_TOKEN, REQUEST_SECRET, VERIFIER)

    assert result == AccessTokenResult(
        token=ACCESS_TOKEN,
        secret=ACCESS_SECRET,
        user_id="6253282",
        screen_name="twitterapi",
        access_level=level,
    )
    request = sent(api)
    params = oauth_params(request)
    assert params["oauth_token"] == REQUEST_TOKEN
    assert params["oauth_verifier"] == VERIFIER
    assert "oauth_callback" not in params
    assert_signed(request, token_secret=REQUEST_SECRET)


@pytest.mark.parametrize(
    "extra", ["", "&user_id=&screen_name=", "&user_id=6253282", "&screen_name=twitterapi"]
)
def test_fetch_access_token_without_user(
    api: responses.RequestsMock, client: TwitterClient, extra: str
) -> None:
    api.post(
        f"{API}/oauth/access_token",
        body=f"oauth_token={ACCESS_TOKEN}&oauth_token_secret={ACCESS_SECRET}{extra}",
        headers={"x-access-level": "read"},
    )

    result = client.fetch_access_token(REQUEST_TOKEN, REQUEST_SECRET, VERIFIER)

    assert (result.token, result.secret, result.access_level) == (
        ACCESS_TOKEN,
        ACCESS_SECRET,
        "read",
    )
    assert result.user_id == ("6253282" if "user_id=6" in extra else None)
    assert result.screen_name == ("twitterapi" if "screen_name=t" in extra else None)


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        (f"oauth_token_secret={ACCESS_SECRET}&user_id=1", "oauth_token"),
        (f"oauth_token={ACCESS_TOKEN}&screen_name=x", "oauth_token_secret"),
        ("Invalid request token", "oauth_token, oauth_token_secret"),
    ],
)
def test_fetch_access_token_incomplete_body(
    api: responses.RequestsMock, client: TwitterClient, body: str, missing: str
) -> None:
    api.post(f"{API}/oauth/access_token", body=body)

    with pytest.raises(MalformedResponse) as info:
        client.fetch_access_token(REQUEST_TOKEN, REQUEST_SECRET, VERIFIER)

    assert str(info.value) == f"Twitter's answer to oauth/access_token lacked {missing}."
    assert info.value.endpoint == "oauth/access_token"
    assert_no_secrets(str(info.value))


# -- the shape of what Twitter sends (issue 14.7) -------------------------------------------

LONG = "A" * 256
BAD_CREDENTIALS = {
    "too-long": LONG,
    "nul": "abc\x00def",
    "space": "abc def",
    "newline": "abc\ndef",
    "non-ascii": "abcdéf",
}
BAD_USER_IDS = {"letters": "12a4", "too-long": "1" * 33, "nul": "12\x0034", "unicode-digits": "١٢٣"}
BAD_SCREEN_NAMES = {
    "too-long": "a" * 51,
    "300": "a" * 300,
    "nul": "abc\x00",
    "dash": "ab-cd",
    "space": "ab cd",
    "non-ascii": "abcé",
}


def form_body(**values: str) -> str:
    return "&".join(f"{name}={quote(value, safe='')}" for name, value in values.items())


def test_longest_allowed_values_pass(api: responses.RequestsMock, client: TwitterClient) -> None:
    token, secret = "t" * 255, "~" * 255
    api.post(
        f"{API}/oauth/access_token",
        body=form_body(
            oauth_token=token, oauth_token_secret=secret, user_id="9" * 32, screen_name="_" * 50
        ),
    )

    result = client.fetch_access_token(REQUEST_TOKEN, REQUEST_SECRET, VERIFIER)

    assert (result.token, result.secret, result.user_id, result.screen_name) == (
        token,
        secret,
        "9" * 32,
        "_" * 50,
    )


@pytest.mark.parametrize("field", ["oauth_token", "oauth_token_secret"])
@pytest.mark.parametrize("value", list(BAD_CREDENTIALS.values()), ids=list(BAD_CREDENTIALS))
def test_request_token_out_of_shape(
    api: responses.RequestsMock, client: TwitterClient, field: str, value: str
) -> None:
    values = {"oauth_token": REQUEST_TOKEN, "oauth_token_secret": REQUEST_SECRET, field: value}
    api.post(
        f"{API}/oauth/request_token",
        body=form_body(**values, oauth_callback_confirmed="true"),
    )

    with pytest.raises(MalformedResponse) as info:
        client.fetch_request_token(CALLBACK)

    assert str(info.value) == f"Twitter's answer to oauth/request_token has a malformed {field}."
    assert value not in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        *(
            (field, value)
            for field in ("oauth_token", "oauth_token_secret")
            for value in BAD_CREDENTIALS.values()
        ),
        *(("user_id", value) for value in BAD_USER_IDS.values()),
        *(("screen_name", value) for value in BAD_SCREEN_NAMES.values()),
    ],
)
def test_access_token_out_of_shape(
    api: responses.RequestsMock, client: TwitterClient, field: str, value: str
) -> None:
    values = {
        "oauth_token": ACCESS_TOKEN,
        "oauth_token_secret": ACCESS_SECRET,
        "user_id": "6253282",
        "screen_name": "twitterapi",
        field: value,
    }
    api.post(f"{API}/oauth/access_token", body=form_body(**values))

    with pytest.raises(MalformedResponse) as info:
        client.fetch_access_token(REQUEST_TOKEN, REQUEST_SECRET, VERIFIER)

    assert str(info.value) == f"Twitter's answer to oauth/access_token has a malformed {field}."


@pytest.mark.parametrize("header", ["admin", "read write", "read\x00"])
def test_access_token_unknown_access_level(
    api: responses.RequestsMock, client: TwitterClient, header: str
) -> None:
    api.post(
        f"{API}/oauth/access_token", body=ACCESS_TOKEN_BODY, headers={"x-access-level": header}
    )

    with pytest.raises(MalformedResponse, match="unknown access level"):
        client.fetch_access_token(REQUEST_TOKEN, REQUEST_SECRET, VERIFIER)


@pytest.mark.parametrize(
    ("user", "what"),
    [
        *(
            ({"id_str": value, "screen_name": "twitterapi"}, "user id")
            for value in BAD_USER_IDS.values()
        ),
        ({"id": -5, "screen_name": "twitterapi"}, "user id"),
        *(
            ({"id_str": "1", "screen_name": value}, "screen name")
            for value in BAD_SCREEN_NAMES.values()
        ),
    ],
)
def test_verify_credentials_out_of_shape(
    api: responses.RequestsMock, client: TwitterClient, user: dict[str, Any], what: str
) -> None:
    api.get(f"{API}/1.1/account/verify_credentials.json", json=user)

    with pytest.raises(MalformedResponse) as info:
        client.verify_credentials(ACCESS_TOKEN, ACCESS_SECRET)

    assert str(info.value) == (
        f"Twitter's answer to 1.1/account/verify_credentials.json has a malformed {what}."
    )


def test_verify_credentials_unknown_access_level(
    api: responses.RequestsMock, client: TwitterClient
) -> None:
    api.get(
        f"{API}/1.1/account/verify_credentials.json", json=USER, headers={"x-access-level": "root"}
    )

    with pytest.raises(MalformedResponse, match="unknown access level"):
        client.verify_credentials(ACCESS_TOKEN, ACCESS_SECRET)


# -- invalidate and verify ----------------------------------------------------------------


@pytest.mark.parametrize(("status", "body"), [(200, '{"access_token":"ACCESS_TOKEN"}'), (204, "")])
def test_invalidate_token(
    api: responses.RequestsMock, client: TwitterClient, status: int, body: str
) -> None:
    api.post(f"{API}/1.1/oauth/invalidate_token", status=status, body=body)

    client.invalidate_token(ACCESS_TOKEN, ACCESS_SECRET)

    request = sent(api)
    assert request.url == f"{API}/1.1/oauth/invalidate_token"
    assert oauth_params(request)["oauth_token"] == ACCESS_TOKEN
    assert_signed(request, token_secret=ACCESS_SECRET)


@pytest.mark.parametrize(
    ("user", "header", "level"),
    [
        (USER, "read-write-directmessages", "read-write-directmessages"),
        ({"id": 6253282, "screen_name": "twitterapi"}, "read", "read"),
        ({"id": 6253282, "id_str": "", "screen_name": "twitterapi"}, None, None),
        ({"id": 1, "id_str": "6253282", "screen_name": "twitterapi"}, " READ ", "read"),
    ],
)
def test_verify_credentials(
    api: responses.RequestsMock,
    client: TwitterClient,
    user: dict[str, Any],
    header: str | None,
    level: str | None,
) -> None:
    headers = {} if header is None else {"x-access-level": header}
    api.get(f"{API}/1.1/account/verify_credentials.json", json=user, headers=headers)

    credentials = client.verify_credentials(ACCESS_TOKEN, ACCESS_SECRET)

    assert credentials == Credentials(
        user_id="6253282",
        screen_name="twitterapi",
        access_level=level,
        data=user,
        name=user.get("name", ""),
    )
    request = sent(api)
    assert request.method == "GET"
    assert request.url == (
        f"{API}/1.1/account/verify_credentials.json?skip_status=true&include_entities=false"
    )
    assert oauth_params(request)["oauth_token"] == ACCESS_TOKEN
    assert_signed(request, token_secret=ACCESS_SECRET)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html>Welcome</html>", "is not JSON"),
        ("", "is not JSON"),
        ("[1, 2]", "is not a JSON object"),
        ('{"screen_name": "twitterapi"}', "lacked the user id"),
        ('{"id_str": 6253282, "screen_name": "twitterapi"}', "lacked the user id"),
        ('{"id": true, "screen_name": "twitterapi"}', "lacked the user id"),
        ('{"id": "6253282", "screen_name": "twitterapi"}', "lacked the user id"),
        ('{"id_str": "6253282"}', "lacked the screen name"),
        ('{"id_str": "6253282", "screen_name": ""}', "lacked the screen name"),
    ],
)
def test_verify_credentials_malformed(
    api: responses.RequestsMock, client: TwitterClient, body: str, message: str
) -> None:
    api.get(f"{API}/1.1/account/verify_credentials.json", body=body)

    with pytest.raises(MalformedResponse, match=message) as info:
        client.verify_credentials(ACCESS_TOKEN, ACCESS_SECRET)

    error = info.value
    assert (error.endpoint, error.status_code, error.code, error.twitter_message) == (
        "1.1/account/verify_credentials.json",
        200,
        None,
        "",
    )
    assert_no_secrets(str(error))


# -- session ------------------------------------------------------------------------------


def test_session_is_signed_as_the_user(api: responses.RequestsMock, client: TwitterClient) -> None:
    api.get(f"{API}/2/users/me", json={"data": {"id": "6253282"}})

    with client.session(ACCESS_TOKEN, ACCESS_SECRET) as session:
        assert isinstance(session, OAuth1Session)
        assert isinstance(session, TwitterSession)
        response = session.get(f"{API}/2/users/me", params={"user.fields": "created_at"})

    assert response.json() == {"data": {"id": "6253282"}}
    request = sent(api)
    assert oauth_params(request)["oauth_token"] == ACCESS_TOKEN
    assert_signed(request, token_secret=ACCESS_SECRET)
    assert sent_kwargs(api)["timeout"] == 10


def test_session_timeout(api: responses.RequestsMock) -> None:
    api.get(f"{API}/x")
    api.post(f"{API}/x")
    client = TwitterClient(timeout=3.5)

    with client.session(ACCESS_TOKEN, ACCESS_SECRET) as session:
        session.get(f"{API}/x")
        session.get(f"{API}/x", timeout=1.5)
        session.post(f"{API}/x", data={"a": "b"})
        session.request("GET", f"{API}/x", None, None, None, None, None, None, 7)

    assert [sent_kwargs(api, i)["timeout"] for i in range(4)] == [3.5, 1.5, 3.5, 7]


# -- connection reuse ---------------------------------------------------------------------


class RecordedSession(requests.Session):
    closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> list[RecordedSession]:
    """Every requests session made from now on; each knows whether it was closed."""
    made: list[RecordedSession] = []

    def make() -> RecordedSession:
        made.append(RecordedSession())
        return made[-1]

    monkeypatch.setattr(requests, "Session", make)
    return made


def closed(sessions: list[RecordedSession]) -> list[bool]:
    return [session.closed for session in sessions]


def test_each_call_has_its_own_session_outside_a_with_block(
    api: responses.RequestsMock, client: TwitterClient, sessions: list[RecordedSession]
) -> None:
    api.post(f"{API}/1.1/oauth/invalidate_token", json={"access_token": ACCESS_TOKEN})

    client.invalidate_token(ACCESS_TOKEN, ACCESS_SECRET)
    client.invalidate_token(ACCESS_TOKEN, ACCESS_SECRET)

    assert closed(sessions) == [True, True]


def test_with_block_keeps_one_session_per_thread_and_closes_them(
    api: responses.RequestsMock, client: TwitterClient, sessions: list[RecordedSession]
) -> None:
    api.post(f"{API}/1.1/oauth/invalidate_token", json={"access_token": ACCESS_TOKEN})

    def twice() -> None:
        client.invalidate_token(ACCESS_TOKEN, ACCESS_SECRET)
        client.invalidate_token(ACCESS_TOKEN, ACCESS_SECRET)

    with client as entered:
        assert entered is client
        twice()
        other = threading.Thread(target=twice)
        other.start()
        other.join()
        assert closed(sessions) == [False, False]
    assert closed(sessions) == [True, True]
    assert len(api.calls) == 4
    for index in range(4):
        assert_signed(sent(api, index), token_secret=ACCESS_SECRET)

    client.invalidate_token(ACCESS_TOKEN, ACCESS_SECRET)  # after the block: its own again
    assert closed(sessions) == [True, True, True]


@pytest.mark.parametrize("kept", [False, True], ids=["one-off", "kept"])
@pytest.mark.parametrize(
    ("no_proxy", "proxy"), [("", "http://proxy.example:3128"), ("api.twitter.com", None)]
)
def test_environment_proxies_and_ca_bundle_apply(
    api: responses.RequestsMock,
    client: TwitterClient,
    monkeypatch: pytest.MonkeyPatch,
    kept: bool,
    no_proxy: str,
    proxy: str | None,
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/bundle.pem")
    api.post(f"{API}/1.1/oauth/invalidate_token", json={"access_token": ACCESS_TOKEN})

    with client if kept else contextlib.nullcontext(client):
        client.invalidate_token(ACCESS_TOKEN, ACCESS_SECRET)

    assert sent_kwargs(api)["proxies"].get("https") == proxy
    assert sent_kwargs(api)["verify"] == "/etc/ssl/bundle.pem"


def test_with_block_follows_no_redirect(api: responses.RequestsMock, client: TwitterClient) -> None:
    # Nothing answers at the Location: following it would fail as TwitterUnavailable.
    api.post(f"{API}/1.1/oauth/invalidate_token", status=302, headers={"Location": f"{API}/x"})

    with client, pytest.raises(MalformedResponse):
        client.invalidate_token(ACCESS_TOKEN, ACCESS_SECRET)

    assert len(api.calls) == 1


# -- timeouts -----------------------------------------------------------------------------


@every_call
def test_every_call_passes_the_timeout(api: responses.RequestsMock, call: Call) -> None:
    api.add(call.method, call.url, body=call.ok_body)

    call.invoke(TwitterClient(timeout=4.5))

    kwargs = sent_kwargs(api)
    assert_deadline(kwargs["timeout"], 4.5)
    assert_signed(sent(api), token_secret=call.token_secret)


@every_call
def test_every_call_uses_the_timeout_setting(
    api: responses.RequestsMock, settings: Settings, call: Call
) -> None:
    settings.TWITTER_OAUTH_TIMEOUT = 0.25
    api.add(call.method, call.url, body=call.ok_body)

    call.invoke(TwitterClient())

    assert_deadline(sent_kwargs(api)["timeout"], 0.25)


# -- errors -------------------------------------------------------------------------------


@every_call
@pytest.mark.parametrize(
    "exception",
    [
        requests.ConnectionError("connection refused to host"),
        requests.ConnectTimeout("connect timeout"),
        requests.ReadTimeout("read timeout"),
        requests.exceptions.ChunkedEncodingError("broken"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_unreachable(
    api: responses.RequestsMock, client: TwitterClient, call: Call, exception: Exception
) -> None:
    api.add(call.method, call.url, body=exception)

    with pytest.raises(TwitterUnavailable) as info:
        call.invoke(client)

    error = info.value
    assert str(error) == f"Could not reach Twitter for {call.endpoint}: {type(exception).__name__}."
    assert (error.endpoint, error.status_code, error.code, error.twitter_message) == (
        call.endpoint,
        None,
        None,
        "",
    )
    assert error.__cause__ is exception


XML_415 = (
    "<?xml version='1.0' encoding='UTF-8'?><errors><error code=\"415\">Callback URL not approved "
    "for this client application. Approved callback URLs can be adjusted in your application "
    "settings</error></errors>"
)
XML_HASH_417 = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<hash>\n  <error>Desktop applications only support '
    "the oauth_callback value 'oob'</error>\n  <request>/oauth/request_token</request>\n</hash>"
)
V2_PROBLEM = json.dumps(
    {
        "title": "Unsupported Authentication",
        "detail": "Authenticating with OAuth 1.0a User Context is forbidden for this endpoint.",
        "type": "https://api.x.com/2/problems/unsupported-authentication",
        "status": 403,
    }
)
LONG_TEXT = "x" * 500
TIER_453 = (
    "You currently have access to a subset of X API V2 endpoints and limited v1.1 endpoints "
    "(e.g. media post, oauth) only. If you need access to this endpoint, you may need a "
    "different access level. You can learn more here: https://developer.x.com/en/portal/"
    "product"
)
V2_CLIENT_FORBIDDEN = json.dumps(
    {
        "client_id": "123",
        "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use "
        "keys and tokens from a Twitter developer App that is attached to a Project.",
        "registration_url": "https://developer.x.com/en/docs/projects/overview",
        "title": "Client Forbidden",
        "required_enrollment": "Appropriate Level of API Access",
        "reason": "client-not-enrolled",
        "type": "https://api.twitter.com/2/problems/client-forbidden",
    }
)

ERROR_ANSWERS = {
    # id: (status, body, exception class, code, twitter_message)
    "500-empty": (500, "", TwitterUnavailable, None, ""),
    "502-html": (502, "<html><body>Bad Gateway</body></html>", TwitterUnavailable, None, None),
    "503-over-capacity": (
        503,
        '{"errors":[{"code":130,"message":"Over capacity"}]}',
        TwitterUnavailable,
        130,
        "Over capacity",
    ),
    "401-32-json": (
        401,
        '{"errors":[{"code":32,"message":"Could not authenticate you."}]}',
        ConfigurationRejected,
        32,
        "Could not authenticate you.",
    ),
    "401-32-json-message-first": (
        401,
        '{"errors":[{"message":"Could not authenticate you","code":32}]}',
        ConfigurationRejected,
        32,
        "Could not authenticate you",
    ),
    "401-89": (
        401,
        '{"errors":[{"code":89,"message":"Invalid or expired token."}]}',
        TokenInvalid,
        89,
        "Invalid or expired token.",
    ),
    "403-89": (
        403,
        '{"errors": [{"message": "Invalid or expired token.", "code": 89}]}',
        TokenInvalid,
        89,
        "Invalid or expired token.",
    ),
    "401-89-string-code": (
        401,
        '{"errors":[{"code":"89","message":"Invalid or expired token."}]}',
        TokenInvalid,
        89,
        "Invalid or expired token.",
    ),
    "400-89": (
        400,
        '{"errors":[{"code":89,"message":"Invalid or expired token."}]}',
        TwitterRejected,
        89,
        "Invalid or expired token.",
    ),
    "403-415-json": (
        403,
        '{"errors":[{"code":415,"message":"Callback URL not approved for this client App."}]}',
        CallbackNotApproved,
        415,
        "Callback URL not approved for this client App.",
    ),
    "403-415-xml": (
        403,
        XML_415,
        CallbackNotApproved,
        415,
        "Callback URL not approved for this client application. Approved callback URLs can be "
        "adjusted in your application settings",
    ),
    "401-417-xml": (
        401,
        '<errors><error code="417">Desktop applications only support the '
        "oauth_callback value &apos;oob&apos;</error></errors>",
        ConfigurationRejected,
        417,
        "Desktop applications only support the oauth_callback value 'oob'",
    ),
    "401-xml-hash": (
        401,
        XML_HASH_417,
        TwitterRejected,
        None,
        "Desktop applications only support the oauth_callback value 'oob'",
    ),
    "401-plain-text": (
        401,
        "Error processing your OAuth request: Invalid oauth_verifier parameter",
        TwitterRejected,
        None,
        "Error processing your OAuth request: Invalid oauth_verifier parameter",
    ),
    "401-plain-text-whitespace": (
        401,
        "Invalid\n   request token\n",
        TwitterRejected,
        None,
        "Invalid request token",
    ),
    "401-long-text": (401, LONG_TEXT, TwitterRejected, None, "x" * 200),
    "403-v2-problem": (
        403,
        V2_PROBLEM,
        TwitterRejected,
        None,
        "Authenticating with OAuth 1.0a User Context is forbidden for this endpoint.",
    ),
    "401-v2-title-only": (
        401,
        '{"title":"Unauthorized","type":"about:blank","status":401}',
        TwitterRejected,
        None,
        "Unauthorized",
    ),
    "401-v1-error": (
        401,
        '{"error":"Could not authenticate with OAuth.","request":"/1/account.json"}',
        TwitterRejected,
        None,
        "Could not authenticate with OAuth.",
    ),
    "400-215-no-message": (
        400,
        '{"errors":[{"code":215}]}',
        TwitterRejected,
        215,
        "",
    ),
    "400-errors-without-code": (
        400,
        '{"errors":[{"code":null,"message":"Bad thing"}],"title":"Invalid Request"}',
        TwitterRejected,
        None,
        "Bad thing",
    ),
    "400-json-unknown-shape": (
        400,
        '{"foo": "bar"}',
        TwitterRejected,
        None,
        '{"foo": "bar"}',
    ),
    "400-json-list": (400, "[1, 2]", TwitterRejected, None, "[1, 2]"),
    "401-135": (
        401,
        '{"errors":[{"message":"Timestamp out of bounds","code":135}]}',
        ConfigurationRejected,
        135,
        "Timestamp out of bounds",
    ),
    "403-416": (
        403,
        '{"errors":[{"code":416,"message":"Invalid / suspended application"}]}',
        ConfigurationRejected,
        416,
        "Invalid / suspended application",
    ),
    "403-453": (
        403,
        json.dumps({"errors": [{"code": 453, "message": TIER_453}]}),
        AccessTierError,
        453,
        TIER_453[:200],
    ),
    "403-v2-client-forbidden": (
        403,
        V2_CLIENT_FORBIDDEN,
        AccessTierError,
        None,
        "When authenticating requests to the Twitter API v2 endpoints, you must use keys and "
        "tokens from a Twitter developer App that is attached to a Project.",
    ),
    "401-empty": (401, "", TwitterRejected, None, ""),
    "404-empty": (404, "", TwitterRejected, None, ""),
}


@every_call
@pytest.mark.parametrize(
    ("status", "body", "exc_class", "code", "twitter_message"),
    list(ERROR_ANSWERS.values()),
    ids=list(ERROR_ANSWERS),
)
def test_error_answers(
    api: responses.RequestsMock,
    client: TwitterClient,
    call: Call,
    status: int,
    body: str,
    exc_class: type[TwitterError],
    code: int | None,
    twitter_message: str | None,
) -> None:
    api.add(call.method, call.url, status=status, body=body)

    with pytest.raises(TwitterError) as info:
        call.invoke(client)

    error = info.value
    if call.endpoint == "oauth/request_token" and exc_class in (TwitterRejected, TokenInvalid):
        # No token of the user's is sent with a request token: any refusal is the site's.
        exc_class = ConfigurationRejected
    assert type(error) is exc_class
    expected_message = body if twitter_message is None else twitter_message
    assert (error.endpoint, error.status_code, error.code, error.twitter_message) == (
        call.endpoint,
        status,
        code,
        expected_message,
    )
    assert call.endpoint in str(error)
    assert f"HTTP {status}" in str(error)
    assert_no_secrets(str(error), oauth_params(sent(api))["oauth_signature"])


def test_callback_not_approved_names_the_callback(
    api: responses.RequestsMock, client: TwitterClient
) -> None:
    api.post(f"{API}/oauth/request_token", status=403, body=XML_415)

    with pytest.raises(CallbackNotApproved) as info:
        client.fetch_request_token(CALLBACK)

    message = str(info.value)
    assert f"callback URL {CALLBACK} " in message
    assert "developer portal" in message
    assert_no_secrets(message)


def test_callback_not_approved_elsewhere(
    api: responses.RequestsMock, client: TwitterClient
) -> None:
    api.post(f"{API}/oauth/access_token", status=403, body=XML_415)

    with pytest.raises(CallbackNotApproved) as info:
        client.fetch_access_token(REQUEST_TOKEN, REQUEST_SECRET, VERIFIER)

    assert str(info.value).startswith(
        "Twitter did not approve the callback URL (oauth/access_token"
    )
    assert_no_secrets(str(info.value))


def test_bad_consumer_keys_hint(api: responses.RequestsMock, client: TwitterClient) -> None:
    api.post(
        f"{API}/oauth/request_token",
        status=401,
        json={"errors": [{"code": 32, "message": "Could not authenticate you."}]},
    )

    with pytest.raises(ConfigurationRejected) as info:
        client.fetch_request_token(CALLBACK)

    assert str(info.value) == (
        "Twitter refused oauth/request_token (HTTP 401, code 32: Could not authenticate you.). "
        "Check TWITTER_OAUTH_CONSUMER_KEY and TWITTER_OAUTH_CONSUMER_SECRET."
    )


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_any_refusal_of_a_request_token_is_the_sites(
    api: responses.RequestsMock, client: TwitterClient, status: int
) -> None:
    api.post(f"{API}/oauth/request_token", status=status, body="Bad request")

    with pytest.raises(ConfigurationRejected) as info:
        client.fetch_request_token(CALLBACK)

    assert str(info.value) == (
        f"Twitter refused oauth/request_token (HTTP {status}, Bad request). Check the app's "
        "keys, permissions and callback URLs in the X developer portal."
    )


def test_the_same_refusal_elsewhere_is_not_the_sites(
    api: responses.RequestsMock, client: TwitterClient
) -> None:
    api.post(f"{API}/oauth/access_token", status=401, body="Bad request")

    with pytest.raises(TwitterRejected) as info:
        client.fetch_access_token(REQUEST_TOKEN, REQUEST_SECRET, VERIFIER)

    assert not isinstance(info.value, ConfigurationRejected)


def test_453_names_the_endpoint_the_tier_lacks(
    api: responses.RequestsMock, client: TwitterClient
) -> None:
    api.get(
        f"{API}/1.1/account/verify_credentials.json",
        status=403,
        json={"errors": [{"code": 453, "message": "You currently have access to a subset."}]},
    )

    with pytest.raises(AccessTierError) as info:
        client.verify_credentials(ACCESS_TOKEN, ACCESS_SECRET)

    assert str(info.value) == (
        "The app's X API access tier does not include 1.1/account/verify_credentials.json "
        "(HTTP 403, code 453: You currently have access to a subset.). Set "
        'TWITTER_OAUTH_VERIFY_ENDPOINT = "2/users/me", which every tier includes. Tiers and '
        "their endpoints are listed in the X developer portal."
    )
    assert info.value.endpoint == "1.1/account/verify_credentials.json"


def test_echoed_secrets_are_redacted(api: responses.RequestsMock, client: TwitterClient) -> None:
    def echo(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        signature = oauth_params(request)["oauth_signature"]
        body = (
            f"Bad {VERIFIER} {quote(REQUEST_SECRET, safe='')} {REQUEST_TOKEN} "
            f"{CONSUMER_SECRET} {quote(signature, safe='')}"
        )
        return 401, {}, body

    api.add_callback("POST", f"{API}/oauth/access_token", callback=echo)

    with pytest.raises(TwitterRejected) as info:
        client.fetch_access_token(REQUEST_TOKEN, REQUEST_SECRET, VERIFIER)

    signature = oauth_params(sent(api))["oauth_signature"]
    assert info.value.twitter_message == "Bad" + " [redacted]" * 5
    assert_no_secrets(str(info.value), signature)


def _prefixes(secret: str, length: int = 8) -> list[str]:
    return [secret[:n] for n in range(length, len(secret) + 1)]


@pytest.mark.parametrize("encode", [False, True], ids=["raw", "percent-encoded"])
@pytest.mark.parametrize("offset", [190, 195, 199], ids=lambda n: f"at-{n}")
@pytest.mark.parametrize(
    "secret", [CONSUMER_SECRET, REQUEST_TOKEN, REQUEST_SECRET, VERIFIER, "signature"]
)
def test_secret_across_the_cut_is_redacted_whole(
    api: responses.RequestsMock, client: TwitterClient, secret: str, offset: int, encode: bool
) -> None:
    # Redaction comes before the cut to 200 characters: a secret that starts just before
    # the cut must not survive in part (issue 14, finding 3).
    def echo(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        value = oauth_params(request)["oauth_signature"] if secret == "signature" else secret
        return 401, {}, "x" * offset + (quote(value, safe="") if encode else value) + " tail"

    api.add_callback("POST", f"{API}/oauth/access_token", callback=echo)

    with pytest.raises(TwitterRejected) as info:
        client.fetch_access_token(REQUEST_TOKEN, REQUEST_SECRET, VERIFIER)

    value = oauth_params(sent(api))["oauth_signature"] if secret == "signature" else secret
    message = info.value.twitter_message
    assert message.startswith("x" * offset + "[")
    assert len(message) == 200
    for text in (message, str(info.value)):
        for form in (value, quote(value, safe="")):
            assert not any(prefix in text for prefix in _prefixes(form))


def test_secret_escaped_in_json_is_redacted(
    api: responses.RequestsMock, client: TwitterClient
) -> None:
    # A JSON body may escape "/" as "\/": only the parsed text shows the secret as sent.
    secret = "abc/def+ghi/jklmnop"
    api.post(
        f"{API}/1.1/oauth/invalidate_token",
        status=401,
        body='{"errors":[{"code":99,"message":"bad ' + secret.replace("/", "\\/") + '"}]}',
    )

    with pytest.raises(TwitterRejected) as info:
        client.invalidate_token(ACCESS_TOKEN, secret)

    assert info.value.twitter_message == "bad [redacted]"


@every_call
@pytest.mark.parametrize(
    ("header", "reset_at"),
    [
        (
            {"x-rate-limit-reset": "1705420800"},
            dt.datetime(2024, 1, 16, 16, 0, tzinfo=dt.timezone.utc),
        ),
        (
            {"x-rate-limit-reset": "1705420800.5"},
            dt.datetime(2024, 1, 16, 16, 0, 0, 500000, dt.timezone.utc),
        ),
        ({}, None),
        ({"x-rate-limit-reset": "soon"}, None),
        ({"x-rate-limit-reset": "nan"}, None),
        ({"x-rate-limit-reset": "1e400"}, None),
        ({"x-rate-limit-reset": "99999999999999999"}, None),
    ],
    ids=["epoch", "float", "missing", "text", "nan", "inf", "out-of-range"],
)
def test_rate_limited(
    api: responses.RequestsMock,
    client: TwitterClient,
    call: Call,
    header: dict[str, str],
    reset_at: dt.datetime | None,
) -> None:
    api.add(
        call.method,
        call.url,
        status=429,
        json={"errors": [{"code": 88, "message": "Rate limit exceeded"}]},
        headers=header,
    )

    with pytest.raises(TwitterRateLimited) as info:
        call.invoke(client)

    error = info.value
    assert error.reset_at == reset_at
    assert (error.endpoint, error.status_code, error.code, error.twitter_message) == (
        call.endpoint,
        429,
        88,
        "Rate limit exceeded",
    )
    when = f"resets at {reset_at.isoformat()}" if reset_at else "reset time unknown"
    assert str(error) == (
        f"Twitter rate-limited {call.endpoint} (HTTP 429, code 88: Rate limit exceeded); {when}."
    )


@every_call
@pytest.mark.parametrize(
    ("status", "headers", "where"),
    [
        (
            302,
            {"Location": "https://api.x.com/somewhere?oauth_token=abc"},
            " redirecting to api.x.com; check TWITTER_OAUTH_API_URL",
        ),
        (300, {}, ""),
    ],
)
def test_redirects_are_not_followed(
    api: responses.RequestsMock,
    client: TwitterClient,
    call: Call,
    status: int,
    headers: dict[str, str],
    where: str,
) -> None:
    api.add(call.method, call.url, status=status, headers=headers)

    with pytest.raises(MalformedResponse) as info:
        call.invoke(client)

    assert (
        str(info.value)
        == f"Twitter answered {call.endpoint} with an unexpected HTTP {status}{where}."
    )
    assert info.value.status_code == status
    assert len(api.calls) == 1


# -- logging ------------------------------------------------------------------------------


def _full_exchange(api: responses.RequestsMock, client: TwitterClient) -> None:
    api.post(f"{API}/oauth/request_token", body=REQUEST_TOKEN_BODY)
    api.post(f"{API}/oauth/access_token", body=ACCESS_TOKEN_BODY)
    api.get(f"{API}/1.1/account/verify_credentials.json", status=401, body=f"No {ACCESS_SECRET}")
    request_token = client.fetch_request_token(CALLBACK)
    client.fetch_access_token(request_token.token, request_token.secret, VERIFIER)
    with pytest.raises(TwitterRejected):
        client.verify_credentials(ACCESS_TOKEN, ACCESS_SECRET)


def _logged_text(records: list[logging.LogRecord]) -> str:
    return "\n".join(f"{record.name} {record.getMessage()}" for record in records)


def test_debug_logging_leaks_no_secret(
    api: responses.RequestsMock, client: TwitterClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    _full_exchange(api, client)

    text = _logged_text(caplog.records)
    signatures = [oauth_params(call.request)["oauth_signature"] for call in api.calls]
    assert_no_secrets(text, *signatures)
    assert "django_twitter_oauth.client Twitter call failed" in text


@pytest.mark.leaks_allowed("removes the app's filters on oauthlib's loggers to prove them needed")
def test_without_the_filter_oauthlib_would_leak(
    api: responses.RequestsMock,
    client: TwitterClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Shows the test above is meaningful: oauthlib does log the verifier at DEBUG.
    for name in client_module._QUIET_LOGGERS:
        monkeypatch.setattr(logging.getLogger(name), "filters", [])
    caplog.set_level(logging.DEBUG)

    _full_exchange(api, client)

    assert VERIFIER in _logged_text(caplog.records)


def test_log_filters_installed_once() -> None:
    client_module._install_log_filters()

    for name in client_module._QUIET_LOGGERS:
        ours = [
            f
            for f in logging.getLogger(name).filters
            if isinstance(f, client_module._DropBelowInfo)
        ]
        assert len(ours) == 1
        debug = logging.LogRecord(name, logging.DEBUG, __file__, 1, "x", None, None)
        info = logging.LogRecord(name, logging.INFO, __file__, 1, "x", None, None)
        assert not ours[0].filter(debug)
        assert ours[0].filter(info)
