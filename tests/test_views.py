"""The flow through the views, against the signature-verifying fake Twitter.

``client`` here runs each request's on_commit callbacks when the request ends, as a
site outside the test's transaction would: signals are sent then.
"""

from __future__ import annotations

import datetime as dt
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any, Protocol

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.backends.db import SessionStore
from django.db import connections
from django.http import HttpResponse
from django.template import RequestContext, Template
from django.test import Client, RequestFactory, TestCase, override_settings
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries, Settings

from django_twitter_oauth import flow, views
from django_twitter_oauth.exceptions import (
    AccountConflict,
    CallbackNotApproved,
    ExpiredRequestToken,
    ForeignRequestToken,
    InvalidCallback,
    MalformedResponse,
    SignInRefused,
    TwitterRateLimited,
    TwitterRejected,
    TwitterUnavailable,
    UnknownRequestToken,
)
from django_twitter_oauth.models import (
    AccessToken,
    RequestToken,
    RequestTokenQuerySet,
    TokenEvent,
    hash_token,
)
from django_twitter_oauth.testing import FakeTwitter
from django_twitter_oauth.testing.provider import CALLBACK_NOT_APPROVED, JSON, twitter_error
from tests.utils import (
    SECRET,
    TOKEN,
    SignalRecorder,
    browser,
    make_token,
    make_user,
    makes_usernames,
    signed_up_username,
    tokens_alias,
    tokens_connection,
    users_apart,
)

pytestmark = pytest.mark.django_db

CALLBACK = "http://testserver/twitter/callback/"
CONSUMER_SECRET = "tests-consumer-secret"


class CommittingClient(Client):
    """A test Client whose requests run their on_commit callbacks at the end."""

    def request(self, **request: Any) -> Any:
        with TestCase.captureOnCommitCallbacks(using=tokens_alias(), execute=True):
            return super().request(**request)


@pytest.fixture
def client() -> Client:
    return CommittingClient()


def query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def start(client: Client, **data: str) -> str:
    """POST begin; return Twitter's authorization URL (or the PIN page's)."""
    response = client.post("/twitter/begin/", data)
    assert response.status_code == 302, response.content
    return str(response["Location"])


def start_token(client: Client, **data: str) -> str:
    """POST begin; return the request token."""
    return query(start(client, **data))["oauth_token"]


def events() -> list[tuple[Any, ...]]:
    """The audit trail, oldest first: (action, Twitter id, screen name, user, actor, reason)."""
    return list(
        TokenEvent.objects.order_by("pk").values_list(
            "action", "twitter_user_id", "screen_name", "user_id", "actor_id", "reason"
        )
    )


def raw_columns(table: str, columns: str) -> bytes:
    with tokens_connection().cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table}")  # noqa: S608
        return b"".join(bytes(value) for row in cursor.fetchall() for value in row)


def signed_in_user(client: Client) -> Any:
    """The primary key of the user signed in (of the user model's own type), or None."""
    value = client.session.get(SESSION_KEY)
    return None if value is None else get_user_model()._meta.pk.to_python(value)


class Page(Protocol):
    """A response, from the test Client or from a view called directly."""

    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes: ...

    def __getitem__(self, header: str) -> str: ...

    def has_header(self, header: str) -> bool: ...


def assert_no_secrets(response: Page, *secrets: str) -> None:
    page = response.content.decode()
    for value in (CONSUMER_SECRET, *secrets):
        assert value
        assert value not in page
        assert urllib.parse.quote(value, safe="") not in page


# -- success --------------------------------------------------------------------------------


def test_connect(client: Client, fake_twitter: FakeTwitter, sent: SignalRecorder) -> None:
    alice = make_user()
    client.force_login(alice)
    session_key = client.session.session_key
    url = start(client, next="/after/")
    assert url.startswith("https://api.twitter.com/oauth/authenticate?")
    callback = fake_twitter.authorize(query(url)["oauth_token"], user_id="42", screen_name="jack")
    assert callback.startswith(CALLBACK)
    response = client.get(callback)
    assert (response.status_code, response["Location"]) == (302, "/after/")
    token = AccessToken.objects.get()
    assert (token.user, token.twitter_user_id, token.screen_name) == (alice, "42", "jack")
    assert (token.access_level, token.app_permission) == ("read-write", "read-write")
    assert fake_twitter.access_token_valid(token.token)
    stored = raw_columns("twitter_oauth_accesstoken", "token, secret")
    assert token.token.encode() not in stored
    assert token.secret.encode() not in stored
    # Linked, still the same session.
    assert signed_in_user(client) == alice.pk
    assert client.session.session_key == session_key
    completed = sent.only("authorization_completed")
    assert (completed["user"], completed["token"], completed["created"]) == (alice, token, True)
    assert completed["request"].path == "/twitter/callback/"
    assert not RequestToken.objects.exists()
    assert events() == [("authorized", "42", "jack", alice.pk, None, "connect")]


@override_settings(TWITTER_OAUTH_ALLOW_SIGNUP=True)
def test_sign_up(client: Client, fake_twitter: FakeTwitter, sent: SignalRecorder) -> None:
    oauth_token = start_token(client)
    anonymous_session = client.session.session_key
    before = timezone.now()
    response = client.get(fake_twitter.authorize(oauth_token, user_id="42", screen_name="jack"))
    assert (response.status_code, response["Location"]) == (302, "/profile/")
    user = get_user_model().objects.get()
    assert user.get_username() == signed_up_username("jack", "42")
    assert not user.has_usable_password()
    assert user.last_login is not None
    assert user.last_login >= before
    assert signed_in_user(client) == user.pk
    assert client.session.session_key != anonymous_session
    token = AccessToken.objects.get()
    assert token.user == user
    stored = raw_columns("twitter_oauth_accesstoken", "token, secret")
    assert token.token.encode() not in stored
    assert token.secret.encode() not in stored
    completed = sent.only("authorization_completed")
    assert (completed["user"], completed["token"], completed["created"]) == (user, token, True)
    assert events() == [("authorized", "42", "jack", user.pk, None, "sign-up")]


def test_sign_in_of_a_linked_user(
    client: Client, fake_twitter: FakeTwitter, sent: SignalRecorder
) -> None:
    """Re-authorization in sign-in mode: the same row gets the new token."""
    alice = make_user()
    old = make_token(alice, twitter_user_id="42", screen_name="old_name", access_level="read")
    url = start(client, next="/after/")
    anonymous_session = client.session.session_key
    callback = fake_twitter.authorize(query(url)["oauth_token"], user_id="42", screen_name="jack")
    response = client.get(callback)
    assert (response.status_code, response["Location"]) == (302, "/after/")
    assert signed_in_user(client) == alice.pk
    assert client.session.session_key != anonymous_session
    alice.refresh_from_db()
    assert alice.last_login is not None
    token = AccessToken.objects.get()
    assert token.pk == old.pk
    assert (token.user, token.screen_name, token.access_level) == (alice, "jack", "read-write")
    assert (token.token, token.secret) != (TOKEN, SECRET)
    assert fake_twitter.access_token_valid(token.token)
    completed = sent.only("authorization_completed")
    assert (completed["user"], completed["token"], completed["created"]) == (alice, token, False)
    assert not RequestToken.objects.exists()
    assert events() == [("reauthorized", "42", "jack", alice.pk, None, "sign-in")]


def test_reconnect_updates_the_same_row(
    client: Client, fake_twitter: FakeTwitter, sent: SignalRecorder
) -> None:
    alice = make_user()
    client.force_login(alice)
    first = fake_twitter.authorize(start_token(client), user_id="42", access_level="read")
    client.get(first)
    old = AccessToken.objects.get()
    assert old.access_level == "read"
    second = fake_twitter.authorize(start_token(client), user_id="42", screen_name="renamed")
    assert client.get(second).status_code == 302
    token = AccessToken.objects.get()
    assert token.pk == old.pk
    assert (token.screen_name, token.access_level) == ("renamed", "read-write")
    assert (token.token, token.secret) != (old.token, old.secret)
    assert [kwargs["created"] for _, kwargs in sent.sent] == [True, False]
    assert [event[0] for event in events()] == ["authorized", "reauthorized"]


@pytest.mark.parametrize(
    "next_url", ["", "https://evil.example/", "//evil.example", "javascript:alert(1)"]
)
def test_unsafe_next_is_ignored(client: Client, fake_twitter: FakeTwitter, next_url: str) -> None:
    make_token(twitter_user_id="42")
    oauth_token = start_token(client, next=next_url)
    assert RequestToken.objects.get().next_url == ""
    response = client.get(fake_twitter.authorize(oauth_token, user_id="42"))
    assert response["Location"] == "/profile/"


@override_settings(TWITTER_OAUTH_REDIRECT_URL="admin:index")
def test_redirect_url_setting(client: Client, fake_twitter: FakeTwitter) -> None:
    make_token(twitter_user_id="42")
    response = client.get(fake_twitter.authorize(start_token(client), user_id="42"))
    assert response["Location"] == "/admin/"


# -- begin ----------------------------------------------------------------------------------


def test_get_begin_shows_a_confirmation_page(client: Client, fake_twitter: FakeTwitter) -> None:
    response = client.get(
        "/twitter/begin/",
        {"next": "/after/", "force_login": "1", "screen_name": "jack", "authorize": "1"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert '<form method="post" action="/twitter/begin/">' in page
    assert 'name="csrfmiddlewaretoken"' in page
    for name, value in (
        ("next", "/after/"),
        ("force_login", "1"),
        ("screen_name", "jack"),
        ("authorize", "1"),
    ):
        assert f'<input type="hidden" name="{name}" value="{value}">' in page
    assert "Sign in with Twitter" in page
    assert fake_twitter.calls == []
    assert not RequestToken.objects.exists()
    assert response["Cache-Control"].startswith("max-age=0")


def test_confirmation_page_drops_an_unsafe_next(client: Client) -> None:
    client.force_login(make_user())
    response = client.get("/twitter/begin/", {"next": "https://evil.example/"})
    page = response.content.decode()
    assert "evil.example" not in page
    assert 'name="next"' not in page
    assert "Connect your Twitter account" in page


def test_confirmation_page_form_starts_the_flow(fake_twitter: FakeTwitter) -> None:
    """The page's form, CSRF token included, goes through a CSRF-checking client."""
    client = Client(enforce_csrf_checks=True)
    page = client.get("/twitter/begin/", {"screen_name": "jack"}).content.decode()
    csrf = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    response = client.post("/twitter/begin/", {"csrfmiddlewaretoken": csrf, "screen_name": "jack"})
    assert response.status_code == 302
    assert query(response["Location"])["screen_name"] == "jack"


@override_settings(TWITTER_OAUTH_LOGIN_ON_GET=True)
def test_login_on_get(client: Client, fake_twitter: FakeTwitter) -> None:
    response = client.get("/twitter/begin/", {"next": "/after/"})
    assert response.status_code == 302
    assert response["Location"].startswith("https://api.twitter.com/oauth/authenticate?")
    assert RequestToken.objects.get().next_url == "/after/"


def test_begin_needs_the_csrf_token(fake_twitter: FakeTwitter) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post("/twitter/begin/").status_code == 403
    assert fake_twitter.calls == []
    assert not RequestToken.objects.exists()


@pytest.mark.parametrize(
    ("data", "path", "params"),
    [
        ({}, "oauth/authenticate", {}),
        ({"force_login": "1"}, "oauth/authenticate", {"force_login": "true"}),
        ({"force_login": "true"}, "oauth/authenticate", {"force_login": "true"}),
        ({"force_login": "0"}, "oauth/authenticate", {}),
        ({"screen_name": "jack"}, "oauth/authenticate", {"screen_name": "jack"}),
        ({"authorize": "1"}, "oauth/authorize", {}),
        (
            {"authorize": "yes", "force_login": "on", "screen_name": "jack"},
            "oauth/authorize",
            {"force_login": "true", "screen_name": "jack"},
        ),
    ],
)
def test_begin_options_reach_twitter(
    client: Client,
    fake_twitter: FakeTwitter,
    data: dict[str, str],
    path: str,
    params: dict[str, str],
) -> None:
    url = start(client, **data)
    assert url.startswith(f"https://api.twitter.com/{path}?")
    oauth_token = query(url)["oauth_token"]
    assert RequestToken.objects.get().token_hash == hash_token(oauth_token)
    assert query(url) == {"oauth_token": oauth_token, **params}


@pytest.mark.parametrize(
    "data",
    [
        {"screen_name": "j" * 51},
        {"screen_name": "jack\r\nX-Injected: 1"},
        {"access_type": "admin"},
    ],
)
def test_begin_refuses_bad_options(
    client: Client, fake_twitter: FakeTwitter, sent: SignalRecorder, data: dict[str, str]
) -> None:
    response = client.post("/twitter/begin/", data)
    assert response.status_code == 400
    assert not RequestToken.objects.exists()
    assert fake_twitter.calls == []
    assert isinstance(sent.only("authorization_failed")["error"], InvalidCallback)


@override_settings(TWITTER_OAUTH_SIGN_IN=False)
def test_anonymous_begin_with_sign_in_off(
    client: Client, fake_twitter: FakeTwitter, sent: SignalRecorder
) -> None:
    response = client.post("/twitter/begin/")
    assert response.status_code == 403
    assert "Sign in to this site first" in response.content.decode()
    assert not RequestToken.objects.exists()
    assert fake_twitter.calls == []
    assert isinstance(sent.only("authorization_failed")["error"], SignInRefused)


def test_begin_only_takes_get_and_post(client: Client) -> None:
    assert client.put("/twitter/begin/").status_code == 405


def test_the_template_tags_form_starts_the_flow(fake_twitter: FakeTwitter) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get("/twitter/begin/")  # sets the CSRF cookie
    request = RequestFactory().get("/")
    request.META["CSRF_COOKIE"] = client.cookies["csrftoken"].value
    request.user = AnonymousUser()
    html = Template(
        "{% load twitter_oauth %}"
        '{% twitter_oauth_button next="/after/" force_login=True access_type="read" %}'
    ).render(RequestContext(request))
    fields = {
        part.split('name="')[1].split('"')[0]: part.split('value="')[1].split('"')[0]
        for part in html.split("<input")[1:]
    }
    assert set(fields) == {"csrfmiddlewaretoken", "next", "force_login", "access_type"}
    response = client.post("/twitter/begin/", fields)
    assert response.status_code == 302
    assert query(response["Location"])["force_login"] == "true"
    assert (RequestToken.objects.get().next_url, RequestToken.objects.get().access_type) == (
        "/after/",
        "read",
    )
    assert "x_auth_access_type=read" in fake_twitter.calls[0].url


# -- cancel ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sign-in", "connect"])
def test_cancel(client: Client, fake_twitter: FakeTwitter, sent: SignalRecorder, mode: str) -> None:
    if mode == "connect":
        client.force_login(make_user())
    oauth_token = start_token(client, next="/after/")
    response = client.get(fake_twitter.deny(oauth_token))
    assert (response.status_code, response["Location"]) == (
        302,
        "/twitter/denied/?next=%2Fafter%2F",
    )
    assert not RequestToken.objects.exists()
    assert fake_twitter.counts == {"oauth/request_token": 1}
    assert sent.only("authorization_denied")["request"].GET["denied"] == oauth_token
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert '<a href="/after/">' in page.content.decode()
    assert not AccessToken.objects.exists()


def test_cancel_of_another_browsers_flow(
    client: Client, fake_twitter: FakeTwitter, sent: SignalRecorder
) -> None:
    oauth_token = start_token(client, next="/after/")
    response = CommittingClient().get("/twitter/callback/", {"denied": oauth_token})
    assert (response.status_code, response["Location"]) == (302, "/twitter/denied/")
    assert RequestToken.objects.count() == 1
    assert sent.sent == []


def test_denied_page_links_only_to_a_safe_next(client: Client) -> None:
    for next_url in ("https://evil.example/", "//evil.example", "javascript:alert(1)", ""):
        page = client.get("/twitter/denied/", {"next": next_url})
        assert page.status_code == 200
        assert '<a href="/profile/">' in page.content.decode()


# -- refused callbacks ----------------------------------------------------------------------


def test_replay_of_a_used_callback(
    client: Client, fake_twitter: FakeTwitter, sent: SignalRecorder
) -> None:
    client.force_login(make_user())
    callback = fake_twitter.authorize(start_token(client), user_id="42")
    assert client.get(callback).status_code == 302
    token = AccessToken.objects.get()
    response = client.get(callback)
    assert response.status_code == 400
    assert "already completed" in response.content.decode()
    assert AccessToken.objects.get().token == token.token
    assert fake_twitter.count("oauth/access_token") == 1
    assert sent.names == ["authorization_completed", "authorization_failed"]
    assert isinstance(sent.sent[1][1]["error"], UnknownRequestToken)


@pytest.mark.parametrize(
    "query_string",
    ["", "oauth_token=abc", "oauth_verifier=abc", "oauth_token=a%00b&oauth_verifier=v"],
)
def test_callback_with_missing_or_malformed_parameters(
    client: Client, fake_twitter: FakeTwitter, query_string: str
) -> None:
    response = client.get(f"/twitter/callback/?{query_string}")
    assert response.status_code == 400
    assert fake_twitter.calls == []


def test_callback_takes_only_get(client: Client) -> None:
    assert client.post("/twitter/callback/").status_code == 405


@pytest.mark.parametrize("mode", ["sign-in", "connect"])
def test_callback_in_another_browser(
    client: Client, fake_twitter: FakeTwitter, sent: SignalRecorder, mode: str
) -> None:
    alice = make_user()
    if mode == "connect":
        client.force_login(alice)
    make_token(alice, twitter_user_id="42")
    callback = fake_twitter.authorize(start_token(client), user_id="42")
    other = CommittingClient()
    if mode == "connect":
        other.force_login(alice)  # even the same user, in another browser
    response = other.get(callback)
    assert response.status_code == 403
    assert RequestToken.objects.count() == 1
    assert signed_in_user(other) == (alice.pk if mode == "connect" else None)
    assert isinstance(sent.only("authorization_failed")["error"], ForeignRequestToken)
    # The browser that started it still completes it.
    assert client.get(callback).status_code == 302
    assert signed_in_user(client) == alice.pk


@pytest.mark.parametrize("change", ["logout", "other user"])
def test_connect_after_the_user_changed(
    client: Client, fake_twitter: FakeTwitter, change: str
) -> None:
    client.force_login(make_user("alice"))
    callback = fake_twitter.authorize(start_token(client), user_id="42")
    if change == "logout":
        client.logout()
    else:
        client.force_login(make_user("bob"))
    response = client.get(callback)
    assert response.status_code == 403
    assert RequestToken.objects.count() == 1
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize("how", ["created_at", "ttl"])
def test_expired_request_token(
    client: Client, fake_twitter: FakeTwitter, settings: Settings, sent: SignalRecorder, how: str
) -> None:
    make_token(twitter_user_id="42")
    callback = fake_twitter.authorize(start_token(client), user_id="42")
    if how == "created_at":
        RequestToken.objects.update(created_at=timezone.now() - dt.timedelta(seconds=901))
    else:
        settings.TWITTER_OAUTH_REQUEST_TOKEN_TTL = 0
    response = client.get(callback)
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert not RequestToken.objects.exists()
    assert fake_twitter.count("oauth/access_token") == 0
    assert signed_in_user(client) is None
    assert isinstance(sent.only("authorization_failed")["error"], ExpiredRequestToken)


def test_not_yet_expired_request_token(client: Client, fake_twitter: FakeTwitter) -> None:
    make_token(twitter_user_id="42")
    callback = fake_twitter.authorize(start_token(client), user_id="42")
    RequestToken.objects.update(created_at=timezone.now() - dt.timedelta(seconds=880))
    assert client.get(callback).status_code == 302


# -- several flows, logins in other tabs ---------------------------------------------------


@pytest.mark.parametrize("mode", ["sign-in", "connect"])
@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_two_flows_in_two_tabs(
    client: Client, fake_twitter: FakeTwitter, mode: str, order: tuple[int, int]
) -> None:
    alice = make_user()
    if mode == "connect":
        client.force_login(alice)
    else:
        make_token(alice, twitter_user_id="42")
        make_token(alice, twitter_user_id="43", token="other-token", secret="other-secret")
    tokens = [start_token(client, next="/one/"), start_token(client, next="/two/")]
    callbacks = [
        fake_twitter.authorize(tokens[0], user_id="42"),
        fake_twitter.authorize(tokens[1], user_id="43"),
    ]
    for index in order:
        response = client.get(callbacks[index])
        assert (response.status_code, response["Location"]) == (302, ["/one/", "/two/"][index])
    assert signed_in_user(client) == alice.pk
    assert set(AccessToken.objects.values_list("twitter_user_id", "user")) == {
        ("42", alice.pk),
        ("43", alice.pk),
    }
    assert not RequestToken.objects.exists()


def test_login_in_another_tab_does_not_break_the_flow(
    client: Client, fake_twitter: FakeTwitter
) -> None:
    alice = make_user()
    make_token(alice, twitter_user_id="42")
    callback = fake_twitter.authorize(start_token(client), user_id="42")
    client.force_login(alice)  # the other tab
    response = client.get(callback)
    assert response.status_code == 302
    assert AccessToken.objects.get().user == alice
    assert signed_in_user(client) == alice.pk


# -- the flow cookie ------------------------------------------------------------------------


@pytest.mark.parametrize("secure", [False, True])
def test_begin_sets_the_flow_cookie(
    client: Client, fake_twitter: FakeTwitter, settings: Settings, secure: bool
) -> None:
    settings.TWITTER_OAUTH_REQUEST_TOKEN_TTL = 600
    response = client.post("/twitter/begin/", secure=secure)
    assert response.status_code == 302
    cookie = response.cookies[flow.FLOW_COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert bool(cookie["secure"]) is secure
    assert cookie["path"] == "/twitter/"
    assert cookie["max-age"] == 600
    # Signed with the flow's salt; the key itself is random and not a session key.
    key = flow.flow_key(RequestFactory().get("/", HTTP_COOKIE=f"{flow.FLOW_COOKIE}={cookie.value}"))
    assert key is not None
    assert RequestToken.objects.get().flow_key_hash == hash_token(key)


def test_anonymous_begin_touches_no_session(client: Client, fake_twitter: FakeTwitter) -> None:
    response = client.post("/twitter/begin/")
    assert response.status_code == 302
    assert set(response.cookies) == {flow.FLOW_COOKIE}
    assert not SessionStore.get_model_class().objects.exists()


def test_a_second_flow_reuses_the_browsers_key(client: Client, fake_twitter: FakeTwitter) -> None:
    first = client.post("/twitter/begin/").cookies[flow.FLOW_COOKIE].value
    # Set again (its Max-Age then covers the new flow), with the same key.
    second = client.post("/twitter/begin/").cookies[flow.FLOW_COOKIE].value
    assert len(set(RequestToken.objects.values_list("flow_key_hash", flat=True))) == 1
    assert first.split(":")[0] == second.split(":")[0]


def test_a_stale_cookie_gets_a_new_key(
    client: Client, fake_twitter: FakeTwitter, settings: Settings
) -> None:
    start(client)
    settings.TWITTER_OAUTH_REQUEST_TOKEN_TTL = -1  # the cookie is older than the TTL
    start(client)
    assert len(set(RequestToken.objects.values_list("flow_key_hash", flat=True))) == 2


def test_a_tampered_cookie_is_another_browser(
    client: Client, fake_twitter: FakeTwitter, sent: SignalRecorder
) -> None:
    make_token(twitter_user_id="42")
    callback = fake_twitter.authorize(start_token(client), user_id="42")
    value = client.cookies[flow.FLOW_COOKIE].value
    client.cookies[flow.FLOW_COOKIE] = "x" + value
    assert client.get(callback).status_code == 403
    # Unsigned, or signed with another salt: refused too.
    client.cookies[flow.FLOW_COOKIE] = value.split(":")[0]
    assert client.get(callback).status_code == 403
    response = HttpResponse()
    response.set_signed_cookie(flow.FLOW_COOKIE, value.split(":")[0], salt="other")
    client.cookies[flow.FLOW_COOKIE] = response.cookies[flow.FLOW_COOKIE].value
    assert client.get(callback).status_code == 403
    client.cookies[flow.FLOW_COOKIE] = value
    assert client.get(callback).status_code == 302


def test_logging_out_does_not_end_a_flow_in_flight(
    client: Client, fake_twitter: FakeTwitter
) -> None:
    """A sign-in begun before the browser's session ended still completes: the flow key
    is in its own cookie, which a logout (a flushed session) does not touch."""
    alice = make_user()
    make_token(alice, twitter_user_id="42")
    callback = fake_twitter.authorize(start_token(client), user_id="42")
    flow_cookie = client.cookies[flow.FLOW_COOKIE]
    client.force_login(make_user("carol"))
    client.logout()  # the test Client forgets every cookie; a browser keeps the flow's
    client.cookies[flow.FLOW_COOKIE] = flow_cookie.value
    response = client.get(callback)
    assert response.status_code == 302
    assert signed_in_user(client) == alice.pk


# -- connect conflicts, sign-in refusals ----------------------------------------------------


def test_connect_an_account_linked_to_another_user(
    client: Client, fake_twitter: FakeTwitter, sent: SignalRecorder
) -> None:
    bob = make_user("bob")
    bob_token = make_token(bob, twitter_user_id="42")
    alice = make_user("alice")
    client.force_login(alice)
    response = client.get(fake_twitter.authorize(start_token(client), user_id="42"))
    assert response.status_code == 409
    assert "already connected to another account" in response.content.decode()
    token = AccessToken.objects.get()
    assert (token.pk, token.user, token.token, token.updated_at) == (
        bob_token.pk,
        bob,
        TOKEN,
        bob_token.updated_at,
    )
    assert signed_in_user(client) == alice.pk
    assert not RequestToken.objects.exists()
    assert isinstance(sent.only("authorization_failed")["error"], AccountConflict)


def test_sign_in_of_an_unlinked_account_with_signup_off(
    client: Client, fake_twitter: FakeTwitter, sent: SignalRecorder
) -> None:
    response = client.get(fake_twitter.authorize(start_token(client), screen_name="jack"))
    assert response.status_code == 403
    assert "No account on this site is connected" in response.content.decode()
    assert not get_user_model().objects.exists()
    assert not AccessToken.objects.exists()
    assert signed_in_user(client) is None
    assert isinstance(sent.only("authorization_failed")["error"], SignInRefused)


@makes_usernames
@override_settings(TWITTER_OAUTH_ALLOW_SIGNUP=True)
def test_sign_up_with_a_taken_username(client: Client, fake_twitter: FakeTwitter) -> None:
    jack = make_user("jack")
    response = client.get(fake_twitter.authorize(start_token(client), screen_name="jack"))
    assert response.status_code == 302
    user = AccessToken.objects.get().user
    assert user != jack
    assert user.get_username() == "jack-2"
    assert not user.has_usable_password()
    assert signed_in_user(client) == user.pk


def test_sign_in_of_an_inactive_user(client: Client, fake_twitter: FakeTwitter) -> None:
    make_token(make_user(is_active=False), twitter_user_id="42")
    response = client.get(fake_twitter.authorize(start_token(client), user_id="42"))
    assert response.status_code == 403
    assert signed_in_user(client) is None
    assert AccessToken.objects.get().token == TOKEN


def test_sign_in_without_the_backend(
    client: Client, fake_twitter: FakeTwitter, sent: SignalRecorder
) -> None:
    make_token(twitter_user_id="42")
    callback = fake_twitter.authorize(start_token(client), user_id="42")
    with override_settings(AUTHENTICATION_BACKENDS=["django.contrib.auth.backends.ModelBackend"]):
        response = client.get(callback)
    assert response.status_code == 403
    assert "TwitterBackend" not in response.content.decode()
    assert signed_in_user(client) is None
    assert AccessToken.objects.get().token == TOKEN
    assert sent.names == ["authorization_failed"]


# -- Twitter's faults -----------------------------------------------------------------------

Inject = Callable[[FakeTwitter, str], None]


def answer(status: int, body: str = "", content_type: str = JSON) -> Inject:
    def inject(fake: FakeTwitter, endpoint: str) -> None:
        fake.fail(endpoint, status=status, body=body, headers={"content-type": content_type})

    return inject


FAULTS: dict[str, tuple[Inject, int, type[Exception], str]] = {
    # name: (inject, status, error, what the staff hint says ("" for none))
    "connection error": (lambda fake, ep: fake.fail_connection(ep), 502, TwitterUnavailable, ""),
    "timeout": (lambda fake, ep: fake.fail_timeout(ep), 502, TwitterUnavailable, ""),
    "5xx": (answer(500, "Internal error"), 502, TwitterUnavailable, ""),
    "503 over capacity": (
        answer(503, twitter_error(130, "Over capacity")),
        502,
        TwitterUnavailable,
        "",
    ),
    "401 bad keys": (
        answer(401, twitter_error(32, "Could not authenticate you.")),
        502,
        TwitterRejected,
        "Check TWITTER_OAUTH_CONSUMER_KEY and TWITTER_OAUTH_CONSUMER_SECRET",
    ),
    "415 callback not approved": (
        answer(403, twitter_error(415, CALLBACK_NOT_APPROVED)),
        502,
        CallbackNotApproved,
        "callback URLs in your app",
    ),
    "429 with reset": (
        lambda fake, ep: fake.rate_limit(ep, reset_in=120),
        503,
        TwitterRateLimited,
        "",
    ),
    "429 without reset": (
        lambda fake, ep: fake.rate_limit(ep, reset_in=None),
        503,
        TwitterRateLimited,
        "",
    ),
    "malformed body": (
        answer(200, "<html>nonsense</html>", "text/html"),
        502,
        MalformedResponse,
        "",
    ),
    "redirect": (answer(302), 502, MalformedResponse, ""),
}


def check_fault_page(
    response: Page,
    status: int,
    hint: str,
    *,
    staff: bool,
    sent: SignalRecorder,
    error: type[Exception],
) -> None:
    assert response.status_code == status
    page = response.content.decode()
    assert "twitter-oauth-error" in page
    if status == 503:
        retry_after = int(response["Retry-After"])
        assert 1 <= retry_after <= 121
        assert "Please try again in" in page
    else:
        assert not response.has_header("Retry-After")
    if staff and hint:
        assert "For the site's staff:" in page
        assert hint in page
    else:
        assert "twitter-oauth-staff-hint" not in page
    assert isinstance(sent.only("authorization_failed")["error"], error)


@pytest.mark.parametrize("staff", [False, True], ids=["visitor", "staff"])
@pytest.mark.parametrize("fault", [*FAULTS, "oauth_callback_confirmed missing"])
def test_twitter_fault_at_request_token_time(
    client: Client, fake_twitter: FakeTwitter, sent: SignalRecorder, fault: str, staff: bool
) -> None:
    error: type[Exception]
    if fault == "oauth_callback_confirmed missing":
        inject, status, error, hint = (
            answer(200, "oauth_token=abc&oauth_token_secret=def", "text/html"),
            502,
            MalformedResponse,
            "",
        )
    else:
        inject, status, error, hint = FAULTS[fault]
    if staff:
        client.force_login(make_user(is_staff=True))
    inject(fake_twitter, "oauth/request_token")
    response = client.post("/twitter/begin/", {"next": "/after/"})
    check_fault_page(response, status, hint, staff=staff, sent=sent, error=error)
    assert '<a href="/after/">' in response.content.decode()
    assert not RequestToken.objects.exists()
    assert fake_twitter.count("oauth/request_token") == 1
    assert_no_secrets(response)
    if fault == "415 callback not approved" and staff:
        assert CALLBACK in response.content.decode()


@pytest.mark.parametrize("staff", [False, True], ids=["visitor", "staff"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_twitter_fault_at_access_token_time(
    client: Client, fake_twitter: FakeTwitter, sent: SignalRecorder, fault: str, staff: bool
) -> None:
    inject, status, error, hint = FAULTS[fault]
    if staff:
        client.force_login(make_user(is_staff=True))
    else:
        make_token(twitter_user_id="42")
    oauth_token = start_token(client)
    request_secret = RequestToken.objects.get().secret
    verifier = fake_twitter.approve(oauth_token, user_id="42")
    inject(fake_twitter, "oauth/access_token")
    response = client.get(fake_twitter.redirect_url(oauth_token, verifier))
    check_fault_page(response, status, hint, staff=staff, sent=sent, error=error)
    assert not RequestToken.objects.exists()
    assert AccessToken.objects.count() == (0 if staff else 1)
    if not staff:
        assert AccessToken.objects.get().token == TOKEN
    assert signed_in_user(client) == (
        get_user_model().objects.get(is_staff=True).pk if staff else None
    )
    assert_no_secrets(response, request_secret, verifier)


@pytest.mark.parametrize(
    ("reset_in", "retry_after", "wait"),
    [
        (120, (119, 121), "Please try again in 2 minutes."),
        (30, (29, 31), "Please try again in a minute."),
        (None, (60, 60), "Please try again in a minute."),
        (-5, (1, 1), "Please try again in a minute."),
    ],
)
def test_rate_limited(
    client: Client,
    fake_twitter: FakeTwitter,
    reset_in: int | None,
    retry_after: tuple[int, int],
    wait: str,
) -> None:
    fake_twitter.rate_limit("oauth/request_token", reset_in=reset_in)
    response = client.post("/twitter/begin/")
    assert response.status_code == 503
    assert retry_after[0] <= int(response["Retry-After"]) <= retry_after[1]
    assert wait in response.content.decode()


def test_wrong_consumer_secret(client: Client, fake_twitter: FakeTwitter) -> None:
    """Twitter's own refusal of bad keys (the fake checks the signature), for staff."""
    client.force_login(make_user(is_staff=True))
    with override_settings(TWITTER_OAUTH_CONSUMER_SECRET="wrong-consumer-secret"):
        response = client.post("/twitter/begin/")
    assert response.status_code == 502
    page = response.content.decode()
    assert "code 32" in page
    assert "Check TWITTER_OAUTH_CONSUMER_KEY" in page
    assert "wrong-consumer-secret" not in page
    assert_no_secrets(response)


def test_wrong_consumer_secret_at_access_token_time(
    client: Client, fake_twitter: FakeTwitter
) -> None:
    client.force_login(make_user(is_staff=True))
    callback = fake_twitter.authorize(start_token(client))
    with override_settings(TWITTER_OAUTH_CONSUMER_SECRET="wrong-consumer-secret"):
        response = client.get(callback)
    assert response.status_code == 502
    assert "Check TWITTER_OAUTH_CONSUMER_KEY" in response.content.decode()


def test_callback_url_not_approved_by_twitter(client: Client, sent: SignalRecorder) -> None:
    with FakeTwitter(callback_urls=["https://example.com/twitter/callback/"]):
        client.force_login(make_user(is_staff=True))
        response = client.post("/twitter/begin/")
    assert response.status_code == 502
    page = response.content.decode()
    assert f"Twitter did not approve the callback URL {CALLBACK}" in page
    assert isinstance(sent.only("authorization_failed")["error"], CallbackNotApproved)


def test_wrong_verifier(client: Client, fake_twitter: FakeTwitter, sent: SignalRecorder) -> None:
    oauth_token = start_token(client)
    fake_twitter.approve(oauth_token)
    response = client.get(fake_twitter.redirect_url(oauth_token, "not-the-verifier"))
    assert response.status_code == 400
    assert "was not accepted" in response.content.decode()
    assert not RequestToken.objects.exists()
    assert isinstance(sent.only("authorization_failed")["error"], TwitterRejected)


# -- the PIN flow ---------------------------------------------------------------------------


@pytest.fixture
def oob(settings: Settings) -> None:
    settings.TWITTER_OAUTH_CALLBACK_URL = "oob"


def pin_page(client: Client, **data: str) -> tuple[str, str]:
    """POST begin, follow to the PIN page; return the request token and the page."""
    location = start(client, **data)
    assert location.startswith("/twitter/pin/?")
    oauth_token = query(location)["oauth_token"]
    response = client.get(location)
    assert response.status_code == 200
    return oauth_token, response.content.decode()


@pytest.mark.parametrize("mode", ["sign-in", "connect"])
def test_pin_flow(
    client: Client, fake_twitter: FakeTwitter, oob: None, sent: SignalRecorder, mode: str
) -> None:
    alice = make_user()
    if mode == "connect":
        client.force_login(alice)
    else:
        make_token(alice, twitter_user_id="42")
    oauth_token, page = pin_page(client, next="/after/")
    assert f'href="https://api.twitter.com/oauth/authorize?oauth_token={oauth_token}"' in page
    assert '<form method="post" action="/twitter/pin/">' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert f'<input type="hidden" name="oauth_token" value="{oauth_token}">' in page
    assert 'name="pin"' in page
    pin = fake_twitter.approve(oauth_token, user_id="42")
    assert pin.isdecimal()
    response = client.post(
        "/twitter/pin/", {"oauth_token": oauth_token, "pin": f" {pin[:3]} {pin[3:]} "}
    )
    assert (response.status_code, response["Location"]) == (302, "/after/")
    assert signed_in_user(client) == alice.pk
    assert AccessToken.objects.get().user == alice
    assert sent.names == ["authorization_completed"]


def test_pin_page_passes_force_login_and_screen_name(
    client: Client, fake_twitter: FakeTwitter, oob: None
) -> None:
    oauth_token, page = pin_page(client, force_login="1", screen_name="jack")
    url = f"https://api.twitter.com/oauth/authorize?oauth_token={oauth_token}&amp;force_login=true&amp;screen_name=jack"
    assert f'href="{url}"' in page


def test_pin_flow_always_authorizes(client: Client, fake_twitter: FakeTwitter, oob: None) -> None:
    _, page = pin_page(client, authorize="0")
    assert "oauth/authenticate" not in page


def test_wrong_pin(client: Client, fake_twitter: FakeTwitter, oob: None) -> None:
    oauth_token, _ = pin_page(client)
    pin = fake_twitter.approve(oauth_token)
    wrong = "0000000" if pin != "0000000" else "1111111"
    response = client.post("/twitter/pin/", {"oauth_token": oauth_token, "pin": wrong})
    assert response.status_code == 400
    assert_no_secrets(response, pin, wrong)
    assert not AccessToken.objects.exists()


def test_empty_pin(client: Client, fake_twitter: FakeTwitter, oob: None) -> None:
    oauth_token, _ = pin_page(client)
    response = client.post("/twitter/pin/", {"oauth_token": oauth_token, "pin": "  "})
    assert response.status_code == 400
    assert fake_twitter.count("oauth/access_token") == 0


def test_pin_form_needs_the_csrf_token(fake_twitter: FakeTwitter, oob: None) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/twitter/pin/", {"oauth_token": "abc", "pin": "1234567"})
    assert response.status_code == 403


def test_pin_page_of_an_unknown_or_foreign_token(
    client: Client, fake_twitter: FakeTwitter, oob: None
) -> None:
    oauth_token, _ = pin_page(client)
    assert client.get("/twitter/pin/", {"oauth_token": "unknown"}).status_code == 400
    assert client.get("/twitter/pin/").status_code == 400
    assert CommittingClient().get("/twitter/pin/", {"oauth_token": oauth_token}).status_code == 403


# -- disconnect -----------------------------------------------------------------------------


@pytest.fixture
def alice() -> User:
    return make_user()


@pytest.fixture
def linked(alice: User, fake_twitter: FakeTwitter) -> AccessToken:
    token = make_token(alice, twitter_user_id="6253282", screen_name="twitterapi")
    fake_twitter.add_access_token(TOKEN, SECRET, user_id="6253282", screen_name="twitterapi")
    return token


def test_disconnect(
    client: Client,
    fake_twitter: FakeTwitter,
    alice: User,
    linked: AccessToken,
    sent: SignalRecorder,
) -> None:
    client.force_login(alice)
    response = client.post(
        "/twitter/disconnect/", {"twitter_user_id": "6253282", "next": "/after/"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "@twitterapi is disconnected" in page
    assert "Twitter revoked this site's access" in page
    assert '<a href="/after/">' in page
    assert not AccessToken.objects.exists()
    assert not fake_twitter.access_token_valid(TOKEN)
    revoked = sent.only("token_revoked")
    assert (revoked["token"].pk, revoked["user"], revoked["revoked_by"]) == (
        linked.pk,
        alice,
        alice,
    )
    assert_no_secrets(response, TOKEN, SECRET)
    assert events() == [
        ("revoked", "6253282", "twitterapi", alice.pk, alice.pk, "disconnected by the user")
    ]


def test_disconnect_of_a_token_twitter_already_forgot(
    client: Client,
    fake_twitter: FakeTwitter,
    alice: User,
    linked: AccessToken,
    sent: SignalRecorder,
) -> None:
    fake_twitter.invalidate(TOKEN)
    client.force_login(alice)
    response = client.post("/twitter/disconnect/", {"twitter_user_id": "6253282"})
    assert response.status_code == 200
    assert "Twitter revoked" in response.content.decode()
    assert not AccessToken.objects.exists()
    assert sent.names == ["token_revoked"]


@pytest.mark.parametrize("fault", ["connection error", "5xx", "429 with reset"])
def test_disconnect_when_twitter_cannot_be_told(
    client: Client,
    fake_twitter: FakeTwitter,
    alice: User,
    linked: AccessToken,
    sent: SignalRecorder,
    fault: str,
) -> None:
    FAULTS[fault][0](fake_twitter, "1.1/oauth/invalidate_token")
    client.force_login(alice)
    response = client.post("/twitter/disconnect/", {"twitter_user_id": "6253282"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Twitter could not be told" in page
    assert '<a href="/profile/">' in page
    assert not AccessToken.objects.exists()
    assert fake_twitter.access_token_valid(TOKEN)
    discarded = sent.only("token_discarded")
    assert discarded["reason"] == "disconnected by the user; Twitter could not be told"
    assert_no_secrets(response, TOKEN, SECRET)
    assert events() == [
        (
            "discarded",
            "6253282",
            "twitterapi",
            alice.pk,
            alice.pk,
            "disconnected by the user; Twitter could not be told",
        )
    ]


def test_disconnect_of_a_token_no_key_decrypts(
    client: Client, fake_twitter: FakeTwitter, alice: User, sent: SignalRecorder
) -> None:
    with override_settings(FERNET_KEYS=["a-key-since-lost"]):
        make_token(alice, twitter_user_id="6253282", screen_name="twitterapi")
    client.force_login(alice)
    response = client.post("/twitter/disconnect/", {"twitter_user_id": "6253282"})
    assert response.status_code == 200
    assert "Twitter could not be told" in response.content.decode()
    assert not AccessToken.objects.exists()
    assert fake_twitter.calls == []
    assert sent.names == ["token_discarded"]


@pytest.mark.parametrize("twitter_user_id", ["6253282", "", "nonsense\x00"])
def test_disconnect_of_someone_elses_account(
    client: Client,
    fake_twitter: FakeTwitter,
    linked: AccessToken,
    sent: SignalRecorder,
    twitter_user_id: str,
) -> None:
    client.force_login(make_user("mallory"))
    response = client.post("/twitter/disconnect/", {"twitter_user_id": twitter_user_id})
    assert response.status_code == 404
    assert AccessToken.objects.get() == linked
    assert fake_twitter.calls == []
    assert sent.sent == []
    assert_no_secrets(response, TOKEN, SECRET)


@pytest.mark.parametrize("accounts", [1, 2])
def test_disconnect_without_naming_the_account(
    client: Client,
    fake_twitter: FakeTwitter,
    alice: User,
    linked: AccessToken,
    sent: SignalRecorder,
    accounts: int,
) -> None:
    """The common "Disconnect Twitter" button sends no twitter_user_id: the only
    account goes; with several, a 400 asks which and nothing changes."""
    if accounts == 2:
        make_token(alice, twitter_user_id="43", token="other-token", secret="other-secret")
    client.force_login(alice)
    response = client.post("/twitter/disconnect/")
    page = response.content.decode()
    if accounts == 1:
        assert response.status_code == 200
        assert "@twitterapi" in page
        assert not AccessToken.objects.exists()
        assert sent.names == ["token_revoked"]
    else:
        assert response.status_code == 400
        assert "choose the one to disconnect" in page
        assert AccessToken.objects.count() == 2
        assert fake_twitter.calls == []
        assert sent.sent == []


def test_disconnect_needs_a_login(
    client: Client, fake_twitter: FakeTwitter, linked: AccessToken
) -> None:
    response = client.post("/twitter/disconnect/", {"twitter_user_id": "6253282"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/twitter/disconnect/"
    assert AccessToken.objects.exists()
    assert fake_twitter.calls == []


def test_disconnect_takes_only_post(client: Client, alice: User, linked: AccessToken) -> None:
    client.force_login(alice)
    assert client.get("/twitter/disconnect/", {"twitter_user_id": "6253282"}).status_code == 405
    assert AccessToken.objects.exists()


# -- no secret on any page ------------------------------------------------------------------


def test_pages_show_no_token_values(client: Client, fake_twitter: FakeTwitter) -> None:
    """Every page the flow renders after Twitter handed out values: none of them shows."""
    alice, bob = make_user("alice"), make_user("bob")
    client.force_login(alice)
    oauth_token = start_token(client)
    request_secret = RequestToken.objects.get().secret
    verifier = fake_twitter.approve(oauth_token, user_id="42")
    callback = fake_twitter.redirect_url(oauth_token, verifier)
    assert client.get(callback).status_code == 302
    token = AccessToken.objects.get()
    secrets = (request_secret, verifier, token.token, token.secret)
    pages = [client.get(callback)]  # replay: 400
    # A conflict (409) after a successful exchange: Twitter handed out a token again.
    other = CommittingClient()
    other.force_login(bob)
    second = start_token(other)
    second_verifier = fake_twitter.approve(second, user_id="42")
    pages.append(other.get(fake_twitter.redirect_url(second, second_verifier)))
    pages.append(client.post("/twitter/disconnect/", {"twitter_user_id": "42"}))
    assert [page.status_code for page in pages] == [400, 409, 200]
    for page in pages:
        assert_no_secrets(page, *secrets, second_verifier)


# -- LoginRequiredMiddleware ----------------------------------------------------------------


def test_public_views_under_login_required_middleware(
    client: Client, fake_twitter: FakeTwitter, settings: Settings, oob: None
) -> None:
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    make_token(twitter_user_id="6253282")
    assert client.get("/twitter/begin/").status_code == 200
    assert client.get("/twitter/denied/").status_code == 200
    oauth_token, _ = pin_page(client)
    pin = fake_twitter.approve(oauth_token, user_id="6253282")
    response = client.post("/twitter/pin/", {"oauth_token": oauth_token, "pin": pin})
    assert response.status_code == 302
    assert signed_in_user(client) is not None


def test_callback_and_disconnect_under_login_required_middleware(
    client: Client, fake_twitter: FakeTwitter, settings: Settings
) -> None:
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    make_token(twitter_user_id="42")
    assert client.get("/twitter/callback/").status_code == 400  # reached, not redirected
    response = client.post("/twitter/disconnect/", {"twitter_user_id": "42"})
    assert (response.status_code, response["Location"]) == (
        302,
        "/accounts/login/?next=/twitter/disconnect/",
    )
    assert client.get("/twitter/disconnect/").status_code == 302
    callback = fake_twitter.authorize(start_token(client), user_id="42")
    assert client.get(callback).status_code == 302
    assert signed_in_user(client) is not None


# -- query counts ---------------------------------------------------------------------------
# The app's own queries are the first ones listed; the rest is Django's session and login
# machinery (the database session backend), which the app cannot avoid. Inside the test's
# transaction each atomic block adds a SAVEPOINT and a RELEASE.


def test_queries_of_begin(
    client: Client, fake_twitter: FakeTwitter, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    # INSERT the RequestToken, nothing else: the flow key goes into a signed cookie, and
    # an anonymous begin touches no session.
    with django_assert_num_queries(1):
        start(client)
    # A second flow in the same browser: one DELETE makes room (its flows beyond the
    # newest four, anyone's expired ones), then the INSERT.
    with django_assert_num_queries(2):
        start(client)


def test_queries_of_begin_to_connect(
    client: Client, fake_twitter: FakeTwitter, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    client.force_login(make_user())
    # SELECT the session, SELECT the user (AuthenticationMiddleware), INSERT the
    # RequestToken (the session is not saved: the flow key is in a cookie).
    with django_assert_num_queries(3):
        start(client)


#: The users' database's transaction in the flow (SAVEPOINT, RELEASE) when a router
#: keeps the users apart from the app's tables.
APART = 2 * users_apart()


def test_queries_of_sign_in(
    client: Client, fake_twitter: FakeTwitter, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    make_token(twitter_user_id="42")
    callback = fake_twitter.authorize(start_token(client), user_id="42")
    # The flow: DELETE ... RETURNING the RequestToken (the claim; the browser has no
    # session yet), SAVEPOINT, SELECT ... FOR UPDATE the AccessToken with its user
    # (untouched since Twitter was asked, so no look for a revocation meanwhile), UPDATE
    # the AccessToken, INSERT the TokenEvent, RELEASE. login(): a new session: SELECT (key
    # free?), SAVEPOINT, INSERT, RELEASE; UPDATE last_login; saving the session:
    # SAVEPOINT, UPDATE, RELEASE. With the users apart, the user is one more SELECT.
    with django_assert_num_queries(14 + users_apart() + APART):
        assert client.get(callback).status_code == 302


def test_queries_of_connect(
    client: Client, fake_twitter: FakeTwitter, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    client.force_login(make_user())
    callback = fake_twitter.authorize(start_token(client), user_id="42")
    # SELECT the session, SELECT the user, DELETE ... RETURNING the RequestToken (the
    # claim), SAVEPOINT, SELECT ... FOR UPDATE (no AccessToken yet), INSERT the
    # AccessToken, INSERT the TokenEvent unless a revocation finished meanwhile, RELEASE.
    with django_assert_num_queries(8 + APART):
        assert client.get(callback).status_code == 302


@override_settings(TWITTER_OAUTH_ALLOW_SIGNUP=True)
def test_queries_of_sign_up(
    client: Client, fake_twitter: FakeTwitter, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    callback = fake_twitter.authorize(start_token(client), screen_name="jack")
    # As for sign-in, but the AccessToken is INSERTed after the new user: SELECT the taken
    # usernames like "jack%", INSERT the user.
    with django_assert_num_queries(16 + APART):
        assert client.get(callback).status_code == 302


# -- two callbacks at once ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_callbacks_with_the_same_token(
    fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch, sent: SignalRecorder
) -> None:
    """Two threads, each with its own database connection, complete the same callback of
    the same browser at once: one links the account, the other gets a 400.

    Both threads reach the claim of the pending authorization together (the barrier), so
    only the claim itself (a DELETE: the database lets one of them delete the row) decides.
    Runs on PostgreSQL and on SQLite (the test database is a file; see tests/settings.py).
    """
    alice = make_user()
    request = RequestFactory().post("/twitter/begin/")
    request.session, request.user = SessionStore(), alice
    begun = flow.begin(request)
    oauth_token, cookies = begun.oauth_token, browser(begun.flow_key)
    callback = fake_twitter.authorize(oauth_token, user_id="42", screen_name="jack")
    claim = RequestTokenQuerySet.claim
    barrier = threading.Barrier(2, timeout=10)

    def wait_then_claim(self: RequestTokenQuerySet, *args: Any) -> RequestToken | None:
        barrier.wait()
        return claim(self, *args)

    monkeypatch.setattr(RequestTokenQuerySet, "claim", wait_then_claim)
    responses: list[HttpResponse] = []

    def browser_tab() -> None:
        # An exception here fails the test too: pytest reports it as an unhandled
        # thread exception, and warnings are errors.
        try:
            request = RequestFactory().get(callback)
            request.COOKIES.update(cookies)
            request.session, request.user = SessionStore(), alice
            responses.append(views.callback(request))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=browser_tab) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(response.status_code for response in responses) == [302, 400]
    refusal = next(response for response in responses if response.status_code == 400)
    assert "already completed" in refusal.content.decode()
    token = AccessToken.objects.get()
    assert (token.user, token.twitter_user_id) == (alice, "42")
    assert fake_twitter.count("oauth/access_token") == 1
    assert sorted(sent.names) == ["authorization_completed", "authorization_failed"]
    assert isinstance(dict(sent.sent)["authorization_failed"]["error"], UnknownRequestToken)
    assert not RequestToken.objects.exists()


# -- found by tests/test_fuzz_views.py ------------------------------------------------------


@pytest.mark.parametrize("characters", [227, 2000])
def test_cancel_of_a_flow_begun_with_a_long_unicode_next(
    client: Client, fake_twitter: FakeTwitter, characters: int
) -> None:
    """The redirect to the cancelled page carries ``next`` percent-encoded twice over;
    it stayed within Django's limit on redirects only because ``next`` is measured
    encoded (2000 CJK characters were kept, and cancelling answered a bare 400)."""
    next_url = "/" + "中" * characters
    response = client.get(fake_twitter.deny(start_token(client, next=next_url)))
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200
    kept = next_url if characters == 227 else "/profile/"
    assert f'<a href="{kept}">' in page.content.decode()
    assert not RequestToken.objects.exists()
