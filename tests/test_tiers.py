"""X's access tiers (issue 15, "Done when"): the three callers that ask Twitter who a token
belongs to -- the flow's fallback (and its email), the race check (``flow._honoured``)
and the admin's verify action (``revocation.verify``) -- on every tier of the fake, with
TWITTER_OAUTH_VERIFY_ENDPOINT at its default (``2/users/me``) and at v1.1.

On X's Free tier v1.1 ``verify_credentials`` answers 403 with code 453: each caller then
gets an AccessTierError, handled as the site's configuration (the "misconfigured" page
or an admin failure naming the endpoint), never as the user's fault or an invalid token.
"""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings

from django_twitter_oauth import flow
from django_twitter_oauth.client import TwitterClient
from django_twitter_oauth.conf import VERIFY_V1, VERIFY_V2
from django_twitter_oauth.exceptions import AccessTierError
from django_twitter_oauth.models import AccessToken, RequestToken, TokenEvent
from django_twitter_oauth.testing import FakeTwitter
from django_twitter_oauth.testing.provider import TIERS
from tests.utils import SignalRecorder, held, make_superuser, make_token, make_user

pytestmark = pytest.mark.django_db

ENDPOINTS = (VERIFY_V2, VERIFY_V1)
EMAIL = "jack@example.com"
USER_ID, SCREEN_NAME = "42", "jack"
MISCONFIGURED = "This site&#x27;s Twitter app settings need attention."
NOT_ACCEPTED = "was not accepted"
TIER_HINT = f"The app&#x27;s X API access tier does not include {VERIFY_V1}"


def tier_refuses(tier: str, endpoint: str) -> bool:
    """Whether the tier answers the endpoint with 453."""
    return tier == "free" and endpoint == VERIFY_V1


def email_is_username() -> bool:
    """The user model signs in by email (tests/settings_custom_user.py): a sign-up
    without an email address is refused."""
    user_model: Any = get_user_model()
    return bool(user_model.get_email_field_name() == user_model.USERNAME_FIELD)


def oauth_token_of(begun: Any) -> str:
    assert begun.status_code == 302, begun
    query = urllib.parse.urlsplit(begun["Location"]).query
    return str(urllib.parse.parse_qs(query)["oauth_token"][0])


def authorize(client: Client, fake: FakeTwitter, capture: Any) -> Any:
    """Begin, approve at Twitter (a user with an email address), come back."""
    oauth_token = oauth_token_of(client.post(reverse("twitter_oauth:begin")))
    url = fake.authorize(oauth_token, user_id=USER_ID, screen_name=SCREEN_NAME, email=EMAIL)
    with capture(execute=True):
        return client.get(url)


@pytest.fixture
def signup(settings: Settings) -> Settings:
    settings.TWITTER_OAUTH_ALLOW_SIGNUP = True
    return settings


# -- the flow: sign-up on every tier, with and without email ------------------------------


def _cells() -> Iterator[Any]:
    for tier in TIERS:
        for endpoint in ENDPOINTS:
            for request_email in (False, True):
                for partial in (False, True):
                    # The one cell that meets 453: test_v1_on_free_fallback_is_misconfigured.
                    if tier_refuses(tier, endpoint) and partial and not request_email:
                        continue
                    yield pytest.param(
                        tier,
                        endpoint,
                        request_email,
                        partial,
                        id=f"{tier}-{endpoint}-{'email' if request_email else 'no email'}-"
                        f"{'no user in answer' if partial else 'full answer'}",
                    )


@pytest.mark.parametrize(("tier", "endpoint", "request_email", "partial"), list(_cells()))
def test_sign_up_completes_on_every_tier(
    tier: str,
    endpoint: str,
    request_email: bool,
    partial: bool,
    client: Client,
    signup: Settings,
    sent: SignalRecorder,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    signup.TWITTER_OAUTH_VERIFY_ENDPOINT = endpoint
    signup.TWITTER_OAUTH_REQUEST_EMAIL = request_email
    caplog.set_level("DEBUG")
    with FakeTwitter(
        tier=tier, email_permission=True, include_user_in_access_token=not partial
    ) as fake:
        response = authorize(client, fake, django_capture_on_commit_callbacks)
    # Free withholds the email (v1.1 is not in the tier): the identity comes from v2.
    email = EMAIL if request_email and tier != "free" else None
    # One identifying call per authorization, and only when needed.
    if request_email:
        asked = {VERIFY_V1: 1, VERIFY_V2: 1 if tier == "free" else 0}
    else:
        asked = {endpoint: int(partial), ({*ENDPOINTS} - {endpoint}).pop(): 0}
    assert {name: fake.count(name) for name in ENDPOINTS} == asked
    assert response.status_code == 302, response.content.decode()
    token = AccessToken.objects.get()
    assert (token.twitter_user_id, token.screen_name) == (USER_ID, SCREEN_NAME)
    user = token.user
    assert client.session[SESSION_KEY] == str(user.pk)
    # Without an email, the custom-user shape's sign-up hook (tests/custom_user/signup.py)
    # gives an email user model an address of its own on the reserved .invalid domain.
    kept = email or (f"{USER_ID}@twitter.invalid" if email_is_username() else "")
    assert getattr(user, user.get_email_field_name()) == kept
    assert sent.only("authorization_completed")["email"] == email
    # The address is handed over, never kept by this app nor logged.
    for event in TokenEvent.objects.values():
        assert EMAIL not in str(event)
    assert EMAIL not in caplog.text
    if request_email and tier == "free":
        assert "No email from Twitter: the app's access tier does not include" in caplog.text


def test_v1_on_free_fallback_is_misconfigured(
    client: Client,
    sent: SignalRecorder,
    settings: Settings,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    """The flow's fallback (the access-token answer lacks the user) with the v1.1
    endpoint on Free: the staff page naming the endpoint, not the user's fault."""
    settings.TWITTER_OAUTH_VERIFY_ENDPOINT = VERIFY_V1
    staff = make_user("staff", is_staff=True)
    client.force_login(staff)
    with FakeTwitter(tier="free", include_user_in_access_token=False) as fake:
        response = authorize(client, fake, django_capture_on_commit_callbacks)
    assert response.status_code == 502
    page = response.content.decode()
    assert MISCONFIGURED in page
    assert TIER_HINT in page  # the staff hint
    assert f"TWITTER_OAUTH_VERIFY_ENDPOINT = &quot;{VERIFY_V2}&quot;" in page
    assert NOT_ACCEPTED not in page
    assert isinstance(sent.only("authorization_failed")["error"], AccessTierError)
    assert not AccessToken.objects.exists()
    assert not RequestToken.objects.exists()


def test_the_tier_hint_is_for_staff_only(
    client: Client,
    signup: Settings,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    signup.TWITTER_OAUTH_VERIFY_ENDPOINT = VERIFY_V1
    with FakeTwitter(tier="free", include_user_in_access_token=False) as fake:
        response = authorize(client, fake, django_capture_on_commit_callbacks)
    assert response.status_code == 502
    assert response.context["staff_hint"].startswith(html.unescape(TIER_HINT))
    page = response.content.decode()
    assert MISCONFIGURED in page
    assert VERIFY_V1 not in page
    assert not get_user_model().objects.exists()


# -- the race check: a revocation of the account finished while Twitter was asked ---------


@pytest.fixture
def revoked_meanwhile(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeTwitter]:
    """A revocation of the account finishes while the flow exchanges the verifier (its
    REVOKED event is newer than the exchange): the flow must ask Twitter whether the
    token it got is still honoured. Put a FakeTwitter under ``"invalidate"`` and that
    revocation also invalidated the very token handed out."""
    options: dict[str, FakeTwitter] = {}
    fetch_access_token = TwitterClient.fetch_access_token

    def exchange(self: TwitterClient, *args: Any, **kwargs: Any) -> Any:
        result = fetch_access_token(self, *args, **kwargs)
        TokenEvent.objects.create(
            twitter_user_id=USER_ID, action=TokenEvent.Action.REVOKED, reason="bulk"
        )
        if "invalidate" in options:
            options["invalidate"].invalidate(result.token)
        return result

    monkeypatch.setattr(TwitterClient, "fetch_access_token", exchange)
    return options


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("tier", TIERS)
def test_race_check_on_every_tier(
    tier: str,
    endpoint: str,
    client: Client,
    settings: Settings,
    revoked_meanwhile: dict[str, FakeTwitter],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    settings.TWITTER_OAUTH_VERIFY_ENDPOINT = endpoint
    staff = make_user("staff", is_staff=True)
    client.force_login(staff)
    with FakeTwitter(tier=tier) as fake:
        response = authorize(client, fake, django_capture_on_commit_callbacks)
    assert fake.count(endpoint) == 1  # the race check asked
    page = response.content.decode()
    if tier_refuses(tier, endpoint):
        # Cannot tell: nothing is stored, the token is not claimed revoked, and the page
        # is the site's configuration (as in the fallback).
        assert response.status_code == 502
        assert MISCONFIGURED in page
        assert TIER_HINT in page
        assert html.escape(str(flow.REVOKED_MEANWHILE), quote=True) not in page
        assert not AccessToken.objects.exists()
    else:
        assert response.status_code == 302
        assert AccessToken.objects.get().user == staff


@pytest.mark.parametrize("tier", TIERS)
def test_race_check_through_v2_finds_a_revoked_token_on_every_tier(
    tier: str,
    client: Client,
    revoked_meanwhile: dict[str, FakeTwitter],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    client.force_login(make_user("alice"))
    with FakeTwitter(tier=tier) as fake:
        revoked_meanwhile["invalidate"] = fake
        response = authorize(client, fake, django_capture_on_commit_callbacks)
    assert fake.count(VERIFY_V2) == 1
    assert response.status_code == 400
    assert html.escape(str(flow.REVOKED_MEANWHILE), quote=True) in response.content.decode()
    assert not AccessToken.objects.exists()


def test_race_check_skipped_for_an_account_row_untouched_since_twitter_was_asked(
    client: Client,
    revoked_meanwhile: dict[str, FakeTwitter],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    """A sign-in of a linked account whose row nobody wrote while Twitter was asked: a
    revocation deletes the row it revoked, so a revocation recorded meanwhile was not of
    this row's token, and Twitter is not asked again. (The row's save in the same
    transaction must not make it look rewritten.)"""
    alice = make_user("alice")
    make_token(alice, twitter_user_id=USER_ID, screen_name=SCREEN_NAME)
    with FakeTwitter() as fake:
        response = authorize(client, fake, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert fake.count(VERIFY_V2) == fake.count(VERIFY_V1) == 0
    assert client.session[SESSION_KEY] == str(alice.pk)
    assert TokenEvent.objects.filter(action=TokenEvent.Action.REAUTHORIZED).count() == 1


# -- the admin's verify action ------------------------------------------------------------


def verify_in_admin(client: Client, tokens: list[AccessToken]) -> list[tuple[str, str]]:
    client.force_login(make_superuser())
    data = {"action": "verify_selected", "_selected_action": [t.pk for t in tokens], "index": "0"}
    response = client.post(reverse("admin:twitter_oauth_accesstoken_changelist"), data)
    assert response.status_code == 302
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("tier", TIERS)
def test_admin_verify_on_every_tier(
    tier: str, endpoint: str, client: Client, settings: Settings
) -> None:
    settings.TWITTER_OAUTH_VERIFY_ENDPOINT = endpoint
    with FakeTwitter(tier=tier) as fake:
        tokens = held(fake, 2)
        AccessToken.objects.update(screen_name="old")
        messages = verify_in_admin(client, tokens)
    assert fake.count(endpoint) == 2
    rows = AccessToken.objects.order_by("pk")
    if tier_refuses(tier, endpoint):
        assert [level for level, _ in messages] == ["error", "error"]
        for (_, text), token in zip(messages, tokens, strict=True):
            assert text.startswith(f"@old could not be verified: {html.unescape(TIER_HINT)}")
            assert token.screen_name in ("user1", "user2")
        assert not any("invalid" in text for _, text in messages)
        assert [row.verified_at for row in rows] == [None, None]
    else:
        assert messages == [("success", "2 tokens verified.")]
        assert [row.screen_name for row in rows] == ["user1", "user2"]
        assert all(row.verified_at is not None for row in rows)
    assert not TokenEvent.objects.exists()  # nothing found invalid


def test_admin_verify_reports_free_rate_limit_as_try_later(
    client: Client, settings: Settings
) -> None:
    """2/users/me on Free: 25 calls per user per 24 hours, counted by the fake. The 26th
    is a 429 whose reset is hours away: reported as rate-limited, never as invalid."""
    with FakeTwitter(tier="free") as fake:
        [token] = held(fake, 1)
        twitter = TwitterClient()
        for _ in range(25):
            twitter.identify(token.token, token.secret)
        messages = verify_in_admin(client, [token])
    assert fake.count(VERIFY_V2) == 26
    assert messages == [
        (
            "error",
            "@user1 could not be verified: rate-limited by Twitter, not checked; try again later",
        )
    ]
    assert AccessToken.objects.get().verified_at is None
    assert not TokenEvent.objects.exists()
