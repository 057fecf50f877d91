"""Helpers shared by the tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest
from django.test import RequestFactory

from django_twitter_oauth import signals
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


def make_request(
    user: Any = None,
    *,
    session: SessionBase | None = None,
    path: str = "/",
    secure: bool = False,
) -> HttpRequest:
    """A GET request with a session (a new one unless given) and ``user`` (anonymous
    unless given), for calling the flow directly."""
    request = RequestFactory().get(path, secure=secure)
    request.session = session if session is not None else SessionStore()
    request.user = user if user is not None else AnonymousUser()
    return request


SIGNAL_NAMES = (
    "authorization_completed",
    "authorization_denied",
    "authorization_failed",
    "token_revoked",
    "token_discarded",
)


class SignalRecorder:
    """Records the app's signals sent while in the ``with`` block (from any thread):
    ``sent`` holds (signal name, keyword arguments) pairs."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self._receivers = {name: self._receiver(name) for name in SIGNAL_NAMES}

    def _receiver(self, name: str) -> Callable[..., None]:
        def receive(**kwargs: Any) -> None:
            kwargs.pop("signal")
            self.sent.append((name, kwargs))

        return receive

    def __enter__(self) -> SignalRecorder:
        for name, receiver in self._receivers.items():
            getattr(signals, name).connect(receiver)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for name, receiver in self._receivers.items():
            getattr(signals, name).disconnect(receiver)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.sent]

    def only(self, name: str) -> dict[str, Any]:
        """The arguments of the one signal sent, which must be ``name``."""
        assert self.names == [name]
        return self.sent[0][1]
