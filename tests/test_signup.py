"""Sign-up: the built-in (through USERNAME_FIELD and EMAIL_FIELD) and
TWITTER_OAUTH_SIGNUP, a site's own, which may refuse."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.test import Client
from pytest_django import Settings

from django_twitter_oauth.conf import DEFAULT_SIGNUP
from django_twitter_oauth.exceptions import SignInRefused
from django_twitter_oauth.models import AccessToken, TokenEvent
from django_twitter_oauth.signup import NO_EMAIL, TwitterIdentity, default_signup
from django_twitter_oauth.testing import FakeTwitter
from tests.utils import make_user, makes_usernames, username_for

pytestmark = pytest.mark.django_db

JACK = TwitterIdentity(user_id="42", screen_name="jack", name="Jack")


def test_identity_is_a_frozen_value() -> None:
    assert TwitterIdentity("42", "jack") == TwitterIdentity("42", "jack", "")
    with pytest.raises(AttributeError):
        JACK.screen_name = "other"  # type: ignore[misc]


@makes_usernames
def test_default_signup() -> None:
    user = default_signup(None, JACK, None)
    assert isinstance(user, User)
    assert (user.username, user.email) == ("jack", "")  # never the screen name as email
    assert not user.has_usable_password()
    assert User.objects.get() == user


@makes_usernames
def test_default_signup_makes_the_username_unique() -> None:
    make_user("jack")
    make_user("JACK-2")
    assert default_signup(None, JACK, None).get_username() == "jack-3"


@makes_usernames
def test_default_signup_fills_the_email_field() -> None:
    user = default_signup(None, JACK, "jack@example.com")
    assert (user.get_username(), getattr(user, "email", None)) == ("jack", "jack@example.com")


@makes_usernames
def test_a_user_model_without_an_email_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(User, "EMAIL_FIELD", "no_such_field")
    user = default_signup(None, JACK, "jack@example.com")
    assert (user.get_username(), getattr(user, "email", None)) == ("jack", "")


@pytest.fixture
def email_username(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user model signs in by email: USERNAME_FIELD is EMAIL_FIELD (already so for
    the custom user model of tests/settings_custom_user.py)."""
    user_model = get_user_model()
    monkeypatch.setattr(user_model, "USERNAME_FIELD", user_model.get_email_field_name())


@pytest.mark.usefixtures("email_username")
def test_email_as_username_needs_an_email(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(SignInRefused) as excinfo:
        default_signup(None, JACK, None)
    assert excinfo.value.status_code == 403
    assert "email address" in str(excinfo.value)
    assert not get_user_model()._default_manager.exists()
    [record] = caplog.records
    assert "TWITTER_OAUTH_REQUEST_EMAIL" in record.getMessage()
    assert "TWITTER_OAUTH_SIGNUP" in record.getMessage()


@pytest.mark.usefixtures("email_username")
def test_email_as_username() -> None:
    user = default_signup(None, JACK, "jack@example.com")
    assert user.get_username() == "jack@example.com"
    assert getattr(user, "email", None) == "jack@example.com"


@pytest.mark.usefixtures("email_username")
def test_email_as_username_never_takes_over_an_account() -> None:
    victim = make_user("victim", email="Jack@Example.com")
    with pytest.raises(SignInRefused) as excinfo:
        default_signup(None, JACK, "jack@example.com")
    assert "exists already" in str(excinfo.value)
    assert list(get_user_model()._default_manager.all()) == [victim]


# -- TWITTER_OAUTH_SIGNUP through the flow ----------------------------------------------------

CALLS: list[tuple[Any, ...]] = []


def custom_signup(request: HttpRequest | None, identity: TwitterIdentity, email: str | None) -> Any:
    CALLS.append((request, identity, email))
    return make_user(f"tw{identity.user_id}")


def refusing_signup(request: HttpRequest | None, identity: TwitterIdentity, email: Any) -> None:
    make_user("half-made")  # rolled back with the refusal
    return None


def raising_signup(request: HttpRequest | None, identity: TwitterIdentity, email: Any) -> Any:
    make_user("half-made")
    raise SignInRefused("Invitations only.")


def sign_up(fake_twitter: FakeTwitter, **user: Any) -> Any:
    client = Client()
    response = client.post("/twitter/begin/")
    oauth_token = response["Location"].split("oauth_token=")[1]
    user = {"user_id": "42", "screen_name": "jack", **user}
    return client.get(fake_twitter.authorize(oauth_token, **user))


def test_a_custom_signup(fake_twitter: FakeTwitter, settings: Settings) -> None:
    settings.TWITTER_OAUTH_ALLOW_SIGNUP = True
    settings.TWITTER_OAUTH_SIGNUP = "tests.test_signup.custom_signup"
    CALLS.clear()
    response = sign_up(fake_twitter)
    assert response.status_code == 302
    assert AccessToken.objects.get().user.get_username() == username_for("tw42")
    [(request, identity, email)] = CALLS
    assert isinstance(request, HttpRequest)
    assert identity == TwitterIdentity("42", "jack")
    assert email is None


@pytest.mark.parametrize("request_email", [False, True])
def test_a_custom_signup_gets_the_display_name_when_twitter_was_asked(
    fake_twitter: FakeTwitter, settings: Settings, request_email: bool
) -> None:
    """The access-token answer has no display name; the identifying call that asks for
    the email (or fills in a missing user) has, and the sign-up gets it."""
    settings.TWITTER_OAUTH_ALLOW_SIGNUP = True
    settings.TWITTER_OAUTH_SIGNUP = "tests.test_signup.custom_signup"
    settings.TWITTER_OAUTH_REQUEST_EMAIL = request_email
    CALLS.clear()
    assert sign_up(fake_twitter, name="Jack Dorsey").status_code == 302
    [(_, identity, _)] = CALLS
    assert identity == TwitterIdentity("42", "jack", "Jack Dorsey" if request_email else "")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tests.test_signup.refusing_signup", "No account on this site"),
        ("tests.test_signup.raising_signup", "Invitations only."),
    ],
)
def test_a_signup_that_refuses(
    fake_twitter: FakeTwitter, settings: Settings, path: str, message: str
) -> None:
    settings.TWITTER_OAUTH_ALLOW_SIGNUP = True
    settings.TWITTER_OAUTH_SIGNUP = path
    response = sign_up(fake_twitter)
    assert response.status_code == 403
    assert message in response.content.decode()
    assert not get_user_model()._default_manager.exists()
    assert not AccessToken.objects.exists()
    assert not TokenEvent.objects.exists()


@pytest.mark.usefixtures("email_username")
def test_the_built_in_signup_refuses_without_an_email(
    fake_twitter: FakeTwitter, settings: Settings
) -> None:
    # A model signing in by email and no email from Twitter: a clear 403, nothing stored.
    settings.TWITTER_OAUTH_ALLOW_SIGNUP = True
    settings.TWITTER_OAUTH_SIGNUP = DEFAULT_SIGNUP
    response = sign_up(fake_twitter)
    assert response.status_code == 403
    assert str(NO_EMAIL) in response.content.decode()
    assert not get_user_model()._default_manager.exists()
    assert not AccessToken.objects.exists()
    assert not TokenEvent.objects.exists()


# -- the sign-up of the custom user model's project shape (tests/custom_user/signup.py) --

custom_user_shape = pytest.mark.skipif(
    django_settings.AUTH_USER_MODEL != "custom_user.EmailUser",
    reason="tests/custom_user is installed only in tests/settings_custom_user.py's shape",
)


@custom_user_shape
@pytest.mark.parametrize(
    ("email", "stored"), [("jack@example.com", "jack@example.com"), (None, "42@twitter.invalid")]
)
def test_the_custom_user_models_signup(email: str | None, stored: str) -> None:
    from tests.custom_user.signup import signup

    user = signup(None, JACK, email)
    assert user.get_username() == stored
    assert not user.has_usable_password()
    assert list(get_user_model()._default_manager.values_list("pk", flat=True)) == [user.pk]


@custom_user_shape
def test_the_custom_user_models_signup_never_takes_over_an_account() -> None:
    from tests.custom_user.signup import signup

    victim = make_user("victim", email="Jack@Example.com")
    with pytest.raises(SignInRefused, match="exists already"):
        signup(None, JACK, "jack@example.com")
    assert list(get_user_model()._default_manager.all()) == [victim]
