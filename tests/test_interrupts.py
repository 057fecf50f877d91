"""Interrupted work (issue #9): ``manage.py twitter_oauth_revoke`` and
``twitter_oauth_rotate_keys`` as subprocesses, stopped with SIGTERM or killed with
SIGKILL at chosen points, then run again. docs/_reliability/interrupts.inc has the
figures (run with ``-s`` to see each case's).

Bulk revocation runs against the sandbox served by the live server, whose
invalidate_token endpoint is held at a chosen call: the fake Twitter has invalidated
that call's token but its answer is held back, and the next call waits before the fake
Twitter sees it. The signal is sent then, so the state at the kill is known exactly.

"Exactly once" for a revocation means: every token is invalidated successfully at
Twitter exactly once (one 200 answer) and gets exactly one ``revoked`` TokenEvent. It
cannot mean one call per token: a SIGKILL after Twitter confirmed an invalidation and
before the deletion was committed (the held call, and the confirmations waiting for
their batch of :data:`~django_twitter_oauth.revocation.FLUSH_EVERY`) leaves tokens that
are stored here but already invalid at Twitter. The re-run calls Twitter once more for
exactly those tokens, gets 401 code 89 and records them as revoked ("already invalid at
Twitter"). SIGTERM leaves no such token: the command stops handing out work, lets the
calls in flight finish and records them.

Key rotation runs over a few thousand rows while a reader thread decrypts every row,
again and again, with the new and the old key. The rotation is stopped inside a batch's
transaction (some rows of the batch already rewritten, uncommitted) and the signal
comes then: on PostgreSQL the test holds a lock on the row it must update next; on
SQLite a trigger on that row's update calls a function that the rotation's settings
module registers, which waits.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import MultiFernet
from django.db import connections, transaction
from django.test import override_settings

from django_twitter_oauth import fields, rotation
from django_twitter_oauth.models import AccessToken, TokenEvent
from django_twitter_oauth.revocation import FLUSH_EVERY
from django_twitter_oauth.testing.provider import (
    INVALIDATE_TOKEN,
    FakeProvider,
    FakeResponse,
    twitter_error,
)
from tests.utils import (
    NEW,
    OLD,
    ROOT,
    bulk_hold_tokens,
    ciphertexts,
    credentials,
    make_user,
    manage,
    manage_args,
    manage_env,
    sandbox_caches,
    summary,
    this_settings_module,
    tokens_alias,
    tokens_connection,
)
from tests.utils import sandbox_provider as sandbox

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: Seconds any wait may take before the test gives up: a guard, never a measure.
GUARD = 60.0


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GUARD
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def start(*args: str, env: dict[str, str], settings_module: str) -> subprocess.Popen[str]:
    """``manage.py <args>`` in the background, standard error merged into its output."""
    return subprocess.Popen(
        manage_args(*args, settings_module=settings_module),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def waiting_for_a_lock() -> int:
    """PostgreSQL: the sessions of the app's test database waiting for a lock."""
    with tokens_connection().cursor() as cursor:
        # Inside a transaction the statistics views keep the first snapshot taken.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        (count,) = cursor.fetchone()
    return int(count)


#: A settings module for a command that the test holds inside a transaction on SQLite:
#: it registers ``hold_here()`` on every connection, which marks the file ``held`` and
#: waits (until the test kills the command). The test's trigger calls it.
HOLD_SETTINGS = """\
import pathlib
import time

from django.db.backends.signals import connection_created

from {base} import *  # noqa: F403

{extra}


def _hold_here():
    pathlib.Path({held!r}).touch()
    time.sleep({guard})
    return 0


def _register(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        connection.connection.create_function("hold_here", 0, _hold_here)


connection_created.connect(_register)
"""
HOLD_TRIGGER = "interrupts_hold_here"


def hold_settings(directory: Path, extra: str = "") -> tuple[dict[str, str], Path]:
    """The environment of a command run with HOLD_SETTINGS (``settings_module
    "hold_settings"``), and the file it marks when held."""
    held = directory / "held"
    (directory / "hold_settings.py").write_text(
        HOLD_SETTINGS.format(base=this_settings_module(), extra=extra, held=str(held), guard=GUARD)
    )
    return manage_env(pythonpath=str(directory)), held


@contextmanager
def held_inside_transaction(
    held: Path, *, lock: Callable[[], None], trigger: str
) -> Iterator[Callable[[], None]]:
    """Yields a function that returns once the command waits inside its transaction,
    where it stays until the block ends.

    PostgreSQL: ``lock()`` takes a lock (in the test's transaction) before the command
    starts; the command waits for it. SQLite (no lock holds a writer inside its
    transaction): the trigger ``BEFORE <trigger>`` calls the command's ``hold_here()``.
    """
    with ExitStack() as stack:
        if tokens_connection().vendor == "postgresql":
            stack.enter_context(transaction.atomic(using=tokens_alias()))
            lock()

            def reached() -> None:
                wait_until(lambda: waiting_for_a_lock() > 0, "the command to wait")

        else:
            with tokens_connection().cursor() as cursor:
                cursor.execute(
                    f"CREATE TRIGGER {HOLD_TRIGGER} BEFORE {trigger} BEGIN SELECT hold_here(); END"
                )

            def drop() -> None:
                with tokens_connection().cursor() as cursor:
                    cursor.execute(f"DROP TRIGGER {HOLD_TRIGGER}")

            stack.callback(drop)

            def reached() -> None:
                wait_until(held.exists, "the command to wait")

        yield reached


# -- bulk revocation ---------------------------------------------------------------------

#: Tokens revoked in each case: a few hundred, so that kills land before, between and
#: after the deletions, which are committed every FLUSH_EVERY (100) confirmations.
TOKENS = 250
ALL = set(range(1, TOKENS + 1))
#: The call to invalidate_token held when the signal comes. "late" leaves one token
#: that no call reached.
KILL_POINTS = {"early": 1, "middle": 125, "late": TOKENS - 2}
REVOKE = ("twitter_oauth_revoke", "--all", "--noinput", "--workers", "2")
STOPPING = "Stopping: finishing the calls in flight ..."
ALREADY_INVALID = "already invalid at Twitter"
_OAUTH_TOKEN = re.compile(r'oauth_token="([^"]*)"')
_NUMBER_OF_KEY = {credentials(number)[0]: number for number in ALL}


class HeldSandbox:
    """The sandbox's invalidate_token endpoint, observed and held at one call.

    Calls are numbered as they arrive. Call ``hold_at`` is answered by the fake
    Twitter (its token is invalidated) and its answer is then held back; later calls
    wait before the fake Twitter sees them. :meth:`release` lets them go on; with
    ``cut`` the calls waiting then never reach the fake Twitter (their client was
    killed; Twitter never saw them). ``answers`` has the (token number, status) of
    every call the fake Twitter answered, in order.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, hold_at: int) -> None:
        self.arrived = 0
        self.answers: list[tuple[int, int]] = []
        self.held = threading.Event()
        self._released = threading.Event()
        self._cut_up_to = 0
        self._lock = threading.Lock()
        original = FakeProvider.handle

        def handle(
            provider: FakeProvider,
            method: str,
            url: str,
            headers: Mapping[str, str],
            body: str | bytes | None,
        ) -> FakeResponse:
            with self._lock:
                self.arrived += 1
                number = self.arrived
            if number > hold_at:
                self._released.wait(GUARD)
                if number <= self._cut_up_to:
                    return FakeResponse(503, twitter_error(130, "Over capacity."))
            answer = original(provider, method, url, headers, body)
            match = _OAUTH_TOKEN.search(headers["Authorization"])
            assert match is not None
            with self._lock:
                self.answers.append((_NUMBER_OF_KEY[urllib.parse.unquote(match[1])], answer.status))
            if number == hold_at:
                self.held.set()
                self._released.wait(GUARD)
            return answer

        monkeypatch.setattr(FakeProvider, "handle", handle)

    def release(self, *, cut: bool) -> None:
        with self._lock:
            if cut:
                self._cut_up_to = self.arrived
        self._released.set()

    def statuses(self) -> dict[int, list[int]]:
        """The status of each answered call, by token number."""
        per_token: dict[int, list[int]] = {}
        for number, status in self.answers:
            per_token.setdefault(number, []).append(status)
        return per_token


def seed(provider: FakeProvider) -> None:
    """TOKENS tokens the site holds and the sandbox knows (Twitter ids 1...)."""
    bulk_hold_tokens(TOKENS, provider)


@dataclass(frozen=True)
class AtKill:
    """The state right after the interruption, before the re-run."""

    stored: set[int]  # tokens still stored here
    invalid: set[int]  # tokens the sandbox no longer accepts
    events: Counter[int]  # revoked events per token
    calls: int  # invalidate_token calls the sandbox counted

    @property
    def unrecorded(self) -> set[int]:
        """Confirmed by Twitter, not (yet) deleted here: the re-run calls Twitter again."""
        return self.invalid & self.stored


def at_kill(provider: FakeProvider) -> AtKill:
    state = AtKill(
        stored={int(i) for i in AccessToken.objects.values_list("twitter_user_id", flat=True)},
        invalid={n for n in ALL if not provider.access_token_valid(credentials(n)[0])},
        events=Counter(
            int(i)
            for i in TokenEvent.objects.filter(action="revoked").values_list(
                "twitter_user_id", flat=True
            )
        ),
        calls=provider.store.get("count", INVALIDATE_TOKEN),
    )
    # Nothing was deleted here before Twitter confirmed its invalidation, and each
    # deleted token has its one event.
    assert ALL - state.stored <= state.invalid
    assert state.events == Counter(ALL - state.stored)
    assert TokenEvent.objects.count() == len(ALL - state.stored)
    return state


def rerun_and_check(
    provider: FakeProvider, held: HeldSandbox, env: dict[str, str], state: AtKill, what: str
) -> None:
    """Run the command again to the end: every token ends invalidated exactly once at
    Twitter and deleted here with exactly one ``revoked`` event."""
    rerun = manage(*REVOKE, env=env, timeout=GUARD)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout == (
        f"Revoked: {len(state.stored)} (already invalid at Twitter: {len(state.unrecorded)})\n"
        "Failed: 0\nNot attempted: 0\n"
    )
    assert not AccessToken.objects.exists()
    assert not any(provider.access_token_valid(credentials(n)[0]) for n in ALL)
    # One successful invalidation per token; a second call (answered 401, code 89)
    # exactly for the tokens confirmed but not recorded at the kill.
    assert held.statuses() == {n: [200, 401] if n in state.unrecorded else [200] for n in ALL}
    calls = provider.store.get("count", INVALIDATE_TOKEN)
    assert calls == TOKENS + len(state.unrecorded)
    events = list(TokenEvent.objects.values_list("twitter_user_id", "action", "reason"))
    assert Counter(int(i) for i, _, _ in events) == Counter(ALL)
    assert {action for _, action, _ in events} == {"revoked"}
    assert {int(i) for i, _, reason in events if reason.endswith(ALREADY_INVALID)} == (
        state.unrecorded
    )
    print(
        f"\ninterrupts: revoke {TOKENS} tokens, {what}; at the kill {state.calls} invalidate calls "
        f"counted, {TOKENS - len(state.stored)} deleted here, {len(state.unrecorded)} "
        f"confirmed but unrecorded; re-run: {calls - state.calls} calls; {calls} in all"
    )


@contextmanager
def revocation(
    live_server: Any, monkeypatch: pytest.MonkeyPatch, *, hold_at: int
) -> Iterator[tuple[FakeProvider, HeldSandbox, dict[str, str]]]:
    """A fresh sandbox holding TOKENS tokens (which the site holds too), held at call
    ``hold_at``; whatever happens, held calls are let go at the end."""
    with override_settings(CACHES=sandbox_caches(f"test-interrupts-{hold_at}-{time.time_ns()}")):
        provider = sandbox(live_server.url)
        seed(provider)
        held = HeldSandbox(monkeypatch, hold_at=hold_at)
        try:
            yield provider, held, manage_env(live_server.url)
        finally:
            held.release(cut=True)


def held_at(process: subprocess.Popen[str], held: HeldSandbox, kill_at: int) -> None:
    """Wait until call ``kill_at`` is held, the next one waits, and the answers before
    were recorded (deleted every FLUSH_EVERY)."""
    assert held.held.wait(GUARD)
    wait_until(lambda: held.arrived == kill_at + 1, "the next call")
    flushed = FLUSH_EVERY * ((kill_at - 1) // FLUSH_EVERY)
    wait_until(lambda: TokenEvent.objects.count() == flushed, f"{flushed} deletions")
    assert process.poll() is None


@pytest.mark.parametrize("kill_at", KILL_POINTS.values(), ids=KILL_POINTS.keys())
def test_bulk_revocation_killed_then_rerun(
    live_server: Any, monkeypatch: pytest.MonkeyPatch, kill_at: int
) -> None:
    """SIGKILL while Twitter's confirmation of call ``kill_at`` is on its way: what was
    deleted was confirmed; the confirmations not yet recorded are redone by the re-run,
    which finds those tokens invalid and records them as revoked."""
    with revocation(live_server, monkeypatch, hold_at=kill_at) as (provider, held, env):
        with start(*REVOKE, env=env, settings_module="") as process:
            try:
                held_at(process, held, kill_at)
                process.kill()
                process.wait(GUARD)
                state = at_kill(provider)
                held.release(cut=True)
            finally:
                process.kill()
                process.communicate(timeout=GUARD)
        assert process.returncode == -signal.SIGKILL
        flushed = FLUSH_EVERY * ((kill_at - 1) // FLUSH_EVERY)
        assert state.calls == len(state.invalid) == kill_at
        assert TOKENS - len(state.stored) == flushed
        assert len(state.unrecorded) == kill_at - flushed
        rerun_and_check(provider, held, env, state, f"SIGKILL at call {kill_at}")


@pytest.mark.parametrize("kill_at", KILL_POINTS.values(), ids=KILL_POINTS.keys())
def test_bulk_revocation_stopped_by_sigterm_then_rerun(
    live_server: Any, monkeypatch: pytest.MonkeyPatch, kill_at: int
) -> None:
    """SIGTERM with two calls in flight (one confirmed by Twitter, one not yet seen by
    it): both finish and are recorded, no other call starts, the command reports and
    exits 1. Nothing is left confirmed but unrecorded: the re-run calls Twitter once per
    token left."""
    with revocation(live_server, monkeypatch, hold_at=kill_at) as (provider, held, env):
        with start(*REVOKE, env=env, settings_module="") as process:
            assert process.stdout is not None
            try:
                held_at(process, held, kill_at)
                process.send_signal(signal.SIGTERM)
                output = ""
                while STOPPING not in output:
                    line = process.stdout.readline()
                    assert line, f"exited without stopping gracefully: {output}"
                    output += line
                held.release(cut=False)
                output += process.stdout.read()
                process.wait(GUARD)
            finally:
                process.kill()
        in_flight = kill_at + 1
        assert process.returncode == 1, output
        assert (
            f"Revoked: {in_flight} (already invalid at Twitter: 0)\nFailed: 0\n"
            f"Not attempted: {TOKENS - in_flight}\n"
            "Stopped before the end; run the same command again to continue.\n"
        ) in output
        assert f"CommandError: {TOKENS - in_flight} selected token(s) are still here" in output
        state = at_kill(provider)
        assert state.calls == len(state.invalid) == in_flight
        assert state.stored == ALL - state.invalid
        assert state.unrecorded == set()
        rerun_and_check(provider, held, env, state, f"SIGTERM at call {kill_at}")


def test_bulk_revocation_killed_inside_its_deletion_transaction(
    live_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """SIGKILL while the first FLUSH_EVERY confirmed tokens are being deleted: the
    deletion is held inside its transaction (the rows deleted, their events not yet
    written). The transaction is rolled back: every token is still here, none has an
    event, and the re-run finds the confirmed ones invalid at Twitter and records them
    as revoked."""
    events = TokenEvent._meta.db_table

    def lock_events() -> None:
        with tokens_connection().cursor() as cursor:
            cursor.execute(f"LOCK TABLE {events} IN EXCLUSIVE MODE")

    hold_env, held_file = hold_settings(tmp_path)
    # Never held: the sandbox only records the calls.
    with revocation(live_server, monkeypatch, hold_at=10**9) as (provider, held, env):
        hold_env["TEST_TWITTER_OAUTH_API_URL"] = env["TEST_TWITTER_OAUTH_API_URL"]
        with (
            held_inside_transaction(
                held_file, lock=lock_events, trigger=f"INSERT ON {events}"
            ) as reached,
            start(*REVOKE, env=hold_env, settings_module="hold_settings") as process,
        ):
            try:
                reached()
                process.kill()
                process.wait(GUARD)
                state = at_kill(provider)
            finally:
                process.kill()
                process.communicate(timeout=GUARD)
        assert state.stored == ALL
        assert not state.events
        # The workers finish the calls they had started while the deletion waits.
        assert FLUSH_EVERY <= len(state.unrecorded) <= FLUSH_EVERY + 2
        rerun_and_check(provider, held, env, state, "SIGKILL inside the deletion transaction")


# -- key rotation ------------------------------------------------------------------------

#: Rows rotated in each case, in batches of ROTATION_BATCH.
ROWS = 4000
ROTATION_BATCH = 100
#: Batches committed when the signal comes (the next one is half done).
ROTATION_POINTS = {"early": 1, "middle": 20, "late": 38}


class Reader(threading.Thread):
    """Reads every row's ciphertext again and again, on its own connection, and
    decrypts each value with ``fernet`` (the new and the old key): an unreadable row
    raises (ending the thread, which the test sees), a changed value is counted."""

    def __init__(self, fernet: MultiFernet, values: dict[int, tuple[str, str]]) -> None:
        super().__init__()
        self.fernet = fernet
        self.values = values
        self.passes = 0
        self.rows = 0
        self.changed = 0
        self.finished = False
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.wait(0.05):
                rows = ciphertexts(AccessToken)
                decrypted = {
                    pk: tuple(self.fernet.decrypt(value).decode() for value in row)
                    for pk, row in rows.items()
                }
                self.changed += sum(decrypted[pk] != self.values[pk] for pk in decrypted)
                self.rows += len(rows)
                self.passes += 1
            self.finished = True
        finally:
            connections.close_all()


def seed_rows() -> dict[int, tuple[str, str]]:
    """ROWS tokens written with the old key: (token, secret) by primary key."""
    user = make_user("rotated")
    AccessToken.objects.bulk_create(
        (
            AccessToken(
                user=user,
                twitter_user_id=str(number),
                screen_name=f"r{number}",
                token=f"{number}-rotateTOKEN{number:05d}",
                secret=f"rotateSECRET{number:05d}",
                access_level="read-write",
                app_permission="read-write",
            )
            for number in range(1, ROWS + 1)
        ),
        batch_size=500,
    )
    return {pk: (token, secret) for pk, token, secret in stored_values()}


def stored_values() -> list[tuple[int, str, str]]:
    return list(AccessToken.objects.order_by("pk").values_list("pk", "token", "secret"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
@pytest.mark.parametrize("batches", ROTATION_POINTS.values(), ids=ROTATION_POINTS.keys())
def test_key_rotation_killed_then_rerun(tmp_path: Path, signum: int, batches: int) -> None:
    """``twitter_oauth_rotate_keys`` killed mid-run: every row stays readable with the
    new and the old key, during the run and after the kill; each rotated row has its
    one event; the re-run rotates the rest, after which the new key alone reads every
    row and the values are unchanged. SIGTERM ends the command at once (Python's
    default), which is safe: each batch is one transaction."""
    env, held = hold_settings(tmp_path, f"FERNET_KEYS = [{NEW!r}, {OLD!r}]")
    command = ("twitter_oauth_rotate_keys", "--batch-size", str(ROTATION_BATCH))
    values = seed_rows()
    pks = sorted(values)
    with override_settings(FERNET_KEYS=[NEW, OLD]):
        both = fields.build_fernet()
    with override_settings(FERNET_KEYS=[NEW]):
        new_only = fields.build_fernet(primary_only=True)
    reader = Reader(both, values)
    reader.start()
    try:
        # The middle row of the batch after ``batches``.
        target = pks[batches * ROTATION_BATCH + ROTATION_BATCH // 2]

        def lock_row() -> None:
            locked = AccessToken.objects.select_for_update().filter(pk=target)
            assert list(locked.values_list("pk", flat=True)) == [target]

        table = AccessToken._meta.db_table
        with held_inside_transaction(
            held, lock=lock_row, trigger=f"UPDATE ON {table} WHEN OLD.id = {target}"
        ) as reached:
            with start(*command, env=env, settings_module="hold_settings") as process:
                try:
                    reached()
                    process.send_signal(signum)
                    process.wait(GUARD)
                finally:
                    process.kill()
                    process.communicate(timeout=GUARD)
            assert process.returncode == -signum
            # The state at the kill: every row reads with [new, old], values unchanged.
            with override_settings(FERNET_KEYS=[NEW, OLD]):
                assert {pk: (t, s) for pk, t, s in stored_values()} == values
            under_new = {
                pk: [rotation._readable_by(new_only, value) for value in row]
                for pk, row in ciphertexts(AccessToken).items()
            }
            rotated = {pk for pk, readable in under_new.items() if all(readable)}
            # Both columns of a row change together.
            assert rotated == {pk for pk, readable in under_new.items() if any(readable)}
            events = Counter(
                TokenEvent.objects.filter(action="reencrypted").values_list(
                    "twitter_user_id", flat=True
                )
            )
        ids = dict(AccessToken.objects.values_list("pk", "twitter_user_id"))
        assert events == Counter(ids[pk] for pk in rotated)
        # The batch that was waiting was rolled back.
        assert len(rotated) == batches * ROTATION_BATCH

        rerun = manage(*command, env=env, settings_module="hold_settings", timeout=GUARD)
        assert rerun.returncode == 0, rerun.stderr
        assert rerun.stdout == (
            summary("Access tokens", ROWS - len(rotated), len(rotated))
            + summary("Pending authorizations", 0, 0)
        )
    finally:
        reader.stopping.set()
        reader.join(GUARD)
    assert reader.finished
    assert reader.changed == 0
    with override_settings(FERNET_KEYS=[NEW]):
        assert {pk: (t, s) for pk, t, s in stored_values()} == values
    assert Counter(
        TokenEvent.objects.filter(action="reencrypted").values_list("twitter_user_id", flat=True)
    ) == Counter(str(number) for number in range(1, ROWS + 1))
    print(
        f"\ninterrupts: rotate {ROWS} rows, {signal.Signals(signum).name} after "
        f"{batches} batch(es): {len(rotated)} rows rotated at the kill; the reader "
        f"checked {reader.rows} rows in {reader.passes} passes"
    )
