"""Helpers shared by the tests."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from django_twitter_oauth.models import AccessToken

# Secrets that look like Twitter's, so a leak is easy to spot in any output.
TOKEN = "6253282-eWudHldSbIaelX7swmsiHImEL4KinwaGloHANdrY"
SECRET = "2EEfA6BG5ly3sR3XjE0IBSnlQu4ZrUzPiYTmrkVU"  # noqa: S105


def make_user(username: str = "alice", **extra: Any) -> User:
    # The test project uses Django's default user model.
    return User.objects.create_user(username=username, **extra)


def make_token(
    user: User | None = None,
    *,
    twitter_user_id: str = "6253282",
    screen_name: str = "twitterapi",
    token: str = TOKEN,
    secret: str = SECRET,
    access_level: str = "read-write",
    app_permission: str = "read-write",
) -> AccessToken:
    return AccessToken.objects.create(
        user=user or make_user(),
        twitter_user_id=twitter_user_id,
        screen_name=screen_name,
        token=token,
        secret=secret,
        access_level=access_level,
        app_permission=app_permission,
    )
