"""The authentication backend behind "Sign in with Twitter".

Add it to AUTHENTICATION_BACKENDS (check ``twitter_oauth.E017`` says so when sign-in
is on and it is missing)::

    AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "django_twitter_oauth.backends.TwitterBackend",
    ]

It authenticates only an :class:`~django_twitter_oauth.models.AccessToken` that the
flow has just obtained from Twitter, so ``login()``, ``user_logged_in`` and
``last_login`` behave as for any other backend.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from django_twitter_oauth.models import AccessToken

__all__ = ["TwitterBackend"]


class TwitterBackend(ModelBackend):
    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        twitter_token: AccessToken | None = None,
        **kwargs: Any,
    ) -> Any:
        if not isinstance(twitter_token, AccessToken):
            return None
        user = twitter_token.user
        return user if self.user_can_authenticate(user) else None
