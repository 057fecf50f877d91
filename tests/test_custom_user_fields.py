"""The admin's search and ``twitter_oauth_revoke --user`` follow the user model's
USERNAME_FIELD and email field, never a hard-coded ``username`` (issue 16.1)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.admin.sites import site
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.urls import reverse

from django_twitter_oauth.models import AccessToken, TokenEvent
from tests.utils import make_token, make_user

pytestmark = [
    pytest.mark.django_db,
    # These patch django.contrib.auth's User; the custom-user project shape
    # (tests.settings_custom_user) runs the whole suite against a real email user model.
    pytest.mark.skipif(
        settings.AUTH_USER_MODEL != "auth.User", reason="patches the default user model"
    ),
    # With the users in another database (tests.settings_second_db) the admin searches
    # them apart, without user__ search fields: test_admin's search tests cover that.
    pytest.mark.skipif("tokens" in settings.DATABASES, reason="the users are apart"),
]


@pytest.fixture
def email_username(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user model identifies users by email, as custom ones often do."""
    monkeypatch.setattr(User, "USERNAME_FIELD", "email")


def search_fields(model: type[AccessToken] | type[TokenEvent]) -> tuple[str, ...]:
    return tuple(site._registry[model].get_search_fields(RequestFactory().get("/")))


def test_search_fields_follow_the_user_model() -> None:
    assert search_fields(AccessToken) == (
        "screen_name",
        "=twitter_user_id",
        "user__username",
        "user__email",
    )
    assert search_fields(TokenEvent)[2:] == (
        "user__username",
        "user__email",
        "actor__username",
        "actor__email",
    )


@pytest.mark.usefixtures("email_username")
def test_search_by_email_as_username_field(client: Client) -> None:
    assert search_fields(AccessToken)[2:] == ("user__email",)
    alice = User.objects.create_user("alice", email="alice@example.com")
    bob = User.objects.create_user("bob", email="bob@example.com")
    make_token(alice, screen_name="alices")
    make_token(bob, twitter_user_id="2", screen_name="bobs")
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    response = client.get(reverse("admin:twitter_oauth_accesstoken_changelist"), {"q": "alice@"})
    text = response.content.decode()
    assert response.status_code == 200
    assert "alices" in text
    assert "bobs" not in text


def test_a_user_model_without_an_email_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(User, "EMAIL_FIELD", "no_such_field")
    assert search_fields(AccessToken)[2:] == ("user__username",)


@pytest.mark.usefixtures("email_username")
def test_revoke_command_selects_users_by_username_field() -> None:
    make_token(make_user("alice", email="alice@example.com"))
    kept = make_token(make_user("bob", email="bob@example.com"), twitter_user_id="2")
    call_command("twitter_oauth_revoke", "--user", "alice@example.com", "--discard", "--noinput")
    assert list(AccessToken.objects.all()) == [kept]
