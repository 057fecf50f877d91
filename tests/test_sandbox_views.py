from __future__ import annotations

import re
import urllib.parse

import pytest
import requests
from django.core.cache import cache
from django.test import Client, override_settings
from requests_oauthlib import OAuth1

from django_twitter_oauth.client import TwitterClient
from django_twitter_oauth.exceptions import TokenInvalid, TwitterRejected
from django_twitter_oauth.sandbox.models import SandboxUser
from tests.sandbox_client import SANDBOX

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_state_in_database")]

CALLBACK = "http://testserver/twitter/callback/"


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    cache.clear()


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def test_web_flow_through_the_pages(sandbox_client: TwitterClient) -> None:
    browser = Client()
    request_token = sandbox_client.fetch_request_token(CALLBACK, access_type="read")
    page = browser.get(
        f"/sandbox/oauth/authenticate?oauth_token={request_token.token}"
        "&force_login=true&screen_name=jack"
    )
    html = page.content.decode()
    assert "Authorize app" in html and "Cancel" in html
    assert 'value="jack"' in html and "autofocus" in html
    assert "<strong>read</strong>" in html
    answer = browser.post(
        "/sandbox/oauth/decide",
        {"oauth_token": request_token.token, "authorize": "1", "screen_name": "@jack"},
    )
    assert answer.status_code == 302
    location = urllib.parse.urlsplit(answer["Location"])
    params = dict(urllib.parse.parse_qsl(location.query))
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    assert params["oauth_token"] == request_token.token
    access = sandbox_client.fetch_access_token(
        request_token.token, request_token.secret, params["oauth_verifier"]
    )
    jack = SandboxUser.objects.get(screen_name="jack")
    assert (access.user_id, access.screen_name, access.access_level) == (
        jack.user_id,
        "jack",
        "read",
    )
    assert sandbox_client.verify_credentials(access.token, access.secret).screen_name == "jack"
    sandbox_client.invalidate_token(access.token, access.secret)
    with pytest.raises(TokenInvalid):
        sandbox_client.verify_credentials(access.token, access.secret)


def test_existing_user_and_pin_flow(sandbox_client: TwitterClient) -> None:
    user = SandboxUser.objects.create(screen_name="alice")
    request_token = sandbox_client.fetch_request_token("oob")
    browser = Client()
    page = browser.get(f"/sandbox/oauth/authorize?oauth_token={request_token.token}")
    html = page.content.decode()
    assert "@alice" in html and "you will get a PIN" in html
    answer = browser.post(
        "/sandbox/oauth/decide",
        {"oauth_token": request_token.token, "authorize": "1", "user": user.user_id},
    )
    assert answer.status_code == 200
    pin = re.search(r'id="pin">(\d{7})<', answer.content.decode())
    assert pin is not None
    access = sandbox_client.fetch_access_token(
        request_token.token, request_token.secret, pin.group(1)
    )
    assert (access.user_id, access.screen_name) == (user.user_id, "alice")


def test_cancel_redirects_with_denied(sandbox_client: TwitterClient) -> None:
    request_token = sandbox_client.fetch_request_token(CALLBACK + "?site=1")
    answer = Client().post(
        "/sandbox/oauth/decide", {"oauth_token": request_token.token, "cancel": "1"}
    )
    assert answer.status_code == 302
    assert answer["Location"] == f"{CALLBACK}?site=1&denied={request_token.token}"
    # The request token is void: its page is gone and it cannot be exchanged.
    assert (
        Client().get(f"/sandbox/oauth/authorize?oauth_token={request_token.token}").status_code
        == 400
    )
    with pytest.raises(TwitterRejected):
        sandbox_client.fetch_access_token(request_token.token, request_token.secret, "x")


def test_cancel_pin_flow_shows_a_page(sandbox_client: TwitterClient) -> None:
    request_token = sandbox_client.fetch_request_token("oob")
    answer = Client().post(
        "/sandbox/oauth/decide", {"oauth_token": request_token.token, "cancel": "1"}
    )
    assert answer.status_code == 200
    assert "You did not authorize the app" in answer.content.decode()
    assert (
        Client()
        .post("/sandbox/oauth/decide", {"oauth_token": request_token.token, "authorize": "1"})
        .status_code
        == 400
    )


@pytest.mark.parametrize("screen_name", ["", "has space", "much_too_long_name", "ünïcode"])
def test_approve_needs_a_valid_user(sandbox_client: TwitterClient, screen_name: str) -> None:
    request_token = sandbox_client.fetch_request_token(CALLBACK)
    answer = Client().post(
        "/sandbox/oauth/decide",
        {"oauth_token": request_token.token, "authorize": "1", "screen_name": screen_name},
    )
    assert answer.status_code == 400
    assert "Choose a fake user" in answer.content.decode()
    assert not SandboxUser.objects.exists()


def test_unknown_user_id_is_refused(sandbox_client: TwitterClient) -> None:
    request_token = sandbox_client.fetch_request_token(CALLBACK)
    answer = Client().post(
        "/sandbox/oauth/decide",
        {"oauth_token": request_token.token, "authorize": "1", "user": "404"},
    )
    assert answer.status_code == 400


@pytest.mark.parametrize("query", ["", "?oauth_token=", "?oauth_token=unknown"])
def test_authorize_page_without_a_pending_token(client: Client, query: str) -> None:
    answer = client.get(f"/sandbox/oauth/authorize{query}")
    assert answer.status_code == 400
    assert "The request token for this page is invalid" in answer.content.decode()


def test_decide_needs_post_and_a_token(client: Client) -> None:
    assert client.get("/sandbox/oauth/decide").status_code == 405
    assert client.post("/sandbox/oauth/decide", {"authorize": "1"}).status_code == 400


def test_decide_is_csrf_protected() -> None:
    browser = Client(enforce_csrf_checks=True)
    assert browser.post("/sandbox/oauth/decide", {"oauth_token": "x"}).status_code == 403


def test_index_lists_fake_users(client: Client) -> None:
    assert "None yet" in client.get("/sandbox/").content.decode()
    SandboxUser.objects.create(screen_name="alice")
    html = client.get("/sandbox/").content.decode()
    assert "@alice" in html
    assert "http://testserver/sandbox" in html


def test_api_answers_like_twitter(client: Client) -> None:
    missing = client.get("/sandbox/1.1/statuses/home_timeline.json")
    assert missing.status_code == 404
    assert missing.json() == {
        "errors": [{"code": 34, "message": "Sorry, that page does not exist."}]
    }
    unsigned = client.post("/sandbox/oauth/request_token")
    assert unsigned.status_code == 400
    assert unsigned.json()["errors"][0]["code"] == 215


@override_settings(DEBUG=False, TWITTER_OAUTH_SANDBOX_ALLOWED=False)
@pytest.mark.parametrize(
    "url", ["/sandbox/", "/sandbox/oauth/authorize", "/sandbox/oauth/request_token"]
)
def test_sandbox_refuses_to_serve_in_production(client: Client, url: str) -> None:
    assert client.get(url).status_code == 404


@override_settings(DEBUG=True, TWITTER_OAUTH_SANDBOX_ALLOWED=False)
def test_sandbox_serves_with_debug(client: Client) -> None:
    assert client.get("/sandbox/").status_code == 200


@override_settings(TWITTER_OAUTH_SANDBOX_LATENCY=0.05)
def test_latency_setting_delays_api_answers(client: Client) -> None:
    import time

    started = time.monotonic()
    client.post("/sandbox/oauth/request_token")
    assert time.monotonic() - started >= 0.05


def test_network_faults_answer_over_capacity(
    sandbox_client: TwitterClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_twitter_oauth.exceptions import TwitterUnavailable
    from django_twitter_oauth.sandbox import views
    from django_twitter_oauth.testing.provider import Fault

    original = views.provider_for

    def with_fault(request: object) -> object:
        provider = original(request)  # type: ignore[arg-type]
        provider.add_fault("oauth/request_token", Fault("connection_error"))
        return provider

    monkeypatch.setattr(views, "provider_for", with_fault)
    with pytest.raises(TwitterUnavailable) as excinfo:
        sandbox_client.fetch_request_token(CALLBACK)
    assert excinfo.value.status_code == 503
    assert excinfo.value.code == 130


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_whole_flow_over_real_http(live_server: object) -> None:
    """The sandbox served by a real HTTP server: request token, authorize page,
    approve, callback parameters, access token, verify, invalidate."""
    base = f"{live_server.url}/sandbox"  # type: ignore[attr-defined]
    twitter = TwitterClient(api_url=base)
    request_token = twitter.fetch_request_token(f"{live_server.url}/callback/")  # type: ignore[attr-defined]
    with requests.Session() as browser:
        page = browser.get(
            twitter.authorization_url(request_token.token, screen_name="carol"), timeout=10
        )
        assert page.status_code == 200
        answer = browser.post(
            f"{base}/oauth/decide",
            data={
                "csrfmiddlewaretoken": csrf_token(page.text),
                "oauth_token": request_token.token,
                "authorize": "1",
                "screen_name": "carol",
            },
            headers={"Referer": page.url},
            allow_redirects=False,
            timeout=10,
        )
    assert answer.status_code == 302
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer.headers["Location"]).query))
    assert params["oauth_token"] == request_token.token
    access = twitter.fetch_access_token(
        request_token.token, request_token.secret, params["oauth_verifier"]
    )
    assert access.screen_name == "carol"
    assert access.access_level == "read-write"
    credentials = twitter.verify_credentials(access.token, access.secret)
    assert credentials.user_id == access.user_id
    twitter.invalidate_token(access.token, access.secret)
    with pytest.raises(TokenInvalid):
        twitter.invalidate_token(access.token, access.secret)


# -- X today: tiers, 2/users/me, email, 2/tweets ------------------------------------------------


def sandbox_token(
    sandbox_client: TwitterClient, access_type: str | None = None, **fields: str
) -> tuple[str, str]:
    """An access token for a new fake user made on the authorize page (``fields``:
    ``screen_name``, ``email``)."""
    request_token = sandbox_client.fetch_request_token(CALLBACK, access_type=access_type)
    answer = Client().post(
        "/sandbox/oauth/decide",
        {"oauth_token": request_token.token, "authorize": "1", **fields},
    )
    assert answer.status_code == 302, answer.content.decode()
    verifier = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer["Location"]).query))[
        "oauth_verifier"
    ]
    access = sandbox_client.fetch_access_token(request_token.token, request_token.secret, verifier)
    return access.token, access.secret


def user_auth(token: str, secret: str) -> OAuth1:
    return OAuth1("tests-consumer-key", "tests-consumer-secret", token, secret)


@override_settings(TWITTER_OAUTH_SANDBOX_TIER="free")
def test_free_tier_sandbox(sandbox_client: TwitterClient) -> None:
    token, secret = sandbox_token(sandbox_client, screen_name="dora")
    verify = requests.get(
        f"{SANDBOX}/1.1/account/verify_credentials.json", auth=user_auth(token, secret), timeout=5
    )
    assert verify.status_code == 403
    assert verify.json()["errors"][0]["code"] == 453
    me = requests.get(f"{SANDBOX}/2/users/me", auth=user_auth(token, secret), timeout=5)
    assert me.status_code == 200
    assert me.headers["x-rate-limit-limit"] == "25"
    assert "x-access-level" not in me.headers
    assert "<strong>free</strong>" in Client().get("/sandbox/").content.decode()


def test_sandbox_users_me_and_revocation(sandbox_client: TwitterClient) -> None:
    token, secret = sandbox_token(sandbox_client, screen_name="erin")
    erin = SandboxUser.objects.get(screen_name="erin")
    me = requests.get(f"{SANDBOX}/2/users/me", auth=user_auth(token, secret), timeout=5)
    assert me.json() == {"data": {"id": erin.user_id, "name": "erin", "username": "erin"}}
    assert me.headers["x-rate-limit-limit"] == "75"
    sandbox_client.invalidate_token(token, secret)
    gone = requests.get(f"{SANDBOX}/2/users/me", auth=user_auth(token, secret), timeout=5)
    assert gone.status_code == 401
    assert gone.json() == {
        "title": "Unauthorized",
        "type": "about:blank",
        "status": 401,
        "detail": "Unauthorized",
    }


def test_sandbox_email(sandbox_client: TwitterClient) -> None:
    token, secret = sandbox_token(sandbox_client, screen_name="fay", email="fay@example.com")
    assert SandboxUser.objects.get(screen_name="fay").email == "fay@example.com"
    url = f"{SANDBOX}/1.1/account/verify_credentials.json?include_email=true"
    assert requests.get(url, auth=user_auth(token, secret), timeout=5).json()["email"] == (
        "fay@example.com"
    )
    # A user without an email: null, as Twitter answers.
    token, secret = sandbox_token(sandbox_client, screen_name="gil")
    assert requests.get(url, auth=user_auth(token, secret), timeout=5).json()["email"] is None
    assert "fay@example.com" in Client().get("/sandbox/").content.decode()


def test_sandbox_refuses_an_invalid_email(sandbox_client: TwitterClient) -> None:
    request_token = sandbox_client.fetch_request_token(CALLBACK)
    answer = Client().post(
        "/sandbox/oauth/decide",
        {
            "oauth_token": request_token.token,
            "authorize": "1",
            "screen_name": "hal",
            "email": "not an email",
        },
    )
    assert answer.status_code == 400
    assert "valid email" in answer.content.decode()
    assert not SandboxUser.objects.exists()


def test_sandbox_tweets(sandbox_client: TwitterClient) -> None:
    token, secret = sandbox_token(sandbox_client, screen_name="ivy")
    assert "None yet: POST 2/tweets" in Client().get("/sandbox/").content.decode()
    posted = requests.post(
        f"{SANDBOX}/2/tweets",
        json={"text": "from the sandbox"},
        auth=user_auth(token, secret),
        timeout=5,
    )
    assert posted.status_code == 201
    assert posted.json()["data"]["text"] == "from the sandbox"
    assert "@ivy: from the sandbox" in Client().get("/sandbox/").content.decode()
    token, secret = sandbox_token(sandbox_client, access_type="read", screen_name="jo")
    refused = requests.post(
        f"{SANDBOX}/2/tweets",
        json={"text": "read only"},
        auth=user_auth(token, secret),
        timeout=5,
    )
    assert refused.status_code == 403


# -- demo polish ----------------------------------------------------------------------------


def sandbox_pages(sandbox_client: TwitterClient) -> dict[str, str]:
    """Every kind of sandbox page, as HTML."""
    pages = {"index": Client().get("/sandbox/").content.decode()}
    pages["invalid token"] = Client().get("/sandbox/oauth/authorize").content.decode()
    request_token = sandbox_client.fetch_request_token("oob")
    pages["authorize"] = (
        Client().get(f"/sandbox/oauth/authorize?oauth_token={request_token.token}").content
    ).decode()
    pages["refused"] = (
        Client()
        .post("/sandbox/oauth/decide", {"oauth_token": request_token.token, "authorize": "1"})
        .content.decode()
    )
    pages["pin"] = (
        Client()
        .post(
            "/sandbox/oauth/decide",
            {"oauth_token": request_token.token, "authorize": "1", "screen_name": "kim"},
        )
        .content.decode()
    )
    cancelled = sandbox_client.fetch_request_token("oob")
    pages["cancelled"] = (
        Client()
        .post("/sandbox/oauth/decide", {"oauth_token": cancelled.token, "cancel": "1"})
        .content.decode()
    )
    return pages


def test_pages_name_the_app_kindly_and_link_back(sandbox_client: TwitterClient) -> None:
    pages = sandbox_pages(sandbox_client)
    assert "<strong>Your app (sandbox)</strong> asks for" in pages["authorize"]
    assert "<strong>Your app (sandbox)</strong> asks for" in pages["refused"]
    for name, html in pages.items():
        assert "tests-consumer-key" not in html, name
        # No sites framework here: the site is named by its host.
        assert '<a href="/">Back to testserver</a>' in html, name


def test_back_link_names_the_site_of_the_sites_framework(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With django.contrib.sites, get_current_site() is the Site row, named by staff."""
    from types import SimpleNamespace

    from django_twitter_oauth.sandbox import views

    monkeypatch.setattr(views, "get_current_site", lambda request: SimpleNamespace(name="Demo"))
    assert '<a href="/">Back to Demo</a>' in Client().get("/sandbox/").content.decode()
