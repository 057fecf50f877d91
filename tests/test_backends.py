"""TwitterBackend: authenticates the user of an AccessToken the flow just obtained."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate, get_user_model

from django_twitter_oauth.backends import TwitterBackend
from tests.utils import make_request, make_token, make_user

pytestmark = pytest.mark.django_db

BACKEND = "django_twitter_oauth.backends.TwitterBackend"


def test_authenticates_the_tokens_user() -> None:
    alice = make_user()
    token = make_token(alice)
    user = authenticate(make_request(), twitter_token=token)
    assert user == alice
    assert user.backend == BACKEND
    # Sessions find the user again through the backend.
    assert TwitterBackend().get_user(alice.pk) == alice


def test_refuses_an_inactive_user() -> None:
    token = make_token(make_user(is_active=False))
    assert TwitterBackend().authenticate(make_request(), twitter_token=token) is None
    assert authenticate(make_request(), twitter_token=token) is None


@pytest.mark.parametrize("twitter_token", [None, "6253282", object()])
def test_ignores_anything_but_an_access_token(twitter_token: object) -> None:
    make_token()
    backend = TwitterBackend()
    assert backend.authenticate(make_request(), twitter_token=twitter_token) is None  # type: ignore[arg-type]


def test_does_not_take_passwords() -> None:
    get_user_model().objects.create_user("alice", password="correct horse")
    backend = TwitterBackend()
    assert backend.authenticate(make_request(), username="alice", password="correct horse") is None
    # ModelBackend, next to it in AUTHENTICATION_BACKENDS, still does.
    user = authenticate(make_request(), username="alice", password="correct horse")
    assert user is not None
    assert user.backend == "django.contrib.auth.backends.ModelBackend"
