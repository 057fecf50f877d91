"""The app's signals, shown to the user as messages."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.dispatch import receiver

from django_twitter_oauth.signals import (
    authorization_completed,
    authorization_denied,
    token_discarded,
    token_revoked,
)


@receiver(authorization_completed)
def on_completed(
    sender: Any, request: Any, user: Any, token: Any, created: bool, **kw: Any
) -> None:
    if request is None:
        return  # the twitter_oauth_connect command: no browser to show a message to
    if created:
        messages.success(request, f"Connected @{token.screen_name} ({token.access_level}).")
    else:
        messages.info(request, f"Welcome back, @{token.screen_name}.")


@receiver(authorization_denied)
def on_denied(sender: Any, request: Any, **kwargs: Any) -> None:
    messages.warning(request, "You cancelled at Twitter; nothing was connected.")


@receiver(token_revoked)
def on_revoked(sender: Any, token: Any, user: Any, revoked_by: Any, reason: str, **kw: Any) -> None:
    # No request here (commands and tasks send it too): a real site might e-mail the user.
    pass


@receiver(token_discarded)
def on_discarded(
    sender: Any, token: Any, user: Any, revoked_by: Any, reason: str, **kw: Any
) -> None:
    pass
