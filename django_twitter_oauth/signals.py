"""The app's signals. Each is sent after the transaction that caused it commits, with
Django's ``send_robust``: a receiver that raises is logged (``ERROR``, with its
traceback) and never turns work already stored into an error, nor stops the others.

``token`` is always the :class:`~django_twitter_oauth.models.AccessToken` (after a
deletion, the instance as it was). ``request`` is None when the work did not come from
a browser (management commands, tasks): a receiver that uses it must check.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import Signal

__all__ = [
    "authorization_completed",
    "authorization_denied",
    "authorization_failed",
    "token_discarded",
    "token_revoked",
]

logger = logging.getLogger(__name__)

#: A user authorized the app: ``request`` (None from ``twitter_oauth_connect``, the PIN
#: flow in a terminal), ``user``, ``token``, ``created`` (False when an existing token
#: for the same Twitter account was updated), ``email`` (the address Twitter gave with
#: TWITTER_OAUTH_REQUEST_EMAIL, else None). Sender: ``AccessToken``.
authorization_completed = Signal()

#: The user cancelled at Twitter (``denied=`` callback): ``request`` (always a
#: browser's). Sender: ``RequestToken``.
authorization_denied = Signal()

#: The authorization could not be completed: ``request`` (always a browser's: the
#: terminal's PIN flow reports its failures itself), ``error`` (the exception; its
#: message holds no secret). Sender: ``RequestToken``.
authorization_failed = Signal()

#: A token was revoked at Twitter (or Twitter already considered it invalid) and
#: deleted: ``token``, ``user``, ``revoked_by`` (who asked: the user themselves on
#: disconnect, a staff user in the admin, None for commands and tasks), ``reason``.
#: Sender: ``AccessToken``.
token_revoked = Signal()

#: A token was deleted without Twitter being told (a permission change, or Twitter
#: unreachable on disconnect): ``token``, ``user``, ``revoked_by``, ``reason``.
#: Sender: ``AccessToken``.
token_discarded = Signal()


def send_after_commit(signal: Signal, *, using: str | None = None, **kwargs: Any) -> None:
    """Send ``signal`` once the transaction on database ``using`` commits (at once outside
    one), robustly: a receiver that raises is logged and never turns work already stored
    into an error, nor stops the other receivers."""

    def send() -> None:
        for receiver, result in signal.send_robust(**kwargs):
            if isinstance(result, Exception):
                logger.error(
                    "A receiver of a django_twitter_oauth signal failed: %s",
                    getattr(receiver, "__qualname__", receiver),
                    exc_info=(type(result), result, result.__traceback__),
                )

    transaction.on_commit(send, using=using)
