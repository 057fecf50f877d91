"""The app's signals: sent once, after the transaction commits, with the documented
arguments, and not at all when the transaction rolls back. (authorization_failed is
sent by the views' error pages: see test_views.py.)"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.db import transaction
from django.dispatch import Signal

from django_twitter_oauth import flow, signals
from django_twitter_oauth.models import AccessToken, RequestToken
from django_twitter_oauth.testing import FakeTwitter
from tests.utils import (
    SECRET,
    SIGNAL_NAMES,
    TOKEN,
    SignalRecorder,
    browser,
    make_request,
    make_token,
    make_user,
    tokens_alias,
)

pytestmark = pytest.mark.django_db

Capture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


class Rollback(Exception):
    pass


def test_the_five_signals() -> None:
    for name in SIGNAL_NAMES:
        assert isinstance(getattr(signals, name), Signal)
    assert {name for name in vars(signals) if isinstance(getattr(signals, name), Signal)} == set(
        SIGNAL_NAMES
    )


def begun(fake: FakeTwitter, user: Any = None) -> tuple[dict[str, str], str, str]:
    started = flow.begin(make_request(user))
    oauth_token = started.oauth_token
    return (
        browser(started.flow_key),
        oauth_token,
        fake.approve(oauth_token, user_id="42", screen_name="jack"),
    )


@pytest.mark.parametrize("created", [True, False])
def test_authorization_completed(
    fake_twitter: FakeTwitter, django_capture_on_commit_callbacks: Capture, created: bool
) -> None:
    alice = make_user()
    if not created:
        make_token(alice, twitter_user_id="42")
    cookies, oauth_token, verifier = begun(fake_twitter, alice)
    request = make_request(alice, cookies=cookies)
    with SignalRecorder() as recorder, django_capture_on_commit_callbacks(execute=True):
        flow.complete(request, oauth_token, verifier)
        assert recorder.sent == []  # not before the commit
    sent = recorder.only("authorization_completed")
    assert sent == {
        "sender": AccessToken,
        "request": request,
        "user": alice,
        "token": AccessToken.objects.get(),
        "created": created,
        "email": None,
    }


def test_authorization_completed_not_sent_on_rollback(
    fake_twitter: FakeTwitter, django_capture_on_commit_callbacks: Capture
) -> None:
    alice = make_user()
    cookies, oauth_token, verifier = begun(fake_twitter, alice)
    with (
        SignalRecorder() as recorder,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(Rollback),
        transaction.atomic(using=tokens_alias()),
    ):
        flow.complete(make_request(alice, cookies=cookies), oauth_token, verifier)
        raise Rollback
    assert callbacks == []
    assert recorder.sent == []
    assert not AccessToken.objects.exists()


def test_authorization_denied(
    fake_twitter: FakeTwitter, django_capture_on_commit_callbacks: Capture
) -> None:
    cookies, oauth_token, _ = begun(fake_twitter)
    request = make_request(cookies=cookies)
    with SignalRecorder() as recorder, django_capture_on_commit_callbacks(execute=True):
        flow.deny(request, oauth_token)
        assert recorder.sent == []
    assert recorder.only("authorization_denied") == {"sender": RequestToken, "request": request}


def test_authorization_denied_not_sent_on_rollback(
    fake_twitter: FakeTwitter, django_capture_on_commit_callbacks: Capture
) -> None:
    cookies, oauth_token, _ = begun(fake_twitter)
    with (
        SignalRecorder() as recorder,
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(Rollback),
        transaction.atomic(using=tokens_alias()),
    ):
        flow.deny(make_request(cookies=cookies), oauth_token)
        raise Rollback
    assert recorder.sent == []
    assert RequestToken.objects.count() == 1


@pytest.mark.parametrize(
    ("twitter_answers", "name", "reason"),
    [
        ("ok", "token_revoked", "disconnected by the user"),
        ("invalid", "token_revoked", "disconnected by the user"),
        ("unreachable", "token_discarded", "disconnected by the user; Twitter could not be told"),
    ],
)
def test_disconnect_signals(
    fake_twitter: FakeTwitter,
    django_capture_on_commit_callbacks: Capture,
    twitter_answers: str,
    name: str,
    reason: str,
) -> None:
    alice = make_user()
    token = make_token(alice)
    fake_twitter.add_access_token(TOKEN, SECRET, user_id=token.twitter_user_id)
    if twitter_answers == "invalid":
        fake_twitter.invalidate(TOKEN)
    elif twitter_answers == "unreachable":
        fake_twitter.fail_connection("1.1/oauth/invalidate_token")
    with SignalRecorder() as recorder, django_capture_on_commit_callbacks(execute=True):
        flow.disconnect(make_request(alice), token.twitter_user_id)
        assert recorder.sent == []
    sent = recorder.only(name)
    assert sent == {
        "sender": AccessToken,
        "token": token,
        "user": alice,
        "revoked_by": alice,
        "reason": reason,
    }
    # The instance as it was: still readable after the deletion.
    assert (sent["token"].pk, sent["token"].screen_name) == (token.pk, token.screen_name)
    assert not AccessToken.objects.exists()


def test_disconnect_signal_not_sent_on_rollback(
    fake_twitter: FakeTwitter, django_capture_on_commit_callbacks: Capture
) -> None:
    alice = make_user()
    token = make_token(alice)
    fake_twitter.add_access_token(TOKEN, SECRET, user_id=token.twitter_user_id)
    with (
        SignalRecorder() as recorder,
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(Rollback),
        transaction.atomic(using=tokens_alias()),
    ):
        flow.disconnect(make_request(alice), token.twitter_user_id)
        raise Rollback
    assert recorder.sent == []
    assert AccessToken.objects.get() == token


# -- robust receivers -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sign-in", "connect"])
def test_a_failing_receiver_never_turns_an_authorization_into_an_error(
    fake_twitter: FakeTwitter, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    """A site's receiver that raises: the sign-in still redirects, the token is stored,
    the other receivers still run, and the failure is an ERROR log line."""
    from django.test import Client, TestCase

    alice = make_user()
    client = Client()
    if mode == "connect":
        client.force_login(alice)
    else:
        make_token(alice, twitter_user_id="42")

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("a bug in the site's receiver")

    signals.authorization_completed.connect(broken)
    try:
        response = client.post("/twitter/begin/")
        oauth_token = response["Location"].split("oauth_token=")[1]
        callback = fake_twitter.authorize(oauth_token, user_id="42", screen_name="jack")
        commits = TestCase.captureOnCommitCallbacks(using=tokens_alias(), execute=True)
        with SignalRecorder() as recorder, commits:
            response = client.get(callback)
    finally:
        signals.authorization_completed.disconnect(broken)
    assert (response.status_code, response["Location"]) == (302, "/profile/")
    assert AccessToken.objects.get().user == alice
    assert recorder.names == ["authorization_completed"]  # the others still ran
    [record] = [r for r in caplog.records if r.name == "django_twitter_oauth.signals"]
    assert record.levelname == "ERROR"
    assert "broken" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError


def test_the_pin_command_sends_request_none(
    fake_twitter: FakeTwitter, django_capture_on_commit_callbacks: Capture
) -> None:
    alice = make_user()
    begun, key = flow.begin_pin(alice)
    pin = fake_twitter.approve(begun.oauth_token, user_id="42")
    with SignalRecorder() as recorder, django_capture_on_commit_callbacks(execute=True):
        flow.complete_pin(alice, key, begun.oauth_token, pin)
    assert recorder.only("authorization_completed")["request"] is None
