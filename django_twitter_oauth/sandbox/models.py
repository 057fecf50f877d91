"""The sandbox's fake Twitter users, kept in the database so they outlive the server."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _

# Internal to the sandbox app (reached through its URLs): nothing to import here.
__all__: list[str] = []


def new_user_id() -> str:
    """A Twitter-like numeric id (10 digits, not starting with 0)."""
    return str(10**9 + secrets.randbelow(9 * 10**9))


class SandboxUser(models.Model):
    user_id = models.CharField(
        _("Twitter user id"), max_length=32, unique=True, default=new_user_id
    )
    screen_name = models.CharField(_("screen name"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    #: What ``verify_credentials`` answers with ``include_email=true`` (the sandbox's
    #: app has the email permission); blank for a user without one.
    email = models.EmailField(_("email"), blank=True)

    class Meta:
        verbose_name = _("sandbox Twitter user")
        verbose_name_plural = _("sandbox Twitter users")
        ordering = ["screen_name"]

    def __str__(self) -> str:
        return f"@{self.screen_name}"


class SandboxState(models.Model):
    """One entry of the fake Twitter's state: request tokens, verifiers, access tokens,
    nonces, rate counters, posted tweets (see :class:`~.store.DatabaseStore`). In the
    database, so that a restart (runserver's autoreload too) forgets nothing: a
    forgotten access token would look revoked."""

    kind = models.CharField(max_length=32)
    key = models.CharField(max_length=255)
    value = models.JSONField(null=True)
    #: Counters (``Store.incr``) live here, so that an UPDATE adds one atomically.
    number = models.BigIntegerField(default=0)
    #: Unix time after which the entry is gone; null: never.
    expires_at = models.FloatField(null=True, db_index=True)

    class Meta:
        verbose_name = _("sandbox state entry")
        verbose_name_plural = _("sandbox state")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key"], name="twitter_oauth_sandbox_state_kind_key"
            )
        ]

    def __str__(self) -> str:
        # The key may be a token: never shown.
        return f"{self.kind} #{self.pk}"
