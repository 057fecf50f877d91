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

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from django_twitter_oauth import signals
from django_twitter_oauth.client import Credentials, TwitterClient
from django_twitter_oauth.conf import app_settings
from django_twitter_oauth.exceptions import (
    TokenDecryptionError,
    TokenInvalid,
    TwitterError,
    TwitterRateLimited,
    TwitterUnavailable,
)
from django_twitter_oauth.models import AccessToken, TokenEvent

__all__ = ["Failure", "Report", "VerifyReport", "discard", "load", "revoke", "verify"]

logger = logging.getLogger(__name__)

#: Seconds to wait before the first and second retry of a 5xx or connection error.
RETRY_BACKOFF = (0.5, 1.5)
#: Tokens deleted (and their events written) per transaction.
FLUSH_EVERY = 100
#: Wait when a 429 carries no x-rate-limit-reset (Twitter's windows are 15 minutes).
DEFAULT_RATE_LIMIT_WAIT = 60.0
#: Waits for a rate limit one call may make: a call still refused after that many resets
#: (a 429 that never lifts) gives up the run, rather than waiting forever.
MAX_RATE_LIMIT_WAITS = 3

# What one call to Twitter came to.
OK, INVALID, FAILED, NOT_ATTEMPTED = "ok", "invalid", "failed", "not_attempted"

#: The reason reported for a revoked token whose row changed before it could be deleted.
CHANGED_MEANWHILE = (
    "changed (re-authorized?) while being revoked; run again to revoke its new token"
)

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


class _RateGate:
    """Shared by the workers: after a 429 everyone waits for the window to reset, or,
    when that is too far away, everything left is given up."""

    def __init__(self, max_wait: float, stop: threading.Event) -> None:
        self.max_wait = max_wait
        self.stop = stop
        self.resume_at = 0.0
        self.exhausted = False
        self._lock = threading.Lock()

    def given_up(self) -> bool:
        return self.exhausted or self.stop.is_set()

    def blocked(self) -> bool:
        """Wait while paused; True when no more calls should be made."""
        while True:
            with self._lock:
                if self.given_up():
                    return True
                pause = self.resume_at - time.monotonic()
            if pause <= 0:
                return False
            # Wake up early if the run is stopped meanwhile.
            self.stop.wait(min(pause, 1.0))

    def rate_limited(self, exc: TwitterRateLimited, *, waits: int = 1) -> bool:
        """Record a call's ``waits``-th 429; True when it is worth waiting (and retrying)."""
        seconds = exc.seconds_until_reset()
        # +1: the reset header is in whole seconds.
        wait_for = DEFAULT_RATE_LIMIT_WAIT if seconds is None else seconds + 1
        with self._lock:
            if wait_for > self.max_wait or waits > MAX_RATE_LIMIT_WAITS:
                self.exhausted = True
                return False
            self.resume_at = max(self.resume_at, time.monotonic() + wait_for)
            return True


def _call_with_retries(
    call: Callable[[], None], gate: _RateGate, backoff: tuple[float, ...]
) -> tuple[str, str]:
    """Run one call to Twitter: (outcome, reason)."""
    attempt = limited = 0
    while True:
        if gate.blocked():
            return NOT_ATTEMPTED, ""
        try:
            call()
        except TokenInvalid:
            return INVALID, ""
        except TwitterRateLimited as exc:
            limited += 1
            if not gate.rate_limited(exc, waits=limited):
                return NOT_ATTEMPTED, ""
        except TwitterUnavailable as exc:
            if attempt >= len(backoff):
                return FAILED, str(exc)
            time.sleep(backoff[attempt])
            attempt += 1
        except TwitterError as exc:
            return FAILED, str(exc)
        else:
            return OK, ""


def _in_parallel(
    tokens: Iterable[AccessToken],
    call: Callable[[AccessToken, str, str], None],
    *,
    twitter: TwitterClient,
    workers: int,
    gate: _RateGate,
    backoff: tuple[float, ...],
) -> Iterator[tuple[AccessToken, str, str]]:
    """Run ``call(token, key, secret)`` for each token, with retries and at most
    ``workers`` in flight; yield (token, outcome, reason) as they finish. Tokens are
    pulled from the iterable only when a worker is free, so memory stays bounded.
    ``call`` goes through ``twitter``, whose workers reuse their connections until the
    pool is done."""
    iterator = iter(tokens)
    # Each call hands its future over as it finishes: concurrent.futures.wait() would
    # visit every running future for each finished one.
    finished: queue.SimpleQueue[Future[tuple[str, str]]] = queue.SimpleQueue()
    with (
        twitter,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="twitter-oauth") as pool,
    ):
        running: dict[Future[tuple[str, str]], AccessToken] = {}
        exhausted = False
        done: tuple[AccessToken, str, str] | None = None
        while running or not exhausted or done is not None:
            while not exhausted and len(running) < workers:
                token = next(iterator, None)
                if token is None:
                    exhausted = True
                    continue
                result: tuple[AccessToken, str, str] | None = None
                if gate.given_up():
                    result = (token, NOT_ATTEMPTED, "")
                else:
                    try:
                        # Read here, not in a worker: a deferred column is loaded on this
                        # thread's database connection, and a value no key decrypts is this
                        # token's failure, not the whole run's.
                        key, secret = token.token, token.secret
                    except TokenDecryptionError as exc:
                        result = (token, FAILED, str(exc))
                    else:
                        job = functools.partial(call, token, key, secret)
                        future = pool.submit(_call_with_retries, job, gate, backoff)
                        running[future] = token
                        future.add_done_callback(finished.put)
                if result is not None:
                    if done is not None:  # results in the order they came
                        yield done
                        done = None
                    yield result
            if done is not None:
                # Handed over only now, with its worker busy again: what the caller does
                # with it (deleting a batch of tokens) overlaps the calls in flight.
                yield done
                done = None
            if running:
                future = finished.get()
                outcome, reason = future.result()
                done = (running.pop(future), outcome, reason)


def _check_workers(workers: int) -> None:
    if workers < 1:
        raise ValueError("workers must be at least 1.")


def _gate(max_wait: float | None, stop: threading.Event) -> _RateGate:
    return _RateGate(app_settings.RATE_LIMIT_MAX_WAIT if max_wait is None else max_wait, stop)


def load(tokens: QuerySet[AccessToken]) -> list[AccessToken]:
    """The rows of ``tokens``. Should one hold a value no key in FERNET_KEYS decrypts
    (a lost key), all of them with their credentials deferred instead: :func:`revoke`
    and :func:`verify` then read each token's on its own, and report that row alone as
    failed rather than the whole batch stopping with a TokenDecryptionError."""
    try:
        return list(tokens)
    except TokenDecryptionError:
        return list(tokens.defer("token", "secret"))


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

    def call(token: AccessToken, key: str, secret: str) -> None:
        twitter.invalidate_token(key, secret)

    results = _in_parallel(
        tokens,
        call,
        twitter=twitter,
        workers=workers,
        gate=gate,
        backoff=RETRY_BACKOFF if backoff is None else backoff,
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
    with transaction.atomic():
        # By account, not by pk: an account stored again after a deletion is a new row.
        current = {
            account: (pk, updated_at)
            for pk, account, updated_at in AccessToken.objects.select_for_update()
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
        holding = dict(AccessToken.objects.filter(pk__in=rewritten).values_list("pk", "token"))
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
        AccessToken.objects.filter(pk__in=rows).delete()
        TokenEvent.objects.bulk_create(
            TokenEvent.for_token(
                token,
                TokenEvent.Action.REVOKED,
                actor=actor,
                reason=reason if outcome == OK else _join(reason, "already invalid at Twitter"),
            )
            for token, outcome in unchanged
        )
        _send_after_commit(signals.token_revoked, tokens, actor=actor, reason=reason)
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
    with transaction.atomic():
        current = dict(
            AccessToken.objects.select_for_update()
            .filter(pk__in=[token.pk for token in tokens])
            .values_list("pk", "updated_at")
        )
        unchanged = [token for token in tokens if current.get(token.pk) == token.updated_at]
        for token in tokens:
            if current.get(token.pk, token.updated_at) != token.updated_at:
                report.failed.append(_failure(token, DISCARD_CHANGED_MEANWHILE))
        AccessToken.objects.filter(pk__in=[token.pk for token in unchanged]).delete()
        TokenEvent.objects.bulk_create(
            TokenEvent.for_token(token, TokenEvent.Action.DISCARDED, actor=actor, reason=reason)
            for token in unchanged
        )
        _send_after_commit(signals.token_discarded, unchanged, actor=actor, reason=reason)
    report.discarded += len(unchanged)


def verify(
    tokens: Iterable[AccessToken],
    *,
    actor: Any = None,
    workers: int = 8,
    max_wait: float | None = None,
    backoff: tuple[float, ...] | None = None,
) -> VerifyReport:
    """Ask Twitter about each token: update ``verified_at``, ``access_level`` and
    ``screen_name`` of the valid ones; report (and record) the invalid ones, which are
    left in place for staff to discard. Retries and rate limits as in :func:`revoke`."""
    _check_workers(workers)
    twitter = TwitterClient()
    gate = _gate(max_wait, threading.Event())
    report = VerifyReport()
    answers: dict[int, Credentials] = {}

    def call(token: AccessToken, key: str, secret: str) -> None:
        answers[token.pk] = twitter.verify_credentials(key, secret)

    results = _in_parallel(
        tokens,
        call,
        twitter=twitter,
        workers=workers,
        gate=gate,
        backoff=RETRY_BACKOFF if backoff is None else backoff,
    )
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
            report.failed.append(_failure(token, why or "not attempted: Twitter's rate limit"))
    return report


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def _send_after_commit(signal: Any, tokens: list[AccessToken], *, actor: Any, reason: str) -> None:
    if not signal.has_listeners(AccessToken):
        return  # spares loading the users in bulk runs nobody listens to

    def send() -> None:
        users = _users_of(tokens)
        for token in tokens:
            signal.send(
                sender=AccessToken,
                token=token,
                user=users.get(token.user_id),
                revoked_by=actor,
                reason=reason,
            )

    transaction.on_commit(send)


def _users_of(tokens: list[AccessToken]) -> dict[Any, Any]:
    """The tokens' users: those already loaded, the others in one query."""
    loaded = {token.user_id: token.user for token in tokens if AccessToken.user.is_cached(token)}
    missing = {token.user_id for token in tokens} - loaded.keys()
    return {**get_user_model()._default_manager.in_bulk(missing), **loaded}
