from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import connections, router
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings

from django_twitter_oauth import _pool, revocation, signals
from django_twitter_oauth.client import TwitterClient
from django_twitter_oauth.exceptions import TokenDecryptionError
from django_twitter_oauth.models import AccessToken, TokenEvent
from django_twitter_oauth.revocation import Failure, Report
from django_twitter_oauth.testing import FakeTwitter
from django_twitter_oauth.testing.provider import (
    INVALIDATE_TOKEN,
    USERS_ME,
    VERIFY_CREDENTIALS,
    twitter_error,
)
from tests.utils import (
    credentials,
    held,
    make_token,
    make_user,
    remaining,
    secrets_of,
    tokens_connection,
)

pytestmark = pytest.mark.django_db

NOT_PERMITTED = twitter_error(87, "Client is not permitted to perform this action.")


def assert_no_secret_in_events(tokens: list[AccessToken]) -> None:
    values = [str(value) for row in TokenEvent.objects.values() for value in row.values()]
    assert values
    for secret in secrets_of(tokens):
        assert not any(secret in value for value in values)


class FakeClock:
    """Stands in for the ``time`` module in _pool.py: nothing really waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


class ClockEvent(threading.Event):
    """A stop event whose wait() moves the fake clock instead of blocking."""

    def __init__(self, clock: FakeClock, *, set_on_wait: bool = False) -> None:
        super().__init__()
        self.clock = clock
        self.set_on_wait = set_on_wait
        self.waited: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waited.append(timeout)
        self.clock.now += timeout
        if self.set_on_wait:
            self.set()
        return self.is_set()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake_clock = FakeClock()
    monkeypatch.setattr(_pool, "time", fake_clock)
    return fake_clock


# -- revoke -------------------------------------------------------------------------------


def test_revoke_revokes_at_twitter_deletes_records_and_signals_after_commit(
    fake_twitter: FakeTwitter,
    received: dict[str, list[dict[str, Any]]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    staff = make_user("staff", is_staff=True)
    tokens = held(fake_twitter, 3)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        report = revocation.revoke(tokens, actor=staff, reason="leaked database")
        assert received["revoked"] == []  # not before the commit
    assert len(callbacks) == 3  # one robust send per token
    assert report == Report(revoked=3)
    assert report.ok
    assert report.done == 3
    assert fake_twitter.count(INVALIDATE_TOKEN) == 3
    for token in tokens:
        assert not fake_twitter.access_token_valid(token.token)
    assert remaining() == set()
    events = TokenEvent.objects.order_by("twitter_user_id")
    assert [
        (e.twitter_user_id, e.screen_name, e.user, e.action, e.actor, e.reason) for e in events
    ] == [
        (t.twitter_user_id, t.screen_name, t.user, "revoked", staff, "leaked database")
        for t in tokens
    ]
    assert_no_secret_in_events(tokens)
    assert sorted(received["revoked"], key=lambda kwargs: kwargs["token"].pk) == [
        {
            "signal": signals.token_revoked,
            "token": token,
            "user": token.user,
            "revoked_by": staff,
            "reason": "leaked database",
        }
        for token in tokens
    ]
    assert {id(kwargs["token"]) for kwargs in received["revoked"]} == {id(t) for t in tokens}
    assert received["discarded"] == []


def test_token_twitter_already_considers_invalid_counts_as_revoked(
    fake_twitter: FakeTwitter,
    received: dict[str, list[dict[str, Any]]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    unknown = held(None, 1, start=1)  # Twitter never issued it
    forgotten = held(fake_twitter, 1, start=2)
    fake_twitter.invalidate(forgotten[0].token)  # the user revoked the app at Twitter
    with django_capture_on_commit_callbacks(execute=True):
        report = revocation.revoke(unknown + forgotten, reason="cleanup")
    assert report == Report(already_invalid=2)
    assert report.ok
    assert remaining() == set()
    assert [(e.action, e.reason, e.actor) for e in TokenEvent.objects.all()] == [
        ("revoked", "cleanup; already invalid at Twitter", None)
    ] * 2
    assert [kwargs["reason"] for kwargs in received["revoked"]] == ["cleanup", "cleanup"]
    assert {kwargs["revoked_by"] for kwargs in received["revoked"]} == {None}


def test_already_invalid_without_reason_says_so(fake_twitter: FakeTwitter) -> None:
    revocation.revoke(held(None))
    assert TokenEvent.objects.get().reason == "already invalid at Twitter"


def test_refused_token_is_kept_and_reported_others_revoked(
    fake_twitter: FakeTwitter,
    received: dict[str, list[dict[str, Any]]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    tokens = held(fake_twitter, 3)
    fake_twitter.fail(INVALIDATE_TOKEN, status=403, body=NOT_PERMITTED)
    with django_capture_on_commit_callbacks(execute=True):
        # One worker: the first token meets the refusal.
        report = revocation.revoke(tokens, workers=1)
    assert report.revoked == 2
    assert not report.ok
    [failure] = report.failed
    refused = tokens[0]
    assert failure == Failure(refused.pk, "1", "user1", failure.reason)
    assert "HTTP 403" in failure.reason
    assert "code 87" in failure.reason
    for secret in credentials(1):
        assert secret not in failure.reason
    assert remaining() == {"1"}
    assert fake_twitter.access_token_valid(refused.token)
    assert set(TokenEvent.objects.values_list("twitter_user_id", flat=True)) == {"2", "3"}
    assert {kwargs["token"].twitter_user_id for kwargs in received["revoked"]} == {"2", "3"}


@pytest.mark.parametrize("fault", ["status", "connection", "timeout"])
def test_unavailable_is_retried_twice_with_backoff_then_reported(
    fake_twitter: FakeTwitter, clock: FakeClock, fault: str
) -> None:
    token = held(fake_twitter)[0]
    if fault == "status":
        fake_twitter.fail(INVALIDATE_TOKEN, status=503, times=3)
    elif fault == "connection":
        fake_twitter.fail_connection(INVALIDATE_TOKEN, times=3)
    else:
        fake_twitter.fail_timeout(INVALIDATE_TOKEN, times=3)
    report = revocation.revoke([token])
    assert clock.slept == list(revocation.RETRY_BACKOFF)
    assert fake_twitter.count(INVALIDATE_TOKEN) == 3
    [failure] = report.failed
    assert failure.token_id == token.pk
    assert ("HTTP 503" if fault == "status" else "Could not reach Twitter") in failure.reason
    assert report.revoked == 0
    assert remaining() == {"1"}
    assert fake_twitter.access_token_valid(token.token)
    assert not TokenEvent.objects.exists()


def test_success_on_a_retry(fake_twitter: FakeTwitter, clock: FakeClock) -> None:
    token = held(fake_twitter)[0]
    fake_twitter.fail(INVALIDATE_TOKEN, status=500)
    fake_twitter.fail_connection(INVALIDATE_TOKEN)
    report = revocation.revoke([token], backoff=(0.1, 0.2))
    assert report == Report(revoked=1)
    assert clock.slept == [0.1, 0.2]
    assert fake_twitter.count(INVALIDATE_TOKEN) == 3
    assert remaining() == set()


@pytest.mark.parametrize(
    ("reset_in", "max_wait", "minimum", "maximum"),
    [(1, 5, 1, 2), (None, 60, 60, 60)],
)
def test_rate_limit_within_max_wait_waits_then_succeeds(
    fake_twitter: FakeTwitter,
    clock: FakeClock,
    reset_in: int | None,
    max_wait: float,
    minimum: float,
    maximum: float,
) -> None:
    tokens = held(fake_twitter, 3)
    fake_twitter.rate_limit(INVALIDATE_TOKEN, reset_in=reset_in)
    stop = ClockEvent(clock)
    report = revocation.revoke(tokens, workers=1, max_wait=max_wait, stop=stop)
    assert report == Report(revoked=3)
    assert fake_twitter.count(INVALIDATE_TOKEN) == 4
    assert minimum <= sum(stop.waited) <= maximum + 0.001
    assert all(0 < waited <= 1.0 for waited in stop.waited)  # wakes up to check stop
    assert remaining() == set()


@pytest.mark.parametrize(
    ("reset_in", "max_wait", "setting"),
    [(60, 5, 900), (None, 59, 900), (120, None, 100)],
)
def test_rate_limit_beyond_max_wait_leaves_the_rest_not_attempted(
    fake_twitter: FakeTwitter,
    clock: FakeClock,
    reset_in: int | None,
    max_wait: float | None,
    setting: int,
) -> None:
    tokens = held(fake_twitter, 3)
    fake_twitter.rate_limit(INVALIDATE_TOKEN, reset_in=reset_in)
    with override_settings(TWITTER_OAUTH_RATE_LIMIT_MAX_WAIT=setting):
        report = revocation.revoke(tokens, workers=1, max_wait=max_wait)
    assert report == Report(not_attempted=3)
    assert not report.ok
    assert not report.stopped
    assert fake_twitter.count(INVALIDATE_TOKEN) == 1
    assert remaining() == {"1", "2", "3"}
    assert not TokenEvent.objects.exists()
    assert clock.now == 1000.0  # nothing waited


def test_stop_during_a_rate_limit_pause(fake_twitter: FakeTwitter, clock: FakeClock) -> None:
    tokens = held(fake_twitter, 2)
    fake_twitter.rate_limit(INVALIDATE_TOKEN, reset_in=1)
    stop = ClockEvent(clock, set_on_wait=True)
    report = revocation.revoke(tokens, workers=1, max_wait=5, stop=stop)
    assert report == Report(not_attempted=2, stopped=True)
    assert stop.waited  # it was waiting when stopped
    assert fake_twitter.count(INVALIDATE_TOKEN) == 1
    assert remaining() == {"1", "2"}


def test_stop_lets_calls_in_flight_finish_and_skips_the_rest(
    fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = held(fake_twitter, 5)
    stop = threading.Event()
    both_in_flight = threading.Barrier(2, timeout=5)
    original = TwitterClient.invalidate_token

    def invalidate(client: TwitterClient, token: str, secret: str) -> None:
        both_in_flight.wait()  # only two calls ever start
        stop.set()
        original(client, token, secret)

    monkeypatch.setattr(TwitterClient, "invalidate_token", invalidate)
    report = revocation.revoke(tokens, workers=2, stop=stop)
    assert report == Report(revoked=2, not_attempted=3, stopped=True)
    assert fake_twitter.count(INVALIDATE_TOKEN) == 2
    assert remaining() == {"3", "4", "5"}
    assert TokenEvent.objects.count() == 2


def test_second_run_does_only_what_is_left(
    fake_twitter: FakeTwitter,
    received: dict[str, list[dict[str, Any]]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    tokens = held(fake_twitter, 3)
    selection = AccessToken.objects.filter(twitter_user_id__in=["1", "2", "3"])
    fake_twitter.fail(INVALIDATE_TOKEN, status=403, body=NOT_PERMITTED)
    with django_capture_on_commit_callbacks(execute=True):
        first = revocation.revoke(selection.order_by("pk"), workers=1)
    assert (first.revoked, len(first.failed)) == (2, 1)
    with django_capture_on_commit_callbacks(execute=True):
        second = revocation.revoke(selection.all())
    assert second == Report(revoked=1)
    assert fake_twitter.count(INVALIDATE_TOKEN) == 4
    assert remaining() == set()
    assert TokenEvent.objects.count() == 3
    assert len(received["revoked"]) == 3
    # The first run's instances again: Twitter says they are invalid, the rows are gone,
    # and nothing is recorded or signalled twice.
    with django_capture_on_commit_callbacks(execute=True):
        third = revocation.revoke(tokens)
    assert third == Report(already_invalid=3)
    assert TokenEvent.objects.count() == 3
    assert len(received["revoked"]) == 3


def test_row_changed_meanwhile_is_not_deleted(
    fake_twitter: FakeTwitter,
    received: dict[str, list[dict[str, Any]]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    valid, unchanged = held(fake_twitter, 2)
    unknown = held(None, 1, start=3)[0]  # already invalid at Twitter
    new_key, new_secret = credentials(99)

    def reauthorize(report: Report) -> None:
        # Between the call to Twitter and the deletion, both users authorize again.
        if report.done == 1:
            for pk in (valid.pk, unknown.pk):
                row = AccessToken.objects.get(pk=pk)
                row.token, row.secret = new_key, new_secret
                row.save()

    with django_capture_on_commit_callbacks(execute=True):
        report = revocation.revoke([valid, unchanged, unknown], progress=reauthorize)
    assert (report.revoked, report.already_invalid) == (1, 0)
    assert sorted(report.failed, key=lambda failure: failure.token_id) == [
        Failure(valid.pk, "1", "user1", revocation.CHANGED_MEANWHILE),
        Failure(unknown.pk, "3", "user3", revocation.CHANGED_MEANWHILE),
    ]
    assert remaining() == {"1", "3"}
    assert AccessToken.objects.get(pk=valid.pk).token == new_key
    assert list(TokenEvent.objects.values_list("twitter_user_id", flat=True)) == ["2"]
    assert [kwargs["token"] for kwargs in received["revoked"]] == [unchanged]


def test_row_deleted_meanwhile_counts_as_done_without_a_second_record(
    fake_twitter: FakeTwitter,
    received: dict[str, list[dict[str, Any]]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    tokens = held(fake_twitter, 2)

    def disconnect(report: Report) -> None:
        AccessToken.objects.filter(pk=tokens[0].pk).delete()

    with django_capture_on_commit_callbacks(execute=True):
        report = revocation.revoke(tokens, progress=disconnect)
    assert report == Report(revoked=2)
    assert remaining() == set()
    assert list(TokenEvent.objects.values_list("twitter_user_id", flat=True)) == ["2"]
    assert [kwargs["token"] for kwargs in received["revoked"]] == [tokens[1]]


@pytest.mark.parametrize("workers", [0, -1])
def test_workers_must_be_at_least_one(workers: int) -> None:
    with pytest.raises(ValueError, match="workers must be at least 1"):
        revocation.revoke([], workers=workers)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        revocation.verify([], workers=workers)


def test_tokens_are_pulled_lazily_with_at_most_workers_in_flight(
    fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = held(fake_twitter, 6)
    pulled = 0
    lock = threading.Lock()
    in_flight = peak = calls = 0
    pulled_while_blocked: list[int] = []
    first_two = threading.Barrier(2, timeout=5)
    original = TwitterClient.invalidate_token

    def selection() -> Iterator[AccessToken]:
        nonlocal pulled
        for token in tokens:
            pulled += 1
            yield token

    def invalidate(client: TwitterClient, token: str, secret: str) -> None:
        nonlocal in_flight, peak, calls
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
            calls += 1
            number = calls
        if number <= 2:
            first_two.wait()  # both workers busy: nothing more may be pulled
            pulled_while_blocked.append(pulled)
            first_two.wait()
        original(client, token, secret)
        with lock:
            in_flight -= 1

    monkeypatch.setattr(TwitterClient, "invalidate_token", invalidate)
    report = revocation.revoke(selection(), workers=2)
    assert report == Report(revoked=6)
    assert pulled_while_blocked == [2, 2]
    assert peak == 2
    assert pulled == 6


def test_deletions_are_flushed_in_batches(
    fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(revocation, "FLUSH_EVERY", 2)
    tokens = held(fake_twitter, 5)
    with CaptureQueriesContext(tokens_connection()) as queries:
        report = revocation.revoke(tokens, workers=1)
    assert report == Report(revoked=5)
    assert remaining() == set()
    assert TokenEvent.objects.count() == 5
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3


def test_progress_is_called_after_each_token(fake_twitter: FakeTwitter) -> None:
    tokens = held(fake_twitter, 3) + held(None, 1, start=4)
    fake_twitter.fail(INVALIDATE_TOKEN, status=403, body=NOT_PERMITTED)
    seen: list[tuple[int, int, int]] = []

    def progress(report: Report) -> None:
        seen.append((report.revoked, report.already_invalid, len(report.failed)))

    revocation.revoke(tokens, workers=1, progress=progress)
    assert seen == [(0, 0, 1), (1, 0, 1), (2, 0, 1), (2, 1, 1)]


def test_empty_selection() -> None:
    assert revocation.revoke([]) == Report()
    assert revocation.discard([]) == Report()
    assert revocation.verify([]) == revocation.VerifyReport()


def test_no_listener_no_signal_work(
    fake_twitter: FakeTwitter,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    assert not signals.token_revoked.has_listeners(AccessToken)
    assert not signals.token_discarded.has_listeners(AccessToken)
    held(fake_twitter, 2)
    held(None, 1, start=3)
    tokens = list(AccessToken.objects.order_by("pk"))  # users not loaded
    with (
        CaptureQueriesContext(tokens_connection()) as queries,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        revocation.revoke(tokens[:2])
        revocation.discard(tokens[2:])
    assert callbacks == []
    table = get_user_model()._meta.db_table
    assert not any(table in query["sql"] for query in queries.captured_queries)
    assert remaining() == set()


def test_listeners_get_the_users_loaded_in_one_query(
    fake_twitter: FakeTwitter,
    received: dict[str, list[dict[str, Any]]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    held(fake_twitter, 2, user=alice)
    held(fake_twitter, 1, user=bob, start=3)
    tokens = list(AccessToken.objects.order_by("pk"))  # users not loaded
    tokens[0].user  # noqa: B018  # this one is
    # The users' own database (the app's, unless a router keeps them apart).
    users_connection = connections[router.db_for_read(get_user_model())]
    with (
        CaptureQueriesContext(users_connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        revocation.revoke(tokens)
    table = get_user_model()._meta.db_table
    user_queries = [q for q in queries.captured_queries if table in q["sql"]]
    assert len(user_queries) == 1
    users = {kwargs["token"].twitter_user_id: kwargs["user"] for kwargs in received["revoked"]}
    assert users == {"1": alice, "2": alice, "3": bob}


def test_deferred_credentials_are_read_before_the_call(fake_twitter: FakeTwitter) -> None:
    held(fake_twitter, 2)
    report = revocation.revoke(AccessToken.objects.defer("token", "secret"))
    assert report == Report(revoked=2)
    assert remaining() == set()


def test_undecryptable_token_is_reported_not_raised(fake_twitter: FakeTwitter) -> None:
    held(fake_twitter, 1)
    tokens = list(AccessToken.objects.defer("token", "secret"))
    with override_settings(FERNET_KEYS=["another-key"]):
        report = revocation.revoke(tokens)
        verified = revocation.verify(tokens)
    [failure] = report.failed
    assert "FERNET_KEYS" in failure.reason
    assert failure.reason == str(TokenDecryptionError("twitter_oauth.AccessToken.token"))
    assert [f.reason for f in verified.failed] == [failure.reason]
    assert fake_twitter.calls == []
    assert remaining() == {"1"}


def test_iterate_reads_keyset_batches_where_an_unreadable_row_fails_alone(
    fake_twitter: FakeTwitter,
) -> None:
    held(fake_twitter, 1)
    with override_settings(FERNET_KEYS=["a-key-since-lost"]):
        held(fake_twitter, 1, start=2)
    held(fake_twitter, 2, start=3)
    with CaptureQueriesContext(tokens_connection()) as queries:
        report = revocation.revoke(revocation.iterate(AccessToken.objects.all(), 2), workers=1)
    # 2 + 2 rows, then none; the batch with the lost key is read again, deferred.
    assert sum(1 for q in queries if re.search(r"LIMIT 2\b", q["sql"])) == 4
    assert report.revoked == 3
    [failure] = report.failed
    assert (failure.twitter_user_id, "FERNET_KEYS" in failure.reason) == ("2", True)
    assert remaining() == {"2"}


def test_id_batches_and_iterate_refuse_a_batch_size_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        next(revocation.iterate(AccessToken.objects.none(), 0))
    with pytest.raises(ValueError, match="at least 1"):
        next(revocation.id_batches(AccessToken.objects.none(), -1))


def test_a_failing_receiver_is_logged_and_undoes_nothing(
    fake_twitter: FakeTwitter,
    received: dict[str, list[dict[str, Any]]],
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    signals.token_revoked.connect(broken, sender=AccessToken)
    try:
        held(fake_twitter, 2)
        with django_capture_on_commit_callbacks(execute=True):
            report = revocation.revoke(AccessToken.objects.all())
    finally:
        signals.token_revoked.disconnect(broken, sender=AccessToken)
    assert report == Report(revoked=2)
    assert remaining() == set()
    assert len(received["revoked"]) == 2  # the other receivers still ran
    failures = [r for r in caplog.records if r.name == "django_twitter_oauth.signals"]
    assert [str(r.exc_info[1]) for r in failures if r.exc_info] == ["receiver bug"] * 2


def test_report_merge() -> None:
    failure = Failure(1, "1", "one", "why")
    report = Report(revoked=1, already_invalid=2, discarded=0, failed=[], not_attempted=0)
    report.merge(
        Report(revoked=1, already_invalid=0, discarded=3, failed=[failure], not_attempted=4)
    )
    assert report == Report(
        revoked=2, already_invalid=2, discarded=3, failed=[failure], not_attempted=4
    )
    assert report.done == 7
    assert not report.ok
    report.merge(Report(stopped=True))
    assert report.stopped
    report.merge(Report())
    assert report.stopped


# -- discard ------------------------------------------------------------------------------


def test_discard_deletes_without_calling_twitter(
    fake_twitter: FakeTwitter,
    received: dict[str, list[dict[str, Any]]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    staff = make_user("staff", is_staff=True)
    tokens = held(fake_twitter, 3)
    with django_capture_on_commit_callbacks(execute=True):
        report = revocation.discard(tokens, actor=staff, reason="permission changed")
        assert received["discarded"] == []
    assert report == Report(discarded=3)
    assert report.ok
    assert fake_twitter.counts == {}
    assert all(fake_twitter.access_token_valid(token.token) for token in tokens)
    assert remaining() == set()
    assert set(TokenEvent.objects.values_list("action", "actor", "reason")) == {
        ("discarded", staff.pk, "permission changed")
    }
    assert TokenEvent.objects.count() == 3
    assert_no_secret_in_events(tokens)
    assert sorted(received["discarded"], key=lambda kwargs: kwargs["token"].pk) == [
        {
            "signal": signals.token_discarded,
            "token": token,
            "user": token.user,
            "revoked_by": staff,
            "reason": "permission changed",
        }
        for token in tokens
    ]
    assert received["revoked"] == []


def test_discard_skips_tokens_already_deleted(
    received: dict[str, list[dict[str, Any]]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    tokens = held(None, 3)
    AccessToken.objects.filter(pk=tokens[1].pk).delete()
    with django_capture_on_commit_callbacks(execute=True):
        report = revocation.discard(tokens)
    assert report == Report(discarded=2)
    assert set(TokenEvent.objects.values_list("twitter_user_id", flat=True)) == {"1", "3"}
    assert [kwargs["token"] for kwargs in received["discarded"]] == [tokens[0], tokens[2]]
    with django_capture_on_commit_callbacks(execute=True):
        assert revocation.discard(tokens) == Report()
    assert TokenEvent.objects.count() == 2
    assert len(received["discarded"]) == 2


def test_discard_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(revocation, "FLUSH_EVERY", 2)
    held(None, 5)
    with CaptureQueriesContext(tokens_connection()) as queries:
        report = revocation.discard(token for token in AccessToken.objects.all())
    assert report == Report(discarded=5)
    assert remaining() == set()
    assert TokenEvent.objects.count() == 5
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3


def test_anonymous_actor_is_recorded_as_none() -> None:
    held(None, 1)
    revocation.discard(AccessToken.objects.all(), actor=AnonymousUser())
    assert TokenEvent.objects.get().actor is None


# -- verify -------------------------------------------------------------------------------


def test_verify_updates_valid_tokens(fake_twitter: FakeTwitter, settings: Settings) -> None:
    # v1.1's answer carries x-access-level; the default 2/users/me's does not (test_tiers).
    settings.TWITTER_OAUTH_VERIFY_ENDPOINT = VERIFY_CREDENTIALS
    token = held(None, 1, access_level="read-write")[0]
    key, secret = credentials(1)
    fake_twitter.add_access_token(
        key, secret, user_id="1", screen_name="renamed", access_level="read"
    )
    updated_at = token.updated_at
    report = revocation.verify([token])
    assert report == revocation.VerifyReport(valid=1)
    row = AccessToken.objects.get()
    assert row.verified_at is not None
    assert (row.screen_name, row.access_level) == ("renamed", "read")
    assert row.updated_at == updated_at  # a check is not a re-authorization
    assert (token.screen_name, token.access_level, token.verified_at) == (
        "renamed",
        "read",
        row.verified_at,
    )
    assert fake_twitter.count(VERIFY_CREDENTIALS) == 1
    assert not TokenEvent.objects.exists()


def test_verify_keeps_the_access_level_when_twitter_does_not_say(
    fake_twitter: FakeTwitter,
) -> None:
    held(fake_twitter, 1, access_level="read-write-directmessages")
    fake_twitter.provider.send_access_level = False
    report = revocation.verify(AccessToken.objects.all())
    assert report.valid == 1
    assert AccessToken.objects.get().access_level == "read-write-directmessages"


def test_verify_reports_and_records_invalid_tokens(fake_twitter: FakeTwitter) -> None:
    staff = make_user("staff", is_staff=True)
    valid = held(fake_twitter, 1)
    invalid = held(None, 2, start=2)
    report = revocation.verify(valid + invalid, actor=staff)
    assert report.valid == 1
    assert sorted(report.invalid, key=lambda token: token.pk) == invalid
    assert report.failed == []
    assert remaining() == {"1", "2", "3"}  # kept, for staff to discard
    assert set(TokenEvent.objects.values_list("twitter_user_id", "action", "actor", "reason")) == {
        ("2", "found_invalid", staff.pk, "verify"),
        ("3", "found_invalid", staff.pk, "verify"),
    }
    assert_no_secret_in_events(invalid)
    assert AccessToken.objects.get(twitter_user_id="2").verified_at is None


def test_verify_reports_failures(fake_twitter: FakeTwitter, clock: FakeClock) -> None:
    tokens = held(fake_twitter, 4)
    fake_twitter.fail(USERS_ME, status=403, body=NOT_PERMITTED)
    fake_twitter.fail(USERS_ME, status=502, times=2)
    fake_twitter.rate_limit(USERS_ME, reset_in=600)
    report = revocation.verify(tokens, workers=1, max_wait=10, backoff=(0.5,))
    assert report.valid == 0
    assert report.invalid == []
    reasons = [failure.reason for failure in report.failed]
    assert [failure.token_id for failure in report.failed] == [t.pk for t in tokens]
    assert "HTTP 403" in reasons[0]
    assert "HTTP 502" in reasons[1]
    assert reasons[2:] == [revocation.VERIFY_RATE_LIMITED] * 2
    assert clock.slept == [0.5]
    assert fake_twitter.count(USERS_ME) == 4
    assert AccessToken.objects.filter(verified_at__isnull=False).count() == 0
    assert not TokenEvent.objects.exists()


@pytest.mark.django_db
def test_discard_keeps_a_row_reauthorized_since_it_was_read() -> None:
    from django_twitter_oauth.revocation import DISCARD_CHANGED_MEANWHILE

    stale = make_token(app_permission="read", access_level="read")
    loaded = AccessToken.objects.get(pk=stale.pk)
    # The user re-authorizes (the flow updates the row) after the selection was read.
    stale.app_permission = "read-write"
    stale.save()
    report = revocation.discard([loaded], reason="permission change")
    assert report.discarded == 0
    assert [f.reason for f in report.failed] == [DISCARD_CHANGED_MEANWHILE]
    assert AccessToken.objects.filter(pk=stale.pk).exists()
    assert not TokenEvent.objects.exists()
