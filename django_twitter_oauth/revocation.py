"""Revoke tokens at Twitter, discard them locally, or verify them: one service for the
admin, the management commands and the tasks.

* :func:`revoke` calls ``1.1/oauth/invalidate_token`` for each token with a bounded
  pool of workers, then deletes the tokens Twitter confirmed. A token Twitter reports
  invalid or expired counts as revoked (the goal is reached). A 5xx or connection error
  is retried twice with backoff; a 429 pauses every worker until ``x-rate-limit-reset``
  unless that is further away than ``max_wait`` (TWITTER_OAUTH_RATE_LIMIT_MAX_WAIT by
  default), or a call was still refused after :data:`MAX_RATE_LIMIT_WAITS` waits, in
  which case the rest is reported as not attempted. Any other failure
  leaves the token untouched and reported with its reason.
* :func:`discard` deletes tokens without calling Twitter (after a permission change).
* :func:`verify` asks Twitter who each token belongs to and with which access level.

Each deletion writes a :class:`~django_twitter_oauth.models.TokenEvent` and sends
``token_revoked`` / ``token_discarded`` after commit. Running again over the same
selection only does what is left: deleted tokens are gone, untouched ones are retried.
Memory does not grow with the number of tokens: tokens are consumed from the iterable
as workers free up, and the report keeps counts (and the failures).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.db import router, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from django_twitter_oauth import signals
from django_twitter_oauth._pool import (
    FAILED,
    INVALID,
    OK,
    RateGate,
    in_parallel,
)
from django_twitter_oauth._pool import MAX_RATE_LIMIT_WAITS as MAX_RATE_LIMIT_WAITS
from django_twitter_oauth._pool import RETRY_BACKOFF as RETRY_BACKOFF
from django_twitter_oauth.client import Credentials, TwitterClient
from django_twitter_oauth.conf import app_settings
from django_twitter_oauth.exceptions import TokenDecryptionError
from django_twitter_oauth.models import AccessToken, TokenEvent

__all__ = [
    "Failure",
    "Report",
    "VerifyReport",
    "discard",
    "id_batches",
    "iterate",
    "load",
    "revoke",
    "verify",
]

logger = logging.getLogger(__name__)

_Row = TypeVar("_Row")

#: Tokens read per query, or ids per batch, by :func:`iterate` and :func:`id_batches`.
BATCH_SIZE = 500
#: Tokens deleted (and their events written) per transaction.
FLUSH_EVERY = 100

#: The reason reported for a revoked token whose row changed before it could be deleted.
CHANGED_MEANWHILE = (
    "changed (re-authorized?) while being revoked; run again to revoke its new token"
)

#: The reason :func:`verify` reports for a token left unchecked by Twitter's rate limit
#: (2/users/me allows 25 calls per user per 24 hours on X's Free tier): not invalid.
VERIFY_RATE_LIMITED = "rate-limited by Twitter, not checked; try again later"

#: The reason reported for a token to discard whose row changed since it was read.
DISCARD_CHANGED_MEANWHILE = "changed (re-authorized?) since it was selected; kept"


@dataclass(frozen=True)
class Failure:
    """A token that could not be handled, and why (never a secret)."""

    token_id: int
    twitter_user_id: str
    screen_name: str
    reason: str


@dataclass
class Report:
    """What a revocation or discard did. ``ok`` when nothing failed or was left."""

    revoked: int = 0
    already_invalid: int = 0
    discarded: int = 0
    failed: list[Failure] = field(default_factory=list)
    not_attempted: int = 0
    stopped: bool = False

    @property
    def done(self) -> int:
        return self.revoked + self.already_invalid + self.discarded

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_attempted

    def merge(self, other: Report) -> None:
        self.revoked += other.revoked
        self.already_invalid += other.already_invalid
        self.discarded += other.discarded
        self.failed.extend(other.failed)
        self.not_attempted += other.not_attempted
        self.stopped = self.stopped or other.stopped


@dataclass
class VerifyReport:
    """What :func:`verify` found: the valid count, the invalid tokens (kept, for staff
    to discard) and the failures."""

    valid: int = 0
    invalid: list[AccessToken] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)


def _failure(token: AccessToken, reason: str) -> Failure:
    return Failure(token.pk, token.twitter_user_id, token.screen_name, reason)


def _credentials(token: AccessToken) -> tuple[str, str]:
    """The token's key and secret; raises TokenDecryptionError for a value no key
    decrypts (read on the caller's thread: a deferred column is loaded on its
    database connection)."""
    return token.token, token.secret


def _check_workers(workers: int) -> None:
    if workers < 1:
        raise ValueError("workers must be at least 1.")


def _gate(max_wait: float | None, stop: threading.Event) -> RateGate:
    return RateGate(app_settings.RATE_LIMIT_MAX_WAIT if max_wait is None else max_wait, stop)


def _each(
    tokens: Iterable[AccessToken],
    action: Callable[[AccessToken, str, str], None],
    *,
    twitter: TwitterClient,
    workers: int,
    gate: RateGate,
    backoff: tuple[float, ...] | None,
) -> Iterator[tuple[AccessToken, str, str]]:
    """``action(token, key, secret)`` for each token through the worker pool, with retries
    and the rate gate: (token, outcome, reason) as they finish. Each token's credentials
    are read on this thread (a value no key decrypts fails that token alone) and held in a
    closure, never in an object whose ``repr()`` would show them."""

    @sensitive_variables("key", "secret")
    def call(token: AccessToken) -> Callable[[], None]:
        key, secret = _credentials(token)
        return lambda: action(token, key, secret)

    return in_parallel(
        tokens,
        call,
        client=twitter,
        workers=workers,
        gate=gate,
        backoff=RETRY_BACKOFF if backoff is None else backoff,
    )


def load(tokens: QuerySet[AccessToken]) -> list[AccessToken]:
    """The rows of ``tokens``. Should one hold a value no key in FERNET_KEYS decrypts
    (a lost key), all of them with their credentials deferred instead: :func:`revoke`
    and :func:`verify` then read each token's on its own, and report that row alone as
    failed rather than the whole batch stopping with a TokenDecryptionError."""
    try:
        return list(tokens)
    except TokenDecryptionError:
        return list(tokens.defer("token", "secret"))


def _keyset(
    queryset: QuerySet[AccessToken],
    batch_size: int,
    fetch: Callable[[QuerySet[AccessToken]], list[_Row]],
    pk_of: Callable[[_Row], Any],
) -> Iterator[list[_Row]]:
    """``fetch`` over the selection's rows in primary-key order, ``batch_size`` per query
    (keyset pagination: each query starts after the last pk seen, so memory stays flat
    and rows deleted meanwhile are fine)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    ordered = queryset.order_by("pk")
    last_pk: Any = None
    while True:
        page = ordered if last_pk is None else ordered.filter(pk__gt=last_pk)
        batch = fetch(page[:batch_size])
        if not batch:
            return
        yield batch
        last_pk = pk_of(batch[-1])


def iterate(queryset: QuerySet[AccessToken], batch_size: int = BATCH_SIZE) -> Iterator[AccessToken]:
    """The tokens of ``queryset`` in primary-key order, ``batch_size`` rows per query:
    what the admin, the commands, the tasks and disconnect hand to :func:`revoke`,
    :func:`discard` and :func:`verify`. A row no key decrypts fails alone there
    (:func:`load`). Pass a queryset with the credentials deferred when they are not
    needed (discarding, listing)."""
    for batch in _keyset(queryset, batch_size, load, _pk):
        yield from batch


def id_batches(
    queryset: QuerySet[AccessToken], batch_size: int = BATCH_SIZE
) -> Iterator[list[Any]]:
    """The selection's ids in lists of ``batch_size``, in primary-key order, one query
    per list (what the tasks are enqueued with)."""
    return _keyset(queryset, batch_size, _ids, _same)


def _pk(token: AccessToken) -> Any:
    return token.pk


def _ids(page: QuerySet[AccessToken]) -> list[Any]:
    return list(page.values_list("pk", flat=True))


def _same(pk: Any) -> Any:
    return pk


def revoke(
    tokens: Iterable[AccessToken],
    *,
    actor: Any = None,
    reason: str = "",
    workers: int = 8,
    max_wait: float | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[Report], None] | None = None,
    backoff: tuple[float, ...] | None = None,
) -> Report:
    """Revoke each token at Twitter, then delete the ones Twitter confirmed.

    ``actor`` is the staff user acting (None for commands and tasks); ``stop`` ends the
    run early: calls in flight finish, the rest is reported as not attempted.
    ``max_wait`` bounds the wait for a 429's reset (default:
    TWITTER_OAUTH_RATE_LIMIT_MAX_WAIT); ``backoff`` holds the seconds before each retry
    of a 5xx or connection error (default: :data:`RETRY_BACKOFF`).
    ``progress`` is called with the running report after each token.

    A row that changed between being read and being deleted (a re-authorization in the
    meantime stores a new token) is kept and reported as failed, with its reason; one
    that holds the token just revoked again (Twitter returns it to a user re-authorizing
    at the same level) is deleted as revoked.
    """
    _check_workers(workers)
    stop = threading.Event() if stop is None else stop
    gate = _gate(max_wait, stop)
    twitter = TwitterClient()
    report = Report()
    confirmed: list[tuple[AccessToken, str]] = []

    def invalidate(token: AccessToken, key: str, secret: str) -> None:
        twitter.invalidate_token(key, secret)

    results = _each(
        tokens, invalidate, twitter=twitter, workers=workers, gate=gate, backoff=backoff
    )
    for token, outcome, why in results:
        if outcome == OK:
            report.revoked += 1
            confirmed.append((token, outcome))
        elif outcome == INVALID:
            report.already_invalid += 1
            confirmed.append((token, outcome))
        elif outcome == FAILED:
            logger.warning("Could not revoke %s: %s", token, why)
            report.failed.append(_failure(token, why))
        else:
            report.not_attempted += 1
        if len(confirmed) >= FLUSH_EVERY:
            _flush(confirmed, report, actor=actor, reason=reason)
            confirmed = []
        if progress is not None:
            progress(report)
    _flush(confirmed, report, actor=actor, reason=reason)
    report.stopped = stop.is_set()
    return report


def _flush(
    confirmed: list[tuple[AccessToken, str]], report: Report, *, actor: Any, reason: str
) -> None:
    for token, outcome in _delete_revoked(confirmed, actor=actor, reason=reason):
        if outcome == OK:
            report.revoked -= 1
        else:
            report.already_invalid -= 1
        logger.warning("Revoked %s at Twitter but kept it: %s", token, CHANGED_MEANWHILE)
        report.failed.append(_failure(token, CHANGED_MEANWHILE))


def _delete_revoked(
    confirmed: list[tuple[AccessToken, str]], *, actor: Any, reason: str
) -> list[tuple[AccessToken, str]]:
    """Delete the confirmed tokens whose rows are unchanged since they were read, or
    still hold the revoked token, with their events and signals; return the ones whose
    rows changed (they are kept).

    A row deleted meanwhile by someone else counts as done: that deletion has its own
    event and signal.
    """
    if not confirmed:
        return []
    alias = _alias()
    with transaction.atomic(using=alias):
        # By account, not by pk: an account stored again after a deletion is a new row.
        current = {
            account: (pk, updated_at)
            for pk, account, updated_at in AccessToken.objects.using(alias)
            .select_for_update()
            .filter(twitter_user_id__in=[token.twitter_user_id for token, _ in confirmed])
            .values_list("pk", "twitter_user_id", "updated_at")
        }
        # A row written since it was read (a re-authorization in the meantime) holds a
        # new token, which must stay; unless it holds the very token just revoked, now
        # dead: Twitter hands a user who re-authorizes at the same access level the token
        # they already have. Only such rows are decrypted here.
        rewritten = [
            current[t.twitter_user_id][0]
            for t, _ in confirmed
            if current.get(t.twitter_user_id, (t.pk, t.updated_at)) != (t.pk, t.updated_at)
        ]
        holding = dict(
            AccessToken.objects.using(alias).filter(pk__in=rewritten).values_list("pk", "token")
        )
        unchanged: list[tuple[AccessToken, str]] = []
        changed: list[tuple[AccessToken, str]] = []
        rows = []
        for token, outcome in confirmed:
            row = current.get(token.twitter_user_id)
            if row is None:
                continue  # deleted meanwhile by someone else, who recorded it
            if row == (token.pk, token.updated_at) or holding.get(row[0]) == token.token:
                unchanged.append((token, outcome))
                rows.append(row[0])
            else:
                changed.append((token, outcome))
        tokens = [token for token, _ in unchanged]
        AccessToken.objects.using(alias).filter(pk__in=rows).delete()
        TokenEvent.objects.using(alias).bulk_create(
            TokenEvent.for_token(
                token,
                TokenEvent.Action.REVOKED,
                actor=actor,
                reason=reason if outcome == OK else _join(reason, "already invalid at Twitter"),
            )
            for token, outcome in unchanged
        )
        _send_after_commit(signals.token_revoked, tokens, alias, actor=actor, reason=reason)
    return changed


def discard(tokens: Iterable[AccessToken], *, actor: Any = None, reason: str = "") -> Report:
    """Delete tokens without calling Twitter (tokens made useless by a permission
    change, or that Twitter already considers invalid). Tokens already deleted are
    skipped: ``discarded`` counts the rows this call deleted. A row re-authorized since
    it was read holds a new token and is kept, reported as failed."""
    report = Report()
    batch: list[AccessToken] = []
    for token in tokens:
        batch.append(token)
        if len(batch) >= FLUSH_EVERY:
            _discard_batch(batch, report, actor=actor, reason=reason)
            batch = []
    _discard_batch(batch, report, actor=actor, reason=reason)
    return report


def _discard_batch(tokens: list[AccessToken], report: Report, *, actor: Any, reason: str) -> None:
    if not tokens:
        return
    alias = _alias()
    with transaction.atomic(using=alias):
        current = dict(
            AccessToken.objects.using(alias)
            .select_for_update()
            .filter(pk__in=[token.pk for token in tokens])
            .values_list("pk", "updated_at")
        )
        unchanged = [token for token in tokens if current.get(token.pk) == token.updated_at]
        for token in tokens:
            if current.get(token.pk, token.updated_at) != token.updated_at:
                report.failed.append(_failure(token, DISCARD_CHANGED_MEANWHILE))
        AccessToken.objects.using(alias).filter(pk__in=[token.pk for token in unchanged]).delete()
        TokenEvent.objects.using(alias).bulk_create(
            TokenEvent.for_token(token, TokenEvent.Action.DISCARDED, actor=actor, reason=reason)
            for token in unchanged
        )
        _send_after_commit(signals.token_discarded, unchanged, alias, actor=actor, reason=reason)
    report.discarded += len(unchanged)


def verify(
    tokens: Iterable[AccessToken],
    *,
    actor: Any = None,
    workers: int = 8,
    max_wait: float | None = None,
    backoff: tuple[float, ...] | None = None,
) -> VerifyReport:
    """Ask Twitter about each token
    (:meth:`~django_twitter_oauth.client.TwitterClient.identify`, through
    TWITTER_OAUTH_VERIFY_ENDPOINT): update ``verified_at``, ``screen_name`` and, when the
    answer says it (v1.1's ``x-access-level``), ``access_level`` of the valid ones;
    report (and record) the invalid ones, which are left in place for staff to discard.
    Retries and rate limits as in :func:`revoke`: a token a 429 left unchecked is a
    failure with ``VERIFY_RATE_LIMITED`` as its reason, never invalid; one the tier refuses
    (AccessTierError, 453) a failure whose reason names the endpoint."""
    _check_workers(workers)
    twitter = TwitterClient()
    gate = _gate(max_wait, threading.Event())
    report = VerifyReport()
    answers: dict[int, Credentials] = {}

    def identify(token: AccessToken, key: str, secret: str) -> None:
        answers[token.pk] = twitter.identify(key, secret)

    results = _each(tokens, identify, twitter=twitter, workers=workers, gate=gate, backoff=backoff)
    for token, outcome, why in results:
        if outcome == OK:
            credentials = answers.pop(token.pk)
            token.verified_at = timezone.now()
            token.screen_name = credentials.screen_name
            token.access_level = credentials.access_level or token.access_level
            # update(), not save(): updated_at marks re-authorizations, not checks.
            AccessToken.objects.filter(pk=token.pk).update(
                verified_at=token.verified_at,
                screen_name=token.screen_name,
                access_level=token.access_level,
            )
            report.valid += 1
        elif outcome == INVALID:
            report.invalid.append(token)
            TokenEvent.for_token(
                token, TokenEvent.Action.FOUND_INVALID, actor=actor, reason="verify"
            ).save()
        else:
            report.failed.append(_failure(token, why or VERIFY_RATE_LIMITED))
    return report


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def _alias() -> str:
    """The database of the app's models (AccessToken, TokenEvent, RequestToken live
    together), which may not be the default one."""
    return router.db_for_write(AccessToken)


def _send_after_commit(
    signal: Any, tokens: list[AccessToken], alias: str, *, actor: Any, reason: str
) -> None:
    """One ``signal`` per token once the transaction on ``alias`` commits, robustly (a
    receiver that raises is logged, and never undoes the work)."""
    if not signal.has_listeners(AccessToken):
        return  # spares loading the users in bulk runs nobody listens to
    users = _users_of(tokens)
    for token in tokens:
        signals.send_after_commit(
            signal,
            using=alias,
            sender=AccessToken,
            token=token,
            user=users.get(token.user_id),
            revoked_by=actor,
            reason=reason,
        )


def _users_of(tokens: list[AccessToken]) -> dict[Any, Any]:
    """The tokens' users: those already loaded, the others in one query."""
    loaded = {token.user_id: token.user for token in tokens if AccessToken.user.is_cached(token)}
    missing = {token.user_id for token in tokens} - loaded.keys()
    return {**get_user_model()._default_manager.in_bulk(missing), **loaded}
