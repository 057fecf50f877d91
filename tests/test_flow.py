"""The flow without HTTP views: begin, find_pending, complete, deny, disconnect, safe_next."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import include, path, set_script_prefix
from django.utils import timezone

from django_twitter_oauth import flow, signals
from django_twitter_oauth.exceptions import (
    AccountConflict,
    AmbiguousAccount,
    ExpiredRequestToken,
    ForeignRequestToken,
    InvalidCallback,
    SignInRefused,
    TwitterUnavailable,
    UnknownAccount,
    UnknownRequestToken,
)
from django_twitter_oauth.models import AccessToken, RequestToken, RequestTokenQuerySet, hash_token
from django_twitter_oauth.testing import FakeTwitter
from tests.routers import TOKENS, TokensRouter
from tests.utils import (
    SECRET,
    TOKEN,
    browser,
    make_request,
    make_token,
    make_user,
    makes_usernames,
    tokens_connection,
    users_apart,
)

pytestmark = pytest.mark.django_db


def at_twitter(fake: FakeTwitter, oauth_token: str) -> dict[str, Any]:
    """The fake's record of a pending request token."""
    record = fake.provider.pending(oauth_token)
    assert record is not None
    return record


# -- safe_next ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ("/after/?tab=2", "/after/?tab=2"),
        ("http://testserver/after/", "http://testserver/after/"),
        ("https://evil.example/", ""),
        ("//evil.example", ""),
        ("///evil.example", ""),
        ("javascript:alert(1)", ""),
        ("/a\x00b", ""),
        ("/" + "a" * flow.MAX_NEXT_URL, ""),
        ("", ""),
        (None, ""),
    ],
)
def test_safe_next(candidate: str | None, expected: str) -> None:
    assert flow.safe_next(make_request(), candidate) == expected


def test_safe_next_keeps_the_longest_allowed() -> None:
    longest = "/" + "a" * (flow.MAX_NEXT_URL - 1)
    assert flow.safe_next(make_request(), longest) == longest


def test_safe_next_requires_https_on_a_secure_request() -> None:
    request = make_request(secure=True)
    assert flow.safe_next(request, "http://testserver/after/") == ""
    assert flow.safe_next(request, "https://testserver/after/") == "https://testserver/after/"


# -- begin ----------------------------------------------------------------------------------


def test_begin_stores_a_pending_authorization(fake_twitter: FakeTwitter) -> None:
    alice = make_user()
    request = make_request(alice)
    begun = flow.begin(request, next_url="/after/")
    pending = RequestToken.objects.get()
    # Only a hash of the request token is stored: nothing at rest rebuilds it.
    assert pending.token_hash == hashlib.sha256(begun.oauth_token.encode()).hexdigest()
    assert begun.oauth_token not in str(RequestToken.objects.values().get())
    assert pending.secret == at_twitter(fake_twitter, begun.oauth_token)["secret"]
    assert (pending.user, pending.next_url) == (alice, "/after/")
    # Bound to a hash of the random flow key the browser keeps in a signed cookie.
    flow_key = begun.flow_key
    assert flow.flow_key(make_request(cookies=browser(flow_key))) == flow_key
    assert pending.flow_key_hash == hashlib.sha256(flow_key.encode()).hexdigest()
    assert flow_key not in pending.flow_key_hash
    assert begun.authorization_url == (
        f"https://api.twitter.com/oauth/authenticate?oauth_token={begun.oauth_token}"
    )
    assert begun.authorization_params == {"oauth_token": begun.oauth_token}
    assert not begun.oob
    # The callback sent to Twitter is the absolute URL of the callback view.
    assert at_twitter(fake_twitter, begun.oauth_token)["callback"] == (
        "http://testserver/twitter/callback/"
    )


def test_several_flows_share_the_flow_key(fake_twitter: FakeTwitter) -> None:
    key = flow.begin(make_request()).flow_key
    assert flow.begin(make_request(cookies=browser(key))).flow_key == key
    hashes = set(RequestToken.objects.values_list("flow_key_hash", flat=True))
    assert len(hashes) == 1
    assert RequestToken.objects.count() == 2


def test_a_browser_holds_at_most_five_pending_authorizations(fake_twitter: FakeTwitter) -> None:
    key = flow.begin(make_request()).flow_key
    cookies = browser(key)
    tokens = [flow.begin(make_request(cookies=cookies)).oauth_token for _ in range(6)]
    # Another browser's are left alone.
    other = flow.begin(make_request()).oauth_token
    kept = set(RequestToken.objects.values_list("token_hash", flat=True))
    assert kept == {hash_token(token) for token in [*tokens[-5:], other]}
    # The newest ones still complete.
    assert flow.find_pending(make_request(cookies=cookies), tokens[-5]).token_hash == (
        hash_token(tokens[-5])
    )


def test_begin_purges_expired_authorizations_in_the_same_statement(
    fake_twitter: FakeTwitter,
) -> None:
    mine = flow.begin(make_request())
    flow.begin(make_request())  # another browser's, expired below
    RequestToken.objects.update(created_at=timezone.now() - dt.timedelta(seconds=901))
    fresh = flow.begin(make_request()).oauth_token  # a third browser's, not expired
    with CaptureQueriesContext(tokens_connection()) as captured:
        begun = flow.begin(make_request(cookies=browser(mine.flow_key)))
    assert [query["sql"].split()[0] for query in captured] == ["DELETE", "INSERT"]
    assert set(RequestToken.objects.values_list("token_hash", flat=True)) == {
        hash_token(fresh),
        hash_token(begun.oauth_token),
    }


def test_a_new_browsers_begin_is_one_statement(fake_twitter: FakeTwitter) -> None:
    """The common sign-in: a browser without a flow cookie cannot hold pending
    authorizations, so nothing is deleted (expired rows wait for the next browser that
    has one, or the cleanup command)."""
    flow.begin(make_request())
    RequestToken.objects.update(created_at=timezone.now() - dt.timedelta(seconds=901))
    with CaptureQueriesContext(tokens_connection()) as captured:
        flow.begin(make_request())
    assert [query["sql"].split()[0] for query in captured] == ["INSERT"]
    assert RequestToken.objects.count() == 2


@pytest.mark.parametrize(
    ("options", "path", "params"),
    [
        ({}, "oauth/authenticate", {}),
        ({"authorize": True}, "oauth/authorize", {}),
        ({"force_login": True}, "oauth/authenticate", {"force_login": "true"}),
        ({"screen_name": "jack"}, "oauth/authenticate", {"screen_name": "jack"}),
    ],
)
def test_begin_authorization_url(
    fake_twitter: FakeTwitter, options: dict[str, Any], path: str, params: dict[str, str]
) -> None:
    begun = flow.begin(make_request(), **options)
    assert begun.authorization_url.startswith(f"https://api.twitter.com/{path}?")
    assert begun.authorization_params == {"oauth_token": begun.oauth_token, **params}


@override_settings(TWITTER_OAUTH_CALLBACK_URL="oob")
def test_begin_pin_flow_always_uses_authorize(fake_twitter: FakeTwitter) -> None:
    begun = flow.begin(make_request(), force_login=True, screen_name="jack")
    assert begun.oob
    assert begun.authorization_url.startswith("https://api.twitter.com/oauth/authorize?")
    assert begun.authorization_params == {
        "oauth_token": begun.oauth_token,
        "force_login": "true",
        "screen_name": "jack",
    }
    assert at_twitter(fake_twitter, begun.oauth_token)["callback"] == "oob"


@override_settings(TWITTER_OAUTH_CALLBACK_URL="https://example.com/back/")
def test_begin_uses_the_configured_callback(fake_twitter: FakeTwitter) -> None:
    begun = flow.begin(make_request())
    assert at_twitter(fake_twitter, begun.oauth_token)["callback"] == ("https://example.com/back/")


@override_settings(TWITTER_OAUTH_ACCESS_TYPE="read")
def test_begin_sends_the_access_type(fake_twitter: FakeTwitter) -> None:
    begun = flow.begin(make_request())
    assert "x_auth_access_type=read" in fake_twitter.calls[0].url
    assert at_twitter(fake_twitter, begun.oauth_token)["access_type"] == "read"


@override_settings(TWITTER_OAUTH_ACCESS_TYPE="write")
def test_begin_with_an_access_type_for_this_flow(fake_twitter: FakeTwitter) -> None:
    begun = flow.begin(make_request(), access_type="read")
    assert "x_auth_access_type=read" in fake_twitter.calls[0].url
    assert at_twitter(fake_twitter, begun.oauth_token)["access_type"] == "read"
    assert RequestToken.objects.get().access_type == "read"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"access_type": "admin"}, "access type"),
        ({"access_type": "READ"}, "access type"),
        ({"screen_name": "jack&force_login=false"}, "screen name"),
        ({"screen_name": "@jack"}, "screen name"),
        ({"screen_name": "j" * 51}, "screen name"),
        ({"screen_name": "jäck"}, "screen name"),
    ],
)
def test_begin_refuses_bad_options(
    fake_twitter: FakeTwitter, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidCallback) as excinfo:
        flow.begin(make_request(), **options)
    assert excinfo.value.status_code == 400
    assert message in str(excinfo.value)
    assert fake_twitter.calls == []
    assert not RequestToken.objects.exists()


def test_begin_pin_refuses_a_bad_access_type(fake_twitter: FakeTwitter) -> None:
    with pytest.raises(InvalidCallback):
        flow.begin_pin(make_user(), access_type="admin")
    assert fake_twitter.calls == []


def test_begin_takes_a_legacy_fifty_character_handle(fake_twitter: FakeTwitter) -> None:
    begun = flow.begin(make_request(), screen_name="a_" * 25)
    assert begun.authorization_params["screen_name"] == "a_" * 25


@override_settings(TWITTER_OAUTH_SIGN_IN=False)
def test_begin_refuses_anonymous_users_when_sign_in_is_off(fake_twitter: FakeTwitter) -> None:
    with pytest.raises(SignInRefused) as excinfo:
        flow.begin(make_request())
    assert excinfo.value.status_code == 403
    assert fake_twitter.calls == []
    assert not RequestToken.objects.exists()
    # Connecting still works.
    flow.begin(make_request(make_user()))
    assert RequestToken.objects.count() == 1


def test_begin_leaves_nothing_when_twitter_fails(fake_twitter: FakeTwitter) -> None:
    fake_twitter.fail_connection("oauth/request_token")
    request = make_request()
    with pytest.raises(TwitterUnavailable):
        flow.begin(request)
    assert not RequestToken.objects.exists()


# -- find_pending ---------------------------------------------------------------------------


@pytest.mark.parametrize("oauth_token", ["", "a" * 256, "abc\x00", "abc\n", "tökén"])
def test_find_pending_refuses_malformed_tokens(oauth_token: str) -> None:
    with pytest.raises(InvalidCallback) as excinfo:
        flow.find_pending(make_request(), oauth_token)
    assert excinfo.value.status_code == 400


def test_find_pending_refuses_unknown_tokens(fake_twitter: FakeTwitter) -> None:
    begun = flow.begin(make_request())
    with pytest.raises(UnknownRequestToken) as excinfo:
        flow.find_pending(make_request(cookies=browser(begun.flow_key)), "a" * 255)
    assert excinfo.value.status_code == 400


def test_find_pending_refuses_another_browser(fake_twitter: FakeTwitter) -> None:
    begun = flow.begin(make_request())
    other = make_request(cookies=browser("another-browsers-key"))
    for request in (make_request(), other):
        with pytest.raises(ForeignRequestToken) as excinfo:
            flow.find_pending(request, begun.oauth_token)
        assert excinfo.value.status_code == 403
    assert RequestToken.objects.count() == 1


def test_find_pending_refuses_another_or_no_user_in_connect_mode(
    fake_twitter: FakeTwitter,
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    begun = flow.begin(make_request(alice))
    cookies = browser(begun.flow_key)
    # Same browser (same flow key), but the user changed or logged out.
    for user in (bob, None):
        with pytest.raises(ForeignRequestToken):
            flow.find_pending(make_request(user, cookies=cookies), begun.oauth_token)
    assert flow.find_pending(make_request(alice, cookies=cookies), begun.oauth_token).user == alice


def test_pin_authorization_url(fake_twitter: FakeTwitter) -> None:
    url = flow.pin_authorization_url("tok", force_login=True, screen_name="jack")
    assert url == (
        "https://api.twitter.com/oauth/authorize?oauth_token=tok&force_login=true&screen_name=jack"
    )
    assert flow.pin_authorization_url("tok", force_login=False, screen_name="") == (
        "https://api.twitter.com/oauth/authorize?oauth_token=tok"
    )
    # Not a handle: left out.
    assert flow.pin_authorization_url("tok", force_login=False, screen_name="j&x=1") == (
        "https://api.twitter.com/oauth/authorize?oauth_token=tok"
    )


# -- complete -------------------------------------------------------------------------------


def started(user: User | None = None, **options: Any) -> tuple[dict[str, str], str]:
    """Begin a flow in a new browser; return its cookies and the request token."""
    begun = flow.begin(make_request(user), **options)
    return browser(begun.flow_key), begun.oauth_token


def test_complete_connects(fake_twitter: FakeTwitter) -> None:
    alice = make_user()
    cookies, oauth_token = started(alice, next_url="/after/")
    verifier = fake_twitter.approve(oauth_token, user_id="42", screen_name="jack")
    completed = flow.complete(make_request(alice, cookies=cookies), oauth_token, verifier)
    token = AccessToken.objects.get()
    assert completed.token == token
    assert (completed.user, completed.created, completed.next_url) == (alice, True, "/after/")
    assert (completed.sign_in, completed.signed_up) == (False, False)
    assert (token.user, token.twitter_user_id, token.screen_name) == (alice, "42", "jack")
    assert (token.access_level, token.app_permission) == ("read-write", "read-write")
    assert fake_twitter.access_token_valid(token.token)
    assert token.token not in repr(completed)
    assert not RequestToken.objects.exists()


@override_settings(TWITTER_OAUTH_APP_PERMISSION="read-write-directmessages")
def test_complete_records_the_app_permission(fake_twitter: FakeTwitter) -> None:
    cookies, oauth_token = started()
    verifier = fake_twitter.approve(oauth_token, access_level="read")
    with override_settings(TWITTER_OAUTH_ALLOW_SIGNUP=True):
        flow.complete(make_request(cookies=cookies), oauth_token, verifier)
    token = AccessToken.objects.get()
    assert (token.access_level, token.app_permission) == ("read", "read-write-directmessages")


def test_complete_signs_in_through_the_backend(fake_twitter: FakeTwitter) -> None:
    alice = make_user()
    make_token(alice, twitter_user_id="42")
    cookies, oauth_token = started()
    verifier = fake_twitter.approve(oauth_token, user_id="42")
    completed = flow.complete(make_request(cookies=cookies), oauth_token, verifier)
    assert (completed.user, completed.created, completed.sign_in) == (alice, False, True)
    assert completed.user.backend == "django_twitter_oauth.backends.TwitterBackend"


@pytest.mark.parametrize(("per_flow", "setting_now"), [("read", None), (None, "read")])
def test_the_granted_level_falls_back_on_the_access_type_asked_at_begin(
    per_flow: str | None, setting_now: str | None
) -> None:
    """Without x-access-level, the level is assumed from what begin asked for: the flow's
    own access type, else the setting as it was then (not as it is at the callback)."""
    alice = make_user()
    with FakeTwitter(send_access_level=False) as fake:
        with override_settings(TWITTER_OAUTH_ACCESS_TYPE=None if per_flow else "read"):
            begun = flow.begin(make_request(alice), access_type=per_flow)
        verifier = fake.approve(begun.oauth_token, user_id="42")
        with override_settings(TWITTER_OAUTH_ACCESS_TYPE=None if setting_now else "write"):
            flow.complete(
                make_request(alice, cookies=browser(begun.flow_key)), begun.oauth_token, verifier
            )
    assert AccessToken.objects.get().access_level == "read"


def test_complete_pin_falls_back_on_its_access_type_for_older_rows() -> None:
    """A pending authorization begun before migration 0003 has no access type: the one
    the command gives is used."""
    alice = make_user()
    with FakeTwitter(send_access_level=False) as fake:
        begun, key = flow.begin_pin(alice)
        RequestToken.objects.update(access_type="")
        pin = fake.approve(begun.oauth_token, user_id="42")
        flow.complete_pin(alice, key, begun.oauth_token, pin, access_type="read")
    assert AccessToken.objects.get().access_level == "read"


V1 = "1.1/account/verify_credentials.json"


@pytest.mark.parametrize(
    ("fake_options", "access_type", "expected_level", "endpoint", "asked"),
    [
        ({"include_user_in_access_token": False}, None, "read-write", "2/users/me", 1),
        ({"include_user_in_access_token": False}, None, "read-write", V1, 1),
        # 2/users/me does not say the access level: not asked for it alone.
        ({"send_access_level": False}, None, "read-write", "2/users/me", 0),
        ({"send_access_level": False}, "read", "read", "2/users/me", 0),
        ({"send_access_level": False}, None, "read-write", V1, 1),
        ({"send_access_level": False}, "read", "read", V1, 1),
        (
            {"include_user_in_access_token": False, "send_access_level": False},
            None,
            "read-write",
            "2/users/me",
            1,
        ),
    ],
)
def test_complete_asks_who_the_token_is_once_when_the_answer_lacks_something(
    fake_options: dict[str, Any],
    access_type: str | None,
    expected_level: str,
    endpoint: str,
    asked: int,
) -> None:
    alice = make_user()
    with (
        override_settings(
            TWITTER_OAUTH_ACCESS_TYPE=access_type, TWITTER_OAUTH_VERIFY_ENDPOINT=endpoint
        ),
        FakeTwitter(**fake_options) as fake,
    ):
        cookies, oauth_token = started(alice)
        verifier = fake.approve(oauth_token, user_id="42", screen_name="jack")
        flow.complete(make_request(alice, cookies=cookies), oauth_token, verifier)
    assert fake.count(endpoint) == asked
    assert sum(fake.counts[name] for name in ("2/users/me", V1)) == asked
    token = AccessToken.objects.get()
    assert (token.twitter_user_id, token.screen_name, token.access_level) == (
        "42",
        "jack",
        expected_level,
    )


def test_complete_skips_identifying_when_the_answer_has_everything(
    fake_twitter: FakeTwitter,
) -> None:
    alice = make_user()
    cookies, oauth_token = started(alice)
    verifier = fake_twitter.approve(oauth_token, access_level="read")
    flow.complete(make_request(alice, cookies=cookies), oauth_token, verifier)
    assert fake_twitter.count("2/users/me") == 0
    assert AccessToken.objects.get().access_level == "read"


def test_complete_fails_cleanly_when_identifying_fails() -> None:
    alice = make_user()
    with FakeTwitter(include_user_in_access_token=False) as fake:
        cookies, oauth_token = started(alice)
        verifier = fake.approve(oauth_token)
        fake.fail("2/users/me", status=503)
        with pytest.raises(TwitterUnavailable):
            flow.complete(make_request(alice, cookies=cookies), oauth_token, verifier)
    assert not AccessToken.objects.exists()
    assert not RequestToken.objects.exists()


@pytest.mark.parametrize("verifier", ["", "v" * 256, "12\x0034"])
def test_complete_refuses_a_malformed_verifier(fake_twitter: FakeTwitter, verifier: str) -> None:
    cookies, oauth_token = started()
    with pytest.raises(InvalidCallback):
        flow.complete(make_request(cookies=cookies), oauth_token, verifier)
    assert fake_twitter.count("oauth/access_token") == 0


def test_complete_consumes_the_request_token_once(fake_twitter: FakeTwitter) -> None:
    alice = make_user()
    cookies, oauth_token = started(alice)
    verifier = fake_twitter.approve(oauth_token)
    flow.complete(make_request(alice, cookies=cookies), oauth_token, verifier)
    with pytest.raises(UnknownRequestToken):
        flow.complete(make_request(alice, cookies=cookies), oauth_token, verifier)
    assert fake_twitter.count("oauth/access_token") == 1


def test_complete_refuses_a_request_token_deleted_meanwhile(
    fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another callback with the same token claimed it just before this one."""
    cookies, oauth_token = started()
    verifier = fake_twitter.approve(oauth_token)
    claim = RequestTokenQuerySet.claim

    def claimed_elsewhere_first(self: RequestTokenQuerySet, *args: Any) -> RequestToken | None:
        RequestToken.objects.all().delete()
        return claim(self, *args)

    monkeypatch.setattr(RequestTokenQuerySet, "claim", claimed_elsewhere_first)
    with pytest.raises(UnknownRequestToken):
        flow.complete(make_request(cookies=cookies), oauth_token, verifier)
    assert fake_twitter.count("oauth/access_token") == 0


def test_complete_refuses_a_request_token_another_claim_is_taking(
    fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim removed nothing, yet the look-up that says why finds the row: another
    callback's claim of it is under way (it has not committed). Refused as used."""
    cookies, oauth_token = started()
    verifier = fake_twitter.approve(oauth_token)
    monkeypatch.setattr(RequestTokenQuerySet, "claim", lambda self, *args: None)
    with pytest.raises(UnknownRequestToken):
        flow.complete(make_request(cookies=cookies), oauth_token, verifier)
    assert RequestToken.objects.count() == 1
    assert fake_twitter.count("oauth/access_token") == 0


@override_settings(TWITTER_OAUTH_REQUEST_TOKEN_TTL=60)
def test_complete_refuses_an_expired_request_token(fake_twitter: FakeTwitter) -> None:
    cookies, oauth_token = started()
    verifier = fake_twitter.approve(oauth_token)
    RequestToken.objects.update(created_at=timezone.now() - dt.timedelta(seconds=61))
    with pytest.raises(ExpiredRequestToken) as excinfo:
        flow.complete(make_request(cookies=cookies), oauth_token, verifier)
    assert excinfo.value.status_code == 410
    assert not RequestToken.objects.exists()
    assert fake_twitter.count("oauth/access_token") == 0


def test_complete_refuses_sign_in_switched_off_since_begin(fake_twitter: FakeTwitter) -> None:
    make_token(twitter_user_id="42")
    cookies, oauth_token = started()
    verifier = fake_twitter.approve(oauth_token, user_id="42")
    with override_settings(TWITTER_OAUTH_SIGN_IN=False), pytest.raises(SignInRefused):
        flow.complete(make_request(cookies=cookies), oauth_token, verifier)
    assert fake_twitter.count("oauth/access_token") == 0
    assert not RequestToken.objects.exists()


def test_complete_refuses_an_account_linked_to_another_user(fake_twitter: FakeTwitter) -> None:
    bob_token = make_token(make_user("bob"), twitter_user_id="42")
    alice = make_user("alice")
    cookies, oauth_token = started(alice)
    verifier = fake_twitter.approve(oauth_token, user_id="42")
    with pytest.raises(AccountConflict) as excinfo:
        flow.complete(make_request(alice, cookies=cookies), oauth_token, verifier)
    assert excinfo.value.status_code == 409
    assert AccessToken.objects.get() == bob_token
    assert AccessToken.objects.get().token == bob_token.token


def test_complete_retries_once_when_the_row_appears_meanwhile(
    fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two callbacks for the same Twitter account (different request tokens) at once: the
    one that loses the INSERT race stores again, and updates the row the other created."""
    alice = make_user()
    cookies, oauth_token = started(alice)
    verifier = fake_twitter.approve(oauth_token, user_id="42", screen_name="jack")
    store = flow._store
    attempts: list[dict[str, Any]] = []

    def lose_the_insert_race(*args: Any, **kwargs: Any) -> flow.Completed:
        attempts.append(kwargs)
        if len(attempts) == 1:
            make_token(alice, twitter_user_id="42", screen_name="other")  # the other callback
            raise IntegrityError("duplicate key value violates unique constraint")
        return store(*args, **kwargs)

    monkeypatch.setattr(flow, "_store", lose_the_insert_race)
    completed = flow.complete(make_request(alice, cookies=cookies), oauth_token, verifier)
    assert len(attempts) == 2
    assert attempts[0] == attempts[1]
    token = AccessToken.objects.get()
    assert (completed.token, completed.created) == (token, False)
    assert token.screen_name == "jack"
    assert fake_twitter.access_token_valid(token.token)


def test_complete_refuses_an_inactive_user(fake_twitter: FakeTwitter) -> None:
    token = make_token(make_user(is_active=False), twitter_user_id="42")
    cookies, oauth_token = started()
    verifier = fake_twitter.approve(oauth_token, user_id="42", access_level="read")
    with pytest.raises(SignInRefused, match="disabled"):
        flow.complete(make_request(cookies=cookies), oauth_token, verifier)
    assert AccessToken.objects.get().access_level == token.access_level


@override_settings(TWITTER_OAUTH_ALLOW_SIGNUP=True)
def test_complete_leaves_nothing_when_no_backend_signs_in(fake_twitter: FakeTwitter) -> None:
    cookies, oauth_token = started()
    verifier = fake_twitter.approve(oauth_token, screen_name="jack")
    with (
        override_settings(AUTHENTICATION_BACKENDS=["django.contrib.auth.backends.ModelBackend"]),
        pytest.raises(SignInRefused, match="not available"),
    ):
        flow.complete(make_request(cookies=cookies), oauth_token, verifier)
    assert not AccessToken.objects.exists()
    assert not get_user_model().objects.exists()


# -- sign-up --------------------------------------------------------------------------------


@makes_usernames
@override_settings(TWITTER_OAUTH_ALLOW_SIGNUP=True)
@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ([], "jack"),
        (["jack"], "jack-2"),
        (["JACK"], "jack-2"),
        (["jack", "jack-2", "Jack-3"], "jack-4"),
        (["jackson", "jack_"], "jack"),
    ],
)
def test_sign_up_picks_a_unique_username(
    fake_twitter: FakeTwitter, existing: list[str], expected: str
) -> None:
    for username in existing:
        make_user(username)
    cookies, oauth_token = started()
    verifier = fake_twitter.approve(oauth_token, screen_name="jack")
    completed = flow.complete(make_request(cookies=cookies), oauth_token, verifier)
    assert completed.signed_up
    assert completed.user.get_username() == expected
    assert not completed.user.has_usable_password()
    assert get_user_model().objects.count() == len(existing) + 1


@makes_usernames
@override_settings(TWITTER_OAUTH_ALLOW_SIGNUP=True)
def test_sign_up_fits_the_username_field(
    fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD), "max_length", 5
    )
    make_user("jacks")
    cookies, oauth_token = started()
    verifier = fake_twitter.approve(oauth_token, screen_name="jackson")
    completed = flow.complete(make_request(cookies=cookies), oauth_token, verifier)
    assert completed.user.get_username() == "jac-2"


def test_sign_up_is_off_by_default(fake_twitter: FakeTwitter) -> None:
    cookies, oauth_token = started()
    verifier = fake_twitter.approve(oauth_token, screen_name="jack")
    with pytest.raises(SignInRefused, match="No account"):
        flow.complete(make_request(cookies=cookies), oauth_token, verifier)
    assert not get_user_model().objects.exists()
    assert not AccessToken.objects.exists()


# -- deny -----------------------------------------------------------------------------------


def test_deny_forgets_this_browsers_pending_authorization(fake_twitter: FakeTwitter) -> None:
    cookies, oauth_token = started(next_url="/after/")
    _, other_token = started()
    calls = len(fake_twitter.calls)
    assert flow.deny(make_request(cookies=cookies), other_token) == ""
    assert flow.deny(make_request(), oauth_token) == ""
    assert flow.deny(make_request(cookies=cookies), "a\x00") == ""
    assert flow.deny(make_request(cookies=cookies), "") == ""
    assert RequestToken.objects.count() == 2
    assert flow.deny(make_request(cookies=cookies), oauth_token) == "/after/"
    assert list(RequestToken.objects.values_list("token_hash", flat=True)) == [
        hash_token(other_token)
    ]
    assert len(fake_twitter.calls) == calls


# -- disconnect -----------------------------------------------------------------------------


@pytest.mark.parametrize("twitter_user_id", ["42\x00", "4" * 256])
def test_disconnect_refuses_malformed_ids(twitter_user_id: str) -> None:
    alice = make_user()
    make_token(alice, twitter_user_id="42")
    with pytest.raises(UnknownAccount) as excinfo:
        flow.disconnect(make_request(alice), twitter_user_id)
    assert excinfo.value.status_code == 404
    assert AccessToken.objects.count() == 1


def test_disconnect_without_an_id_takes_the_only_account(fake_twitter: FakeTwitter) -> None:
    alice = make_user()
    token = make_token(alice, twitter_user_id="42")
    make_token(make_user("bob"), twitter_user_id="43", token="bobs-token", secret="bobs-secret")
    fake_twitter.add_access_token(TOKEN, SECRET, user_id="42")
    disconnected = flow.disconnect(make_request(alice), "")
    assert (disconnected.token.pk, disconnected.told_twitter) == (token.pk, True)
    assert list(AccessToken.objects.values_list("twitter_user_id", flat=True)) == ["43"]


def test_disconnect_without_an_id_asks_which_of_several(fake_twitter: FakeTwitter) -> None:
    alice = make_user()
    make_token(alice, twitter_user_id="42")
    make_token(alice, twitter_user_id="43", token="other-token", secret="other-secret")
    with pytest.raises(AmbiguousAccount) as excinfo:
        flow.disconnect(make_request(alice), "")
    assert excinfo.value.status_code == 400
    assert "choose" in str(excinfo.value)
    assert AccessToken.objects.count() == 2
    assert fake_twitter.calls == []


def test_disconnect_without_an_id_and_no_account() -> None:
    with pytest.raises(UnknownAccount):
        flow.disconnect(make_request(make_user()), "")


def test_disconnect_needs_a_signed_in_user() -> None:
    make_token(twitter_user_id="42")
    with pytest.raises(UnknownAccount):
        flow.disconnect(make_request(), "42")
    assert AccessToken.objects.count() == 1


# -- found by tests/test_fuzz_views.py ------------------------------------------------------


def test_safe_next_counts_the_length_percent_encoded() -> None:
    # "中" is three bytes of UTF-8, nine characters percent-encoded.
    longest = "/" + "中" * ((flow.MAX_NEXT_URL - 1) // 9)
    assert flow.safe_next(make_request(), longest) == longest
    assert flow.safe_next(make_request(), longest + "中") == ""


# -- database router ------------------------------------------------------------------------


class RecordingRouter:
    """Sends every write where the test settings do (the app's tables to "tokens" in
    tests/settings_second_db.py, else "default"), noting which models were asked about."""

    asked: list[str] = []

    def db_for_write(self, model: Any, **hints: Any) -> str:
        self.asked.append(model._meta.model_name)
        return TokensRouter().db_for_write(model) if TOKENS in settings.DATABASES else "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # a token's user may be in the other database


@override_settings(DATABASE_ROUTERS=["tests.test_flow.RecordingRouter"])
def test_the_flow_asks_the_router(
    fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Transactions, the lock, reads of pending authorizations and the on-commit hooks go
    where the router puts the app's rows (another engineer's suite runs them on a
    second database)."""
    cookies, oauth_token = started(make_user())
    app = flow.database()
    assert app == (TOKENS if TOKENS in settings.DATABASES else "default")
    RecordingRouter.asked = []
    usings: list[tuple[str, Any]] = []
    atomic, send_after_commit = transaction.atomic, signals.send_after_commit

    def recording_atomic(*args: Any, **kwargs: Any) -> Any:
        usings.append(("atomic", kwargs.get("using")))
        return atomic(*args, **kwargs)

    def recording_send(signal: Any, **kwargs: Any) -> None:
        usings.append(("on_commit", kwargs.get("using")))
        send_after_commit(signal, **kwargs)

    monkeypatch.setattr(transaction, "atomic", recording_atomic)
    monkeypatch.setattr(signals, "send_after_commit", recording_send)
    verifier = fake_twitter.approve(oauth_token, user_id="42")
    user = get_user_model()._default_manager.get()
    flow.complete(make_request(user, cookies=cookies), oauth_token, verifier)
    assert {"accesstoken", "requesttoken"} <= set(RecordingRouter.asked)
    # With the users apart, their database's transaction too (nothing of a sign-up kept
    # without its token).
    users = [("atomic", "default")] if users_apart() else []
    assert usings == [("atomic", app), *users, ("on_commit", app)]


# -- the flow cookie's path ------------------------------------------------------------------

# A URLconf (this module, through ROOT_URLCONF) mounting the app elsewhere.
urlpatterns = [path("auth/x/", include("django_twitter_oauth.urls"))]


def test_cookie_path_follows_the_urlconf_and_the_script_prefix() -> None:
    # Worked out once per resolver and script prefix, yet never stale: another
    # ROOT_URLCONF or a request under another script prefix gets its own path.
    assert flow.cookie_path() == "/twitter/"
    with override_settings(ROOT_URLCONF=__name__):
        assert flow.cookie_path() == "/auth/x/"
    set_script_prefix("/site/")
    try:
        assert flow.cookie_path() == "/site/twitter/"
    finally:
        set_script_prefix("/")
    assert flow.cookie_path() == "/twitter/"
