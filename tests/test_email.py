"""TWITTER_OAUTH_REQUEST_EMAIL (issue 15 item 4): the address Twitter gives is handed to
the sign-up hook and to ``authorization_completed``, fills a new user's email field, and
is never written over a user's own address, stored by this app, or logged. Sign-up on
every tier, with and without email, is in tests/test_tiers.py."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings

from django_twitter_oauth import flow
from django_twitter_oauth.conf import VERIFY_V1, VERIFY_V2
from django_twitter_oauth.models import AccessToken, TokenEvent
from django_twitter_oauth.testing import FakeTwitter
from tests.utils import SignalRecorder, make_token, make_user

pytestmark = pytest.mark.django_db

EMAIL = "jack@example.com"


@pytest.fixture
def request_email(settings: Settings) -> Settings:
    settings.TWITTER_OAUTH_REQUEST_EMAIL = True
    return settings


def come_back(client: Client, fake: FakeTwitter, capture: DjangoCaptureOnCommitCallbacks) -> None:
    begun = client.post(reverse("twitter_oauth:begin"))
    assert begun.status_code == 302
    oauth_token = begun["Location"].split("oauth_token=")[1].split("&")[0]
    with capture(execute=True):
        response = client.get(fake.authorize(oauth_token, user_id="42", email=EMAIL))
    assert response.status_code == 302, response.content.decode()


@pytest.mark.parametrize("mode", ["sign-in", "connect"])
def test_a_users_own_address_is_never_overwritten(
    mode: str,
    client: Client,
    request_email: Settings,
    sent: SignalRecorder,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    alice = make_user("alice")
    email_field = alice.get_email_field_name()
    own = getattr(alice, email_field)
    make_token(alice, twitter_user_id="42")
    if mode == "connect":
        client.force_login(alice)
    with FakeTwitter(email_permission=True) as fake:
        come_back(client, fake, django_capture_on_commit_callbacks)
    assert fake.count(VERIFY_V1) == 1  # asked once, even with a full access-token answer
    assert client.session[SESSION_KEY] == str(alice.pk)
    alice.refresh_from_db()
    assert getattr(alice, email_field) == own
    completed = sent.only("authorization_completed")
    assert (completed["user"], completed["email"]) == (alice, EMAIL)
    assert EMAIL not in caplog.text
    assert all(EMAIL not in str(event) for event in TokenEvent.objects.values())


def test_the_app_permission_withholds_the_email(
    client: Client,
    request_email: Settings,
    sent: SignalRecorder,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without the app's "Request email from users" permission Twitter answers without
    an email: the flow still succeeds, and a log line says why (no address in it)."""
    caplog.set_level("INFO")
    alice = make_user("alice")
    make_token(alice, twitter_user_id="42")
    with FakeTwitter(email_permission=False) as fake:
        come_back(client, fake, django_capture_on_commit_callbacks)
    assert (fake.count(VERIFY_V1), fake.count(VERIFY_V2)) == (1, 0)
    assert sent.only("authorization_completed")["email"] is None
    assert 'the app lacks the "Request email from users" permission' in caplog.text
    assert EMAIL not in caplog.text
    assert AccessToken.objects.get().user == alice


def test_the_pin_flow_hands_the_email_over_too(
    request_email: Settings,
    sent: SignalRecorder,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    alice = make_user("alice")
    with FakeTwitter(email_permission=True) as fake:
        begun, key = flow.begin_pin(alice)
        pin = fake.approve(begun.oauth_token, user_id="42", email=EMAIL)
        with django_capture_on_commit_callbacks(execute=True):
            flow.complete_pin(alice, key, begun.oauth_token, pin)
    completed = sent.only("authorization_completed")
    assert (completed["request"], completed["email"]) == (None, EMAIL)


def test_no_email_is_asked_for_when_off(
    client: Client,
    sent: SignalRecorder,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    alice = make_user("alice")
    make_token(alice, twitter_user_id="42")
    with FakeTwitter(email_permission=True) as fake:
        come_back(client, fake, django_capture_on_commit_callbacks)
    assert (fake.count(VERIFY_V1), fake.count(VERIFY_V2)) == (0, 0)
    assert sent.only("authorization_completed")["email"] is None
