"""Deleting a site user revokes their Twitter tokens at Twitter first.

Without this the tokens would only cascade away with the user: still valid at
Twitter, with no audit event and no signal. :func:`revoke_tokens_of_deleted_user` is
connected to ``pre_delete`` of ``AUTH_USER_MODEL`` in ``TwitterOAuthConfig.ready()``,
so it runs for ``user.delete()`` and for querysets alike (the admin's "delete selected"
included): while the rows are still there it asks Twitter to invalidate each token
(``token_revoked``), and deletes here whatever Twitter could not be told about
(``token_discarded``, with the reason), each with a ``TokenEvent``.

Not a task: the credentials go with the user's rows, and a task running later would
need them. So the calls are made while the user is deleted, with no retry and no wait
for a rate limit, and the deletion is never blocked by Twitter.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import router

from django_twitter_oauth import revocation
from django_twitter_oauth.models import AccessToken, RequestToken, TokenEvent

# Nothing to import: the receiver is connected by the app itself.
__all__: list[str] = []

logger = logging.getLogger(__name__)

#: The reason recorded in each TokenEvent and sent with the signals.
REASON = "user deleted"
#: The reason for a token Twitter could not be told about (or no key decrypts).
NOT_TOLD = "user deleted; Twitter could not be told"


def revoke_tokens_of_deleted_user(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``pre_delete`` receiver of the user model: revoke the user's tokens at Twitter,
    discard those Twitter could not be told about."""
    alias = router.db_for_write(AccessToken)
    tokens = _tokens_of(instance, alias, credentials=True)
    if tokens:
        _revoke(instance, alias, tokens)
    if alias != instance._state.db:
        # Another database than the user's: Django's CASCADE and SET_NULL cannot reach
        # it (models.cascade_here), so the user's rows are cleared here, on their own.
        RequestToken.objects.using(alias).filter(user_id=instance.pk)._raw_delete(alias)
        TokenEvent.objects.using(alias).filter(user_id=instance.pk).update(user=None)
        TokenEvent.objects.using(alias).filter(actor_id=instance.pk).update(actor=None)


def _revoke(instance: Any, alias: str, tokens: list[AccessToken]) -> None:
    # No retries and no waiting for a rate limit: whoever deletes the user is waiting.
    revocation.revoke(tokens, reason=REASON, max_wait=0, backoff=())
    # Whatever is left (Twitter down, rate-limited, a lost key, re-authorized
    # meanwhile): the user is going, so are their tokens, on record.
    left = _tokens_of(instance, alias, credentials=False)
    if left:
        logger.warning(
            "Deleting user %s: %d Twitter token(s) could not be revoked at Twitter; "
            "deleted here only.",
            instance.pk,
            len(left),
        )
        revocation.discard(left, reason=NOT_TOLD)
    # The events just written name the user; TokenEvent.user's SET_NULL clears them with
    # the older ones: Django collects those rows lazily, after pre_delete (or, across
    # databases, the receiver does, after this).


def _tokens_of(user: Any, alias: str, *, credentials: bool) -> list[AccessToken]:
    queryset = AccessToken.objects.using(alias).filter(user_id=user.pk)
    if not credentials:
        queryset = queryset.defer("token", "secret")
    tokens = list(revocation.iterate(queryset))
    for token in tokens:
        # The signals' ``user``: the instance as it was (its row is gone at commit).
        token.user = user
    return tokens
