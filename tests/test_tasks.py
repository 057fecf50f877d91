"""tasks.py: revocation as Django Tasks.

In-process with the immediate and dummy backends (answered by FakeTwitter), then end to
end on real workers started as subprocesses: two django-tasks-db ``db_worker`` processes
and an RQ ``rqworker``, each revoking tokens at the sandbox served by the live server.
"""

from __future__ import annotations

import collections
import importlib
import io
import math
import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import django_rq
import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from django_twitter_oauth import tasks
from django_twitter_oauth.conf import app_settings
from django_twitter_oauth.models import AccessToken, TokenEvent
from django_twitter_oauth.revocation import id_batches
from django_twitter_oauth.tasks import RevocationIncomplete, enqueue_revocation
from django_twitter_oauth.testing import FakeTwitter
from django_twitter_oauth.testing.provider import INVALIDATE_TOKEN, FakeProvider, twitter_error
from django_twitter_oauth.testing.store import CacheStore
from tests import utils
from tests.utils import hold_tokens, redis_connection

REPO = Path(__file__).resolve().parent.parent
#: Longest wait for worker subprocesses to do all the work (they take a few seconds).
WORKERS_TIMEOUT = 90.0
NOT_PERMITTED = twitter_error(87, "Client is not permitted to perform this action.")
SUMMARY_KEYS = {"revoked", "already_invalid", "discarded", "failed", "not_attempted"}


def ids(tokens: list[AccessToken]) -> list[int]:
    return [token.pk for token in tokens]


def remaining() -> set[str]:
    return set(AccessToken.objects.values_list("twitter_user_id", flat=True))


def events(action: str) -> collections.Counter[str]:
    """How many events of ``action`` each Twitter account has."""
    return collections.Counter(
        TokenEvent.objects.filter(action=action).values_list("twitter_user_id", flat=True)
    )


# -- revoke_tokens, in-process ----------------------------------------------------------


@pytest.mark.django_db
def test_revoke_tokens_revokes_exactly_the_given_ids_that_still_exist(
    fake_twitter: FakeTwitter,
) -> None:
    tokens = hold_tokens(5, twitter=fake_twitter)
    gone = tokens[3]
    gone_id = gone.pk
    gone.delete()  # deleted since the task was enqueued
    given = [tokens[0].pk, tokens[1].pk, gone_id, tokens[2].pk, tokens[0].pk]
    result = tasks.revoke_tokens.enqueue(given)
    assert result.status == "SUCCESSFUL"
    assert result.return_value == {
        "revoked": 3,
        "already_invalid": 0,
        "discarded": 0,
        "failed": [],
        "not_attempted": 0,
    }
    assert fake_twitter.count(INVALIDATE_TOKEN) == 3
    assert [fake_twitter.access_token_valid(token.token) for token in tokens] == [
        False,
        False,
        False,
        True,  # deleted here, so not this task's to revoke
        True,  # not given
    ]
    assert remaining() == {"5"}
    assert events("revoked") == {"1": 1, "2": 1, "3": 1}
    assert set(TokenEvent.objects.values_list("reason", flat=True)) == {"revoked by a task"}
    assert not TokenEvent.objects.filter(actor__isnull=False).exists()  # no staff acted


@pytest.mark.django_db
def test_running_the_same_task_again_is_harmless(fake_twitter: FakeTwitter) -> None:
    tokens = hold_tokens(3, twitter=fake_twitter)
    first = tasks.revoke_tokens.enqueue(ids(tokens), False, "breach")
    again = tasks.revoke_tokens.enqueue(ids(tokens), False, "breach")
    assert first.return_value is not None and again.return_value is not None
    assert first.return_value["revoked"] == 3
    assert again.status == "SUCCESSFUL"
    assert again.return_value == dict.fromkeys(SUMMARY_KEYS, 0) | {"failed": []}
    assert fake_twitter.count(INVALIDATE_TOKEN) == 3
    assert events("revoked") == {"1": 1, "2": 1, "3": 1}
    assert set(TokenEvent.objects.values_list("reason", flat=True)) == {"breach"}


@pytest.mark.django_db
def test_token_twitter_already_forgot_counts_as_already_invalid(
    fake_twitter: FakeTwitter,
) -> None:
    tokens = hold_tokens(2, twitter=fake_twitter)
    fake_twitter.invalidate(tokens[0].token)
    result = tasks.revoke_tokens.enqueue(ids(tokens))
    assert result.return_value is not None
    assert (result.return_value["revoked"], result.return_value["already_invalid"]) == (1, 1)
    assert remaining() == set()


@pytest.mark.django_db
def test_discard_deletes_without_calling_twitter(fake_twitter: FakeTwitter) -> None:
    tokens = hold_tokens(3, twitter=fake_twitter)
    result = tasks.revoke_tokens.enqueue(ids(tokens[:2]), True)
    assert result.return_value is not None
    assert result.return_value["discarded"] == 2
    assert fake_twitter.count(INVALIDATE_TOKEN) == 0
    assert remaining() == {"3"}
    assert events("discarded") == {"1": 1, "2": 1}
    assert set(TokenEvent.objects.values_list("reason", flat=True)) == {"discarded by a task"}
    again = tasks.revoke_tokens.enqueue(ids(tokens[:2]), True, "permission change")
    assert again.return_value is not None
    assert again.return_value["discarded"] == 0


@pytest.mark.django_db
def test_failure_fails_the_task_with_the_summary_and_keeps_the_token(
    fake_twitter: FakeTwitter,
) -> None:
    tokens = hold_tokens(3, twitter=fake_twitter)
    fake_twitter.fail(INVALIDATE_TOKEN, status=403, body=NOT_PERMITTED)
    result = tasks.revoke_tokens.enqueue(ids(tokens), False, "", 1)  # one worker: in order
    assert result.status == "FAILED"
    [error] = result.errors
    assert error.exception_class_path == "django_twitter_oauth.tasks.RevocationIncomplete"
    assert "'revoked': 2" in error.traceback
    assert "not permitted" in error.traceback
    assert remaining() == {"1"}
    assert fake_twitter.access_token_valid(tokens[0].token)
    assert events("revoked") == {"2": 1, "3": 1}
    # A retry (the backend's, or a re-run) does what is left.
    assert tasks.revoke_tokens.enqueue(ids(tokens)).return_value == {
        "revoked": 1,
        "already_invalid": 0,
        "discarded": 0,
        "failed": [],
        "not_attempted": 0,
    }
    assert remaining() == set()


@pytest.mark.django_db
def test_revocation_incomplete_carries_the_summary(fake_twitter: FakeTwitter) -> None:
    [token] = hold_tokens(1, twitter=fake_twitter)
    fake_twitter.fail(INVALIDATE_TOKEN, status=403, body=NOT_PERMITTED)
    with pytest.raises(RevocationIncomplete) as raised:
        tasks.revoke_tokens.call([token.pk])
    [summary] = raised.value.args
    assert summary["revoked"] == 0
    assert summary["failed"] == [{"twitter_user_id": "1", "reason": summary["failed"][0]["reason"]}]
    assert "not permitted" in summary["failed"][0]["reason"]
    assert token.token not in str(summary)


@pytest.mark.django_db
def test_a_token_no_key_decrypts_fails_alone(fake_twitter: FakeTwitter) -> None:
    readable = hold_tokens(2, twitter=fake_twitter)
    with override_settings(FERNET_KEYS=["a-key-since-lost"]):
        [lost] = hold_tokens(1, twitter=fake_twitter, start=3)
    with pytest.raises(RevocationIncomplete) as raised:
        tasks.revoke_tokens.call([token.pk for token in [*readable, lost]])
    [summary] = raised.value.args
    assert summary["revoked"] == 2
    [failure] = summary["failed"]
    assert failure["twitter_user_id"] == "3"
    assert "FERNET_KEYS" in failure["reason"]
    assert fake_twitter.count(INVALIDATE_TOKEN) == 2
    assert remaining() == {"3"}


@override_settings(TWITTER_OAUTH_RATE_LIMIT_MAX_WAIT=5)
@pytest.mark.django_db
def test_rate_limit_beyond_max_wait_fails_the_task_with_the_rest_not_attempted(
    fake_twitter: FakeTwitter,
) -> None:
    tokens = hold_tokens(3, twitter=fake_twitter)
    fake_twitter.rate_limit(INVALIDATE_TOKEN, reset_in=900)
    result = tasks.revoke_tokens.enqueue(ids(tokens), False, "", 1)
    assert result.status == "FAILED"
    assert "'not_attempted': 3" in result.errors[0].traceback
    assert remaining() == {"1", "2", "3"}


# -- id_batches and enqueue_revocation ------------------------------------------------


@pytest.mark.django_db
def test_id_batches_reads_the_selection_in_pk_order_by_keyset() -> None:
    tokens = hold_tokens(7)
    odd = AccessToken.objects.exclude(twitter_user_id__in=["2", "4"]).order_by("-screen_name")
    assert list(id_batches(odd, 2)) == [
        [tokens[0].pk, tokens[2].pk],
        [tokens[4].pk, tokens[5].pk],
        [tokens[6].pk],
    ]
    assert list(id_batches(AccessToken.objects.all(), 7)) == [ids(tokens)]
    assert list(id_batches(AccessToken.objects.none(), 3)) == []


@pytest.mark.django_db
def test_id_batches_continue_after_the_last_id_when_rows_go_meanwhile() -> None:
    tokens = hold_tokens(6)
    batches = id_batches(AccessToken.objects.all(), 2)
    assert next(batches) == ids(tokens[:2])
    AccessToken.objects.filter(pk__in=[tokens[0].pk, tokens[2].pk]).delete()
    assert list(batches) == [ids(tokens[3:5]), ids(tokens[5:])]


@pytest.mark.parametrize("batch_size", [0, -1])
def test_id_batches_refuses_a_batch_size_below_one(batch_size: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        next(id_batches(AccessToken.objects.none(), batch_size))


@pytest.fixture
def dummy_backend() -> Iterator[Any]:
    """The dummy tasks backend: tasks are recorded, not run."""
    with override_settings(TASKS={"default": {"BACKEND": settings.TASK_BACKENDS["dummy"]}}):
        yield tasks.revoke_tokens.get_backend()


@pytest.mark.django_db
@pytest.mark.parametrize(("count", "batch_size"), [(7, 3), (6, 3), (1, 500), (0, 2)])
def test_enqueue_revocation_enqueues_one_task_per_batch(
    dummy_backend: Any, count: int, batch_size: int
) -> None:
    tokens = hold_tokens(count)
    results = enqueue_revocation(AccessToken.objects.all(), batch_size=batch_size)
    assert len(results) == math.ceil(count / batch_size)
    assert [result.status for result in results] == ["READY"] * len(results)
    assert [result.args for result in dummy_backend.results] == [
        [ids(tokens[start : start + batch_size]), False, "", 8]
        for start in range(0, count, batch_size)
    ]
    assert remaining() == {token.twitter_user_id for token in tokens}  # nothing ran


@pytest.mark.django_db
def test_enqueue_revocation_passes_discard_reason_and_workers(dummy_backend: Any) -> None:
    tokens = hold_tokens(2)
    enqueue_revocation(
        AccessToken.objects.all(), batch_size=5, discard=True, reason="moved", workers=2
    )
    [result] = dummy_backend.results
    assert result.args == [ids(tokens), True, "moved", 2]
    assert result.task.func is tasks.revoke_tokens.func


@pytest.mark.django_db
def test_command_enqueue_with_the_immediate_backend_does_the_work(
    fake_twitter: FakeTwitter,
) -> None:
    tokens = hold_tokens(5, twitter=fake_twitter)
    out = io.StringIO()
    call_command(
        "twitter_oauth_revoke", "--all", "--noinput", "--enqueue", "--batch-size", "2", stdout=out
    )
    assert "Enqueued 3 task(s)" in out.getvalue()
    assert remaining() == set()
    assert fake_twitter.count(INVALIDATE_TOKEN) == 5
    assert not any(fake_twitter.access_token_valid(token.token) for token in tokens)
    assert events("revoked") == {str(n): 1 for n in range(1, 6)}


@pytest.mark.django_db
def test_command_enqueue_discard(fake_twitter: FakeTwitter) -> None:
    hold_tokens(3, twitter=fake_twitter)
    out = io.StringIO()
    call_command(
        "twitter_oauth_revoke",
        "--all",
        "--noinput",
        "--enqueue",
        "--discard",
        "--reason",
        "permission change",
        stdout=out,
    )
    assert "Enqueued 1 task(s)" in out.getvalue()
    assert remaining() == set()
    assert fake_twitter.count(INVALIDATE_TOKEN) == 0
    assert set(TokenEvent.objects.values_list("action", "reason")) == {
        ("discarded", "permission change")
    }


def test_without_django_tasks_the_import_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # None in sys.modules makes an import fail: neither django.tasks nor the backport.
    monkeypatch.setitem(sys.modules, "django.tasks", None)
    monkeypatch.setitem(sys.modules, "django_tasks", None)
    monkeypatch.delitem(sys.modules, "django_twitter_oauth.tasks")
    with pytest.raises(ImproperlyConfigured, match=r"django-twitter-oauth\[tasks\]"):
        importlib.import_module("django_twitter_oauth.tasks")


# -- real workers -----------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_wait_for_gives_up_after_the_timeout() -> None:
    start = time.monotonic()
    assert not wait_for(lambda: False, 0.3)
    assert time.monotonic() - start >= 0.3
    answers = iter([False, True])
    assert wait_for(lambda: next(answers), 5)


def database_url() -> str:
    """The test database, as DATABASE_URL for tests/settings.py in a subprocess. SQLite's
    test database is a file; its OPTIONS go along (transaction_mode IMMEDIATE: without it
    two workers fail with "database is locked" when one upgrades a read lock)."""
    db = connection.settings_dict
    quote = urllib.parse.quote
    return (
        f"sqlite:///{db['NAME']}?{urllib.parse.urlencode(db['OPTIONS'])}"
        if connection.vendor == "sqlite"
        else f"postgres://{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}"
        f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{quote(db['NAME'])}"
    )


class Worker:
    """A worker subprocess (``python -m django ...`` with tests.settings) whose output,
    standard error included, goes to a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "django", *args, "--settings", utils.this_settings_module()],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def exited(self) -> bool:
        return self.process.poll() is not None

    def output(self) -> str:
        return f"--- {self.name} (exit {self.process.returncode}) ---\n" + self.log.read_text(
            errors="replace"
        )

    def stop(self) -> None:
        """Ask it to stop (SIGTERM: finish the current task), then kill it regardless."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        finally:
            self.process.kill()  # a no-op once it has exited
            self.process.wait(timeout=10)


def output(workers: list[Worker]) -> str:
    return "\n".join(worker.output() for worker in workers)


def worker_env(live_server: Any, backend: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
        "TEST_TASKS_BACKEND": backend,
        "DATABASE_URL": database_url(),
        # tests/settings_second_db.py: the app's own database.
        "TOKENS_DATABASE_URL": (
            utils.database_url("tokens") if "tokens" in settings.DATABASES else ""
        ),
        "TEST_TWITTER_OAUTH_API_URL": f"{live_server.url}/sandbox",
    }


def sandbox(live_server: Any) -> FakeProvider:
    """The sandbox served by the live server, seen from here: the live server's
    thread shares this process's local-memory cache, where the sandbox keeps its state."""
    alias = app_settings.SANDBOX_CACHE
    assert alias is not None  # tests/settings.py keeps the sandbox in the cache
    caches[alias].clear()
    return FakeProvider(
        settings.TWITTER_OAUTH_CONSUMER_KEY,
        settings.TWITTER_OAUTH_CONSUMER_SECRET,
        api_url=f"{live_server.url}/sandbox",
        store=CacheStore(alias),
    )


def assert_revoked_once_each(provider: FakeProvider, tokens: list[AccessToken], log: str) -> None:
    assert [provider.access_token_valid(token.token) for token in tokens] == [False] * len(
        tokens
    ), log
    assert provider.store.get("count", INVALIDATE_TOKEN) == len(tokens), log
    assert remaining() == set(), log
    assert events("revoked") == {token.twitter_user_id: 1 for token in tokens}, log
    assert set(TokenEvent.objects.values_list("reason", flat=True)) == {"revoked by a task"}
    assert not TokenEvent.objects.filter(actor__isnull=False).exists()  # no staff acted


def enqueue_all(batch_size: int) -> str:
    out = io.StringIO()
    call_command(
        "twitter_oauth_revoke",
        "--all",
        "--noinput",
        "--enqueue",
        "--batch-size",
        str(batch_size),
        stdout=out,
    )
    return out.getvalue()


DB_TOKENS, DB_BATCH, DB_TASKS = 40, 5, 8


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_db_workers_revoke_every_token_exactly_once(live_server: Any, tmp_path: Path) -> None:
    provider = sandbox(live_server)
    tokens = hold_tokens(DB_TOKENS, twitter=provider)
    env = worker_env(live_server, "db")
    workers: list[Worker] = []
    try:
        # Each worker stops after half the tasks, so both must do work; they run side by
        # side, claiming tasks with SELECT ... FOR UPDATE SKIP LOCKED (on SQLite, with
        # exclusive transactions).
        for n in (1, 2):
            args = ["db_worker", "--worker-id", f"db-worker-{n}", "--interval", "0.1"]
            args += ["--no-startup-delay", "--no-reload", "--max-tasks", str(DB_TASKS // 2)]
            workers.append(Worker(f"db-worker-{n}", args, env, tmp_path))
        with override_settings(TASKS={"default": {"BACKEND": settings.TASK_BACKENDS["db"]}}):
            assert f"Enqueued {DB_TASKS} task(s)" in enqueue_all(DB_BATCH)
        finished = wait_for(lambda: all(worker.exited() for worker in workers), WORKERS_TIMEOUT)
    finally:
        for worker in workers:
            worker.stop()
    log = output(workers)
    assert finished, f"the workers did not finish within {WORKERS_TIMEOUT}s\n{log}"
    assert [worker.process.returncode for worker in workers] == [0, 0], log
    results = list(DBTaskResult.objects.all())
    assert [result.status for result in results] == ["SUCCESSFUL"] * DB_TASKS, log
    assert sum(result.return_value["revoked"] for result in results) == DB_TOKENS
    # Each task was claimed once, and each worker ran half of them.
    assert [len(result.worker_ids) for result in results] == [1] * DB_TASKS
    assert collections.Counter(result.worker_ids[0] for result in results) == {
        "db-worker-1": DB_TASKS // 2,
        "db-worker-2": DB_TASKS // 2,
    }
    assert_revoked_once_each(provider, tokens, log)


def test_redis_down_fails_with_how_to_fix_it() -> None:
    with pytest.raises(pytest.fail.Exception, match="Start Redis"):
        redis_connection("redis://127.0.0.1:1/15")


RQ_TOKENS, RQ_BATCH, RQ_TASKS = 40, 5, 8


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_rq_worker_revokes_every_token_exactly_once(
    live_server: Any, tmp_path: Path, redis_database: str
) -> None:
    # A Redis database of this run's own (tests.conftest.redis_database), here and in
    # the worker: no other run's jobs to run, none of ours left behind.
    rq_settings = override_settings(
        TASKS={"default": {"BACKEND": settings.TASK_BACKENDS["rq"]}},
        RQ_QUEUES={"default": {"URL": redis_database}},
    )
    provider = sandbox(live_server)
    tokens = hold_tokens(RQ_TOKENS, twitter=provider)
    with rq_settings:
        assert f"Enqueued {RQ_TASKS} task(s)" in enqueue_all(RQ_BATCH)
    # --burst: work until the queue is empty, then exit.
    worker = Worker(
        "rqworker",
        ["rqworker", "--job-class", "django_tasks_rq.Job", "--name", "rq-worker"]
        + ["--burst", "default"],
        {**worker_env(live_server, "rq"), "REDIS_URL": redis_database},
        tmp_path,
    )
    try:
        finished = wait_for(worker.exited, WORKERS_TIMEOUT)
    finally:
        worker.stop()
    log = worker.output()
    assert finished, f"the worker did not finish within {WORKERS_TIMEOUT}s\n{log}"
    assert worker.process.returncode == 0, log
    with rq_settings:
        queue = django_rq.get_queue("default")
        assert queue.failed_job_registry.get_job_ids() == [], log
        results = [
            tasks.revoke_tokens.get_result(job_id)
            for job_id in queue.finished_job_registry.get_job_ids()
        ]
    assert [result.status for result in results] == ["SUCCESSFUL"] * RQ_TASKS, log
    assert [result.worker_ids for result in results] == [["rq-worker"]] * RQ_TASKS
    assert sum(result.return_value["revoked"] for result in results) == RQ_TOKENS
    assert_revoked_once_each(provider, tokens, log)
