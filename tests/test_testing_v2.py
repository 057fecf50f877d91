"""FakeTwitter as X answers today: access tiers, ``2/users/me``, opt-in email and
``POST 2/tweets``, each signature-verified like the OAuth endpoints."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from requests_oauthlib import OAuth1

from django_twitter_oauth.testing.fake import FakeTwitter
from django_twitter_oauth.testing.provider import FakeProvider, problem

API = "https://api.twitter.com"
KEY = "tests-consumer-key"
SECRET = "tests-consumer-secret"
TOKEN, TOKEN_SECRET = "42-accessTOKENaccessTOKEN", "accessSECRETaccessSECRET"
VERIFY = f"{API}/1.1/account/verify_credentials.json"
USERS_ME = f"{API}/2/users/me"
TWEETS = f"{API}/2/tweets"
UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401}
TOO_MANY = {"title": "Too Many Requests", "type": "about:blank", "status": 429}


def signed(token: str = TOKEN, secret: str = TOKEN_SECRET, **kwargs: Any) -> OAuth1:
    return OAuth1(KEY, SECRET, token, secret, **kwargs)


def rate_headers(response: requests.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("x-rate-limit")}


@pytest.fixture
def now() -> list[float]:
    """The fake's clock, settable: ``now[0] += 900`` moves time on."""
    return [float(int(time.time()))]


@pytest.fixture
def fake(now: list[float]) -> Any:
    with FakeTwitter(clock=lambda: now[0]) as fake:
        fake.add_access_token(TOKEN, TOKEN_SECRET, user_id="42", screen_name="jack", name="Jack")
        yield fake


# -- tiers ----------------------------------------------------------------------------------


TIER_MESSAGE = (
    "You currently have access to a subset of X API V2 endpoints and limited v1.1 endpoints "
    "(e.g. media post, oauth) only. If you need access to this endpoint, you may need a "
    "different access level. You can learn more here: https://developer.x.com/en/portal/product"
)


def test_free_tier_refuses_verify_credentials_with_453(fake: FakeTwitter) -> None:
    fake.tier = "free"
    response = requests.get(VERIFY, auth=signed(), timeout=5)
    assert response.status_code == 403
    assert response.json() == {"errors": [{"code": 453, "message": TIER_MESSAGE}]}
    # The oauth endpoints stay open on Free.
    assert requests.post(f"{API}/1.1/oauth/invalidate_token", auth=signed(), timeout=5).ok


def test_free_tier_still_checks_the_signature_first(fake: FakeTwitter) -> None:
    fake.tier = "free"
    response = requests.get(VERIFY, auth=signed(secret="wrong"), timeout=5)
    assert (response.status_code, response.json()["errors"][0]["code"]) == (401, 32)


@pytest.mark.parametrize("tier", ["basic", "pro"])
def test_paid_tiers_answer_verify_credentials(now: list[float], tier: str) -> None:
    with FakeTwitter(tier=tier) as fake:
        fake.add_access_token(TOKEN, TOKEN_SECRET, screen_name="jack")
        response = requests.get(VERIFY, auth=signed(), timeout=5)
    assert response.status_code == 200
    assert response.json()["screen_name"] == "jack"
    assert response.headers["x-access-level"] == "read-write"


def test_default_tier_is_basic_and_tier_is_validated() -> None:
    fake = FakeTwitter()
    assert fake.tier == "basic"
    with pytest.raises(ValueError, match="tier must be one of"):
        FakeTwitter(tier="enterprise")
    with pytest.raises(ValueError, match="tier must be one of"):
        fake.tier = "Free"


# -- 2/users/me -----------------------------------------------------------------------------


def test_users_me(fake: FakeTwitter, now: list[float]) -> None:
    response = requests.get(USERS_ME, auth=signed(), timeout=5)
    assert response.status_code == 200
    assert response.json() == {"data": {"id": "42", "name": "Jack", "username": "jack"}}
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    # Whether X sends x-access-level on v2 answers is unconfirmed: the fake does not.
    assert "x-access-level" not in response.headers
    window = 15 * 60
    assert rate_headers(response) == {
        "x-rate-limit-limit": "75",
        "x-rate-limit-remaining": "74",
        "x-rate-limit-reset": str(int(now[0]) // window * window + window),
    }
    assert fake.count("2/users/me") == 1


def test_users_me_name_defaults_to_the_screen_name(fake: FakeTwitter) -> None:
    fake.add_access_token("7-otherTOKEN", "otherSECRET", user_id="7", screen_name="ann")
    response = requests.get(USERS_ME, auth=signed("7-otherTOKEN", "otherSECRET"), timeout=5)
    assert response.json()["data"] == {"id": "7", "name": "ann", "username": "ann"}


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param(signed("42-unknownTOKEN"), id="unknown token"),
        pytest.param(signed(secret="wrong"), id="wrong secret"),
        pytest.param(OAuth1("other-key", SECRET, TOKEN, TOKEN_SECRET), id="unknown consumer"),
        pytest.param(None, id="unsigned"),
    ],
)
def test_users_me_refusals_are_v2_problems(fake: FakeTwitter, auth: OAuth1 | None) -> None:
    response = requests.get(USERS_ME, auth=auth, timeout=5)
    assert response.status_code == 401
    assert response.json() == {**UNAUTHORIZED, "detail": "Unauthorized"}
    assert "x-access-level" not in response.headers


def test_users_me_refuses_a_revoked_token(fake: FakeTwitter) -> None:
    fake.invalidate(TOKEN)
    response = requests.get(USERS_ME, auth=signed(), timeout=5)
    assert (response.status_code, response.json()["title"]) == (401, "Unauthorized")


def test_users_me_malformed_oauth_is_a_v2_problem(fake: FakeTwitter) -> None:
    bad_timestamp = {
        "Authorization": 'OAuth oauth_consumer_key="k", oauth_nonce="n", '
        'oauth_signature="s", oauth_signature_method="HMAC-SHA1", '
        'oauth_timestamp="1"'
    }
    duplicated = {"Authorization": 'OAuth oauth_token="a"'}
    for headers, url in [
        (bad_timestamp, USERS_ME),
        (duplicated, f"{USERS_ME}?oauth_token=b"),
        ({"Authorization": "OAuth broken=="}, USERS_ME),
    ]:
        response = requests.get(url, headers=headers, timeout=5)
        assert (response.status_code, response.json()["title"]) == (401, "Unauthorized")


@pytest.mark.parametrize(("tier", "limit", "window"), [("free", 25, 86400), ("basic", 75, 900)])
def test_users_me_per_user_limit(now: list[float], tier: str, limit: int, window: int) -> None:
    """The window is fixed; the requests are signed at the fake's clock."""
    start = 1_800_000_000 // window * window  # oauthlib wants a 10-digit timestamp
    now[0] = float(start + 10)  # 10 s into a window
    with FakeTwitter(clock=lambda: now[0], tier=tier) as fake:
        fake.add_access_token(TOKEN, TOKEN_SECRET, user_id="42")
        fake.add_access_token("43-otherTOKEN", "otherSECRET", user_id="43")
        for used in range(1, limit + 1):
            response = requests.get(USERS_ME, auth=signed(timestamp=str(int(now[0]))), timeout=5)
            assert response.status_code == 200
            assert response.headers["x-rate-limit-remaining"] == str(limit - used)
        over = requests.get(USERS_ME, auth=signed(timestamp=str(int(now[0]))), timeout=5)
        assert over.status_code == 429
        assert over.json() == {**TOO_MANY, "detail": "Too Many Requests"}
        reset = str(start + window)
        assert rate_headers(over) == {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": reset,
        }
        # Per user: another user of the same app is not limited.
        other = requests.get(
            USERS_ME,
            auth=signed("43-otherTOKEN", "otherSECRET", timestamp=str(int(now[0]))),
            timeout=5,
        )
        assert other.status_code == 200
        # The next window starts afresh.
        now[0] = float(reset)
        assert (
            requests.get(USERS_ME, auth=signed(timestamp=str(int(now[0]))), timeout=5).status_code
            == 200
        )


def test_rate_limit_fault_on_a_v2_endpoint_answers_a_problem(fake: FakeTwitter) -> None:
    fake.rate_limit("2/users/me")
    response = requests.get(USERS_ME, auth=signed(), timeout=5)
    assert response.status_code == 429
    assert response.json() == json.loads(problem(429, "Too Many Requests"))


# -- email ----------------------------------------------------------------------------------


def email_of(fake: FakeTwitter, query: str = "?include_email=true") -> Any:
    response = requests.get(f"{VERIFY}{query}", auth=signed(), timeout=5)
    assert response.status_code == 200
    return response.json().get("email", "absent")


def test_email_needs_the_permission_and_include_email(now: list[float]) -> None:
    with FakeTwitter(email_permission=True) as fake:
        fake.add_access_token(TOKEN, TOKEN_SECRET, email="jack@example.com")
        assert email_of(fake) == "jack@example.com"
        assert email_of(fake, "") == "absent"
        assert email_of(fake, "?include_email=false") == "absent"
        fake.email_permission = False
        assert not fake.email_permission
        assert email_of(fake) == "absent"


def test_email_is_null_for_a_user_without_one() -> None:
    with FakeTwitter(email_permission=True) as fake:
        assert fake.email_permission
        fake.add_access_token(TOKEN, TOKEN_SECRET)
        assert email_of(fake) is None


def test_email_off_by_default_and_withheld_on_free(fake: FakeTwitter) -> None:
    fake.add_access_token(TOKEN, TOKEN_SECRET, email="jack@example.com")
    assert not fake.email_permission
    assert email_of(fake) == "absent"
    fake.email_permission = True
    fake.tier = "free"
    response = requests.get(f"{VERIFY}?include_email=true", auth=signed(), timeout=5)
    assert response.status_code == 403
    assert "email" not in response.text


def test_email_given_at_approval_reaches_verify_credentials() -> None:
    with FakeTwitter(email_permission=True) as fake, requests.Session() as session:
        answer = session.post(
            f"{API}/oauth/request_token",
            auth=OAuth1(KEY, SECRET, callback_uri="oob"),
            timeout=5,
        )
        pending = dict(x.split("=") for x in answer.text.split("&"))
        pin = fake.approve(pending["oauth_token"], screen_name="ann", email="ann@example.com")
        access = session.post(
            f"{API}/oauth/access_token",
            auth=OAuth1(
                KEY,
                SECRET,
                pending["oauth_token"],
                pending["oauth_token_secret"],
                verifier=pin,
            ),
            timeout=5,
        )
        issued = dict(x.split("=") for x in access.text.split("&"))
        answer = session.get(
            f"{VERIFY}?include_email=true",
            auth=signed(issued["oauth_token"], issued["oauth_token_secret"]),
            timeout=5,
        )
    assert answer.json()["email"] == "ann@example.com"
    assert answer.json()["name"] == "ann"


# -- 2/tweets -------------------------------------------------------------------------------


def test_post_a_tweet(fake: FakeTwitter) -> None:
    response = requests.post(TWEETS, json={"text": "hello, world"}, auth=signed(), timeout=5)
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["text"] == "hello, world"
    assert data["id"].isdecimal() and len(data["id"]) == 19
    second = requests.post(TWEETS, json={"text": "again"}, auth=signed(), timeout=5)
    assert fake.tweets == [
        {"id": data["id"], "text": "hello, world", "user_id": "42", "screen_name": "jack"},
        {
            "id": second.json()["data"]["id"],
            "text": "again",
            "user_id": "42",
            "screen_name": "jack",
        },
    ]


def test_the_json_body_is_not_signed(fake: FakeTwitter, monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 5849 §3.4.1.3.1: only a form-encoded body is in the base string, so a JSON
    body changed after signing still passes (as at Twitter), while the URL may not."""
    request = requests.Request("POST", TWEETS, json={"text": "signed"}, auth=signed()).prepare()
    request.body = json.dumps({"text": "changed"}).encode()
    request.headers["Content-Length"] = str(len(request.body))
    with requests.Session() as session:
        assert session.send(request).status_code == 201
    assert fake.tweets[-1]["text"] == "changed"
    moved = requests.Request("POST", TWEETS, json={"text": "x"}, auth=signed()).prepare()
    moved.url = f"{TWEETS}?reply=1"
    with requests.Session() as session:
        response = session.send(moved)
    assert (response.status_code, response.json()["title"]) == (401, "Unauthorized")


def test_read_only_token_cannot_post(fake: FakeTwitter) -> None:
    fake.add_access_token("9-readTOKEN", "readSECRET", access_level="read")
    response = requests.post(
        TWEETS, json={"text": "hi"}, auth=signed("9-readTOKEN", "readSECRET"), timeout=5
    )
    assert response.status_code == 403
    assert response.json()["type"] == "https://api.twitter.com/2/problems/oauth1-permissions"
    assert response.json()["status"] == 403
    assert fake.tweets == []


@pytest.mark.parametrize(
    "body", ["", "not json", "[]", '{"text": ""}', '{"text": "  "}', '{"text": 5}', "{}"]
)
def test_invalid_tweets_are_refused(fake: FakeTwitter, body: str) -> None:
    response = requests.post(
        TWEETS,
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        auth=signed(),
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["title"] == "Invalid Request"
    assert fake.tweets == []


def test_revoked_token_cannot_post(fake: FakeTwitter) -> None:
    fake.invalidate(TOKEN)
    response = requests.post(TWEETS, json={"text": "hi"}, auth=signed(), timeout=5)
    assert response.json() == {**UNAUTHORIZED, "detail": "Unauthorized"}


def test_tweets_of_another_consumer_are_apart() -> None:
    provider = FakeProvider(KEY, SECRET)
    provider.add_consumer("other-key", "other-secret")
    provider.add_access_token(TOKEN, TOKEN_SECRET, consumer_key="other-key")
    url = f"{API}/2/tweets"
    request = requests.Request(
        "POST",
        url,
        json={"text": "hi"},
        auth=OAuth1("other-key", "other-secret", TOKEN, TOKEN_SECRET),
    ).prepare()
    answer = provider.handle("POST", url, request.headers, request.body)
    assert answer.status == 201
    assert provider.tweets() == []
    assert [tweet["text"] for tweet in provider.tweets("other-key")] == ["hi"]


def test_verify_signature_takes_bytes_headers(fake: FakeTwitter) -> None:
    """requests-oauthlib sets Authorization as bytes; the documented example passes
    them on as they are."""
    url = f"{API}/1.1/statuses/update.json"
    request = requests.Request("POST", url, data={"status": "hi"}, auth=signed()).prepare()
    headers: Any = request.headers  # typed str, but bytes at run time
    assert isinstance(headers["Authorization"], bytes)
    assert fake.provider.verify_signature("POST", url, request.headers, request.body)
