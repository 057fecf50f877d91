"""A bounded pool of workers calling Twitter, with retries and a shared rate-limit gate.

Private: :mod:`django_twitter_oauth.revocation` is its one user and holds the domain
logic (what each call is, what its outcome means for the rows). Nothing here knows
about tokens, rows or signals.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from django_twitter_oauth.exceptions import (
    TokenInvalid,
    TwitterError,
    TwitterOAuthError,
    TwitterRateLimited,
    TwitterUnavailable,
)

_Item = TypeVar("_Item")

#: Seconds to wait before the first and second retry of a 5xx or connection error.
RETRY_BACKOFF = (0.5, 1.5)
#: Wait when a 429 carries no x-rate-limit-reset (Twitter's windows are 15 minutes).
DEFAULT_RATE_LIMIT_WAIT = 60.0
#: Waits for a rate limit one call may make: a call still refused after that many resets
#: (a 429 that never lifts) gives up the run, rather than waiting forever.
MAX_RATE_LIMIT_WAITS = 3

# What one call to Twitter came to.
OK, INVALID, FAILED, NOT_ATTEMPTED = "ok", "invalid", "failed", "not_attempted"


class RateGate:
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


def call_with_retries(
    call: Callable[[], None], gate: RateGate, backoff: tuple[float, ...]
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


def in_parallel(
    items: Iterable[_Item],
    job_for: Callable[[_Item], Callable[[], None]],
    *,
    client: AbstractContextManager[Any],
    workers: int,
    gate: RateGate,
    backoff: tuple[float, ...],
) -> Iterator[tuple[_Item, str, str]]:
    """Run ``job_for(item)()`` for each item, with retries and at most ``workers`` in
    flight; yield (item, outcome, reason) as they finish. Items are pulled from the
    iterable only when a worker is free, so memory stays bounded. ``client`` is entered
    for the whole run (its workers reuse their connections until the pool is done).

    ``job_for`` runs on the caller's thread (a deferred column is loaded on this
    thread's database connection); should it raise one of the app's errors (a value no
    key decrypts), that item alone fails, with the error's message as the reason.
    """
    iterator = iter(items)
    # Each call hands its future over as it finishes: concurrent.futures.wait() would
    # visit every running future for each finished one.
    finished: queue.SimpleQueue[Future[tuple[str, str]]] = queue.SimpleQueue()
    with (
        client,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="twitter-oauth") as pool,
    ):
        running: dict[Future[tuple[str, str]], _Item] = {}
        exhausted = False
        done: tuple[_Item, str, str] | None = None
        while running or not exhausted or done is not None:
            while not exhausted and len(running) < workers:
                try:
                    item = next(iterator)
                except StopIteration:
                    exhausted = True
                    continue
                result: tuple[_Item, str, str] | None = None
                if gate.given_up():
                    result = (item, NOT_ATTEMPTED, "")
                else:
                    try:
                        job = job_for(item)
                    except TwitterOAuthError as exc:
                        result = (item, FAILED, str(exc))
                    else:
                        future = pool.submit(call_with_retries, job, gate, backoff)
                        running[future] = item
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
