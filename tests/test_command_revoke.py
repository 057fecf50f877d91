"""``manage.py twitter_oauth_revoke``: through call_command against the FakeTwitter, and
as a real subprocess against the sandbox (interrupted with SIGINT, then run again).

The --enqueue path is tested in test_tasks.py.
"""

from __future__ import annotations

import builtins
import datetime as dt
import io
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, OutputWrapper
from django.db import connections
from django.db.models import Count
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from django_twitter_oauth import revocation
from django_twitter_oauth.client import TwitterClient
from django_twitter_oauth.management.commands import twitter_oauth_revoke
from django_twitter_oauth.management.commands.twitter_oauth_revoke import Command, Progress
from django_twitter_oauth.models import AccessToken, TokenEvent
from django_twitter_oauth.revocation import iterate
from django_twitter_oauth.testing import FakeTwitter
from django_twitter_oauth.testing.provider import INVALIDATE_TOKEN, twitter_error
from tests.utils import (
    ROOT,
    bulk_hold_tokens,
    credentials,
    make_user,
    manage,
    manage_args,
    manage_env,
    sandbox_caches,
    tokens_connection,
    username_for,
)
from tests.utils import hold_tokens as hold
from tests.utils import sandbox_provider as sandbox

pytestmark = pytest.mark.django_db

NOT_PERMITTED = twitter_error(87, "Client is not permitted to perform this action.")


def remaining() -> set[str]:
    return set(AccessToken.objects.values_list("twitter_user_id", flat=True))


def reasons() -> dict[str, str]:
    """The reason of each revoked/discarded token's event, by Twitter user id."""
    return dict(TokenEvent.objects.values_list("twitter_user_id", "reason"))


@dataclass
class Run:
    out: str
    err: str
    error: CommandError | None

    @property
    def status(self) -> int:
        return 0 if self.error is None else self.error.returncode


def revoke(*args: str, stderr: io.StringIO | None = None) -> Run:
    """The command as call_command runs it: its output, and the CommandError (exit
    status 1 on the command line) when it raised one."""
    out, err = io.StringIO(), stderr or io.StringIO()
    try:
        call_command("twitter_oauth_revoke", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return Run(out.getvalue(), err.getvalue(), exc)
    return Run(out.getvalue(), err.getvalue(), None)


# -- selection --------------------------------------------------------------------------


@pytest.fixture
def varied() -> None:
    """Four tokens: 1 alice rw (2024-01-10 noon), 2 alice read under a read app
    permission (stale), 3 bob rw under read (stale, 2023), 4 carol rw-dm (today)."""
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    hold(1, user=alice, start=1)
    hold(1, user=alice, start=2, access_level="read", app_permission="read")
    hold(1, user=bob, start=3, app_permission="read")
    hold(1, user=carol, start=4, access_level="read-write-directmessages")
    for number, day in (("1", dt.date(2024, 1, 10)), ("2", dt.date(2024, 3, 1))):
        moment = dt.datetime.combine(day, dt.time(12), tzinfo=dt.timezone.utc)
        AccessToken.objects.filter(twitter_user_id=number).update(created_at=moment)
    moment = dt.datetime(2023, 12, 31, 23, 59, tzinfo=dt.timezone.utc)
    AccessToken.objects.filter(twitter_user_id="3").update(created_at=moment)


@pytest.mark.usefixtures("varied")
@pytest.mark.parametrize(
    ("options", "selected"),
    [
        (["--all"], {"1", "2", "3", "4"}),
        (["--user", username_for("alice")], {"1", "2"}),
        (["--user", username_for("alice"), "--user", username_for("bob")], {"1", "2", "3"}),
        (["--stale"], {"2", "3"}),
        (["--access-level", "read-write"], {"1", "3"}),
        (["--issued-before", "2024-01-10"], {"3"}),
        (["--issued-before", "2024-01-11"], {"1", "3"}),
        (["--twitter-id", "1", "--twitter-id", "4"], {"1", "4"}),
        # Combined filters narrow the selection, --all included.
        (["--stale", "--user", username_for("bob")], {"3"}),
        (["--all", "--user", username_for("alice"), "--access-level", "read"], {"2"}),
        (["--stale", "--issued-before", "2024-01-01", "--twitter-id", "2"], set()),
    ],
)
def test_selection(options: list[str], selected: set[str], fake_twitter: FakeTwitter) -> None:
    run = revoke(*options, "--discard", "--noinput")
    assert run.status == 0
    assert remaining() == {"1", "2", "3", "4"} - selected
    assert set(reasons()) == selected
    assert fake_twitter.calls == []
    if selected:
        assert f"Discarded: {len(selected)}\n" in run.out
    else:
        assert run.out == "No token matches the selection.\n"


@pytest.mark.usefixtures("varied")
def test_an_empty_selection_is_refused_rather_than_meaning_everything() -> None:
    run = revoke("--noinput")
    assert run.error is not None
    assert "Nothing selected: pass --all, or filters" in str(run.error)
    assert remaining() == {"1", "2", "3", "4"}


def test_issued_before_wants_a_date() -> None:
    with pytest.raises(CommandError, match=r"--issued-before: a date as YYYY-MM-DD, not 'May'"):
        call_command("twitter_oauth_revoke", "--issued-before", "May")


def test_issued_before_on_the_command_line_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Not a traceback: argparse reports it and exits with status 2."""
    with pytest.raises(SystemExit) as excinfo:
        Command().run_from_argv(
            ["manage.py", "twitter_oauth_revoke", "--issued-before", "2024-13-01"]
        )
    assert excinfo.value.code == 2
    assert "--issued-before: a date as YYYY-MM-DD, not '2024-13-01'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--workers", "--workers must be at least 1."),
        ("--batch-size", "--batch-size must be at least 1."),
    ],
)
@pytest.mark.parametrize("value", ["0", "-3"])
def test_workers_and_batch_size_must_be_positive(option: str, message: str, value: str) -> None:
    hold(1)
    run = revoke("--all", "--noinput", option, value)
    assert run.error is not None
    assert str(run.error) == message
    assert remaining() == {"1"}


def test_workers_and_batch_size_must_be_numbers() -> None:
    with pytest.raises(CommandError, match="--workers: invalid int value: 'many'"):
        call_command("twitter_oauth_revoke", "--all", "--workers", "many")


# -- revoking ---------------------------------------------------------------------------


def test_revokes_at_twitter_then_deletes(fake_twitter: FakeTwitter) -> None:
    tokens = hold(3, twitter=fake_twitter)
    run = revoke("--all", "--noinput")
    assert run.status == 0
    assert run.out == "Revoked: 3 (already invalid at Twitter: 0)\nFailed: 0\nNot attempted: 0\n"
    assert remaining() == set()
    assert fake_twitter.count(INVALIDATE_TOKEN) == 3
    assert not any(fake_twitter.access_token_valid(t.token) for t in tokens)
    assert list(TokenEvent.objects.values_list("action", flat=True)) == ["revoked"] * 3
    assert set(reasons().values()) == {"revoke at Twitter by twitter_oauth_revoke"}


def test_reason_is_recorded_in_each_event(fake_twitter: FakeTwitter) -> None:
    tokens = hold(2, twitter=fake_twitter)
    fake_twitter.invalidate(tokens[1].token)
    run = revoke("--all", "--noinput", "--reason", "left the company")
    assert run.status == 0
    assert "Revoked: 2 (already invalid at Twitter: 1)" in run.out
    assert reasons() == {
        "1": "left the company",
        "2": "left the company; already invalid at Twitter",
    }


def test_discard_deletes_without_calling_twitter(fake_twitter: FakeTwitter) -> None:
    tokens = hold(2, twitter=fake_twitter)
    run = revoke("--all", "--discard", "--noinput")
    assert run.status == 0
    assert run.out == "Discarded: 2\nFailed: 0\nNot attempted: 0\n"
    assert fake_twitter.calls == []
    assert all(fake_twitter.access_token_valid(t.token) for t in tokens)
    assert set(TokenEvent.objects.values_list("action", "reason")) == {
        ("discarded", "discard by twitter_oauth_revoke")
    }


def test_discard_that_deleted_nothing_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every selected row changed meanwhile (re-authorized): reported as "Discarded: 0"
    and failed, not as revoked."""
    hold(1)
    original = iterate

    def reauthorized_meanwhile(queryset: Any, batch_size: int) -> Any:
        for token in original(queryset, batch_size):
            AccessToken.objects.filter(pk=token.pk).update(
                updated_at=token.updated_at + dt.timedelta(seconds=1)
            )
            yield token

    monkeypatch.setattr(twitter_oauth_revoke, "iterate", reauthorized_meanwhile)
    run = revoke("--all", "--discard", "--noinput")
    assert run.out.startswith("Discarded: 0\nFailed: 1\n  @user1 (1): changed (re-authorized?)")
    assert "Not attempted: 0\n" in run.out
    assert run.status == 1
    assert str(run.error) == (
        "1 selected token(s) are still here (1 failed, 0 not attempted). "
        "Run the command again to retry them."
    )
    assert remaining() == {"1"}


def test_partial_failure_exits_1_and_a_rerun_finishes(fake_twitter: FakeTwitter) -> None:
    hold(3, twitter=fake_twitter)
    fake_twitter.fail(INVALIDATE_TOKEN, status=403, body=NOT_PERMITTED)
    run = revoke("--all", "--noinput", "--workers", "1")
    assert run.status == 1
    assert "1 selected token(s) are still here (1 failed, 0 not attempted)" in str(run.error)
    assert run.out.startswith(
        "Revoked: 2 (already invalid at Twitter: 0)\nFailed: 1\n  @user1 (1): "
    )
    assert "Client is not permitted" in run.out
    assert run.out.endswith("Not attempted: 0\n")
    assert remaining() == {"1"}

    again = revoke("--all", "--noinput")
    assert again.status == 0
    assert again.out.startswith("Revoked: 1 ")
    assert remaining() == set()
    assert TokenEvent.objects.count() == 3


def test_a_token_no_key_decrypts_fails_alone(fake_twitter: FakeTwitter) -> None:
    # A lost key: the batch holding the unreadable row goes on without it; the next
    # batch (rows 3 and 4) is read as usual.
    hold(1, twitter=fake_twitter)
    with override_settings(FERNET_KEYS=["a-key-since-lost"]):
        hold(1, twitter=fake_twitter, start=2)
    hold(2, twitter=fake_twitter, start=3)
    run = revoke("--all", "--noinput", "--workers", "1", "--batch-size", "2")
    assert run.status == 1
    assert run.out.startswith(
        "Revoked: 3 (already invalid at Twitter: 0)\nFailed: 1\n  @user2 (2): "
    )
    assert "FERNET_KEYS" in run.out
    assert remaining() == {"2"}
    assert fake_twitter.count(INVALIDATE_TOKEN) == 3


def test_server_errors_are_retried(
    fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(revocation, "RETRY_BACKOFF", (0.0, 0.0))
    hold(2, twitter=fake_twitter)
    fake_twitter.fail(INVALIDATE_TOKEN, status=503, times=2)
    fake_twitter.fail_connection(INVALIDATE_TOKEN)  # the third try of the same token
    fake_twitter.fail(INVALIDATE_TOKEN, status=503)
    run = revoke("--all", "--noinput", "--workers", "1")
    # The first token failed three times; the second was retried once.
    assert run.status == 1
    assert "Revoked: 1 " in run.out
    assert "Failed: 1\n  @user1 (1): " in run.out
    assert remaining() == {"1"}
    assert fake_twitter.count(INVALIDATE_TOKEN) == 5


@pytest.mark.slow
@override_settings(TWITTER_OAUTH_RATE_LIMIT_MAX_WAIT=2)
def test_rate_limited_waits_for_the_window_then_succeeds(fake_twitter: FakeTwitter) -> None:
    hold(2, twitter=fake_twitter)
    fake_twitter.rate_limit(INVALIDATE_TOKEN, reset_in=0)
    started = time.monotonic()
    run = revoke("--all", "--noinput", "--workers", "1")
    assert time.monotonic() - started >= 1  # the reset, + 1 s as its header is in seconds
    assert run.status == 0
    assert run.out.startswith("Revoked: 2 ")
    assert remaining() == set()
    assert fake_twitter.count(INVALIDATE_TOKEN) == 3


@override_settings(TWITTER_OAUTH_RATE_LIMIT_MAX_WAIT=1)
def test_rate_limited_beyond_the_max_wait_leaves_the_rest(fake_twitter: FakeTwitter) -> None:
    hold(3, twitter=fake_twitter)
    fake_twitter.rate_limit(INVALIDATE_TOKEN, reset_in=600)
    started = time.monotonic()
    run = revoke("--all", "--noinput", "--workers", "1")
    assert time.monotonic() - started < 1
    assert run.status == 1
    assert run.out == "Revoked: 0 (already invalid at Twitter: 0)\nFailed: 0\nNot attempted: 3\n"
    assert "3 selected token(s) are still here (0 failed, 3 not attempted)" in str(run.error)
    assert remaining() == {"1", "2", "3"}
    assert fake_twitter.count(INVALIDATE_TOKEN) == 1


def test_tokens_are_read_in_batches(fake_twitter: FakeTwitter) -> None:
    hold(5, twitter=fake_twitter)
    with CaptureQueriesContext(tokens_connection()) as queries:
        run = revoke("--all", "--noinput", "--batch-size", "2")
    assert run.status == 0
    keyset = [q["sql"] for q in queries if "LIMIT 2" in q["sql"]]
    # 2 + 2 + 1 rows, then an empty batch ends it.
    assert len(keyset) == 4
    assert remaining() == set()


def test_iterate_reads_in_primary_key_order_with_rows_deleted_meanwhile() -> None:
    hold(5)
    seen = []
    with CaptureQueriesContext(tokens_connection()) as queries:
        for token in iterate(AccessToken.objects.all(), 2):
            seen.append(token.twitter_user_id)
            AccessToken.objects.filter(pk=token.pk).delete()
    assert seen == ["1", "2", "3", "4", "5"]
    assert sum(1 for q in queries if "LIMIT 2" in q["sql"]) == 4


# -- --dry-run and the prompt -----------------------------------------------------------


def answering(answer: str | type[BaseException], prompts: list[str]) -> Callable[[str], str]:
    def fake_input(prompt: str) -> str:
        prompts.append(prompt)
        if isinstance(answer, str):
            return answer
        raise answer

    return fake_input


@pytest.mark.parametrize(
    ("option", "verb"), [((), "revoke at Twitter"), (("--discard",), "discard")]
)
def test_dry_run_lists_and_changes_nothing(
    option: tuple[str, ...],
    verb: str,
    fake_twitter: FakeTwitter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(twitter_oauth_revoke, "DRY_RUN_LISTED", 2)
    prompts: list[str] = []
    monkeypatch.setattr(builtins, "input", answering("yes", prompts))
    hold(3, twitter=fake_twitter, user=make_user("alice"))
    run = revoke("--all", "--dry-run", *option)
    assert run.status == 0
    assert run.out == (
        f"Would {verb} 3 token(s):\n"
        f"  @user1 (1) user={username_for('alice')} level=read-write issued under read-write\n"
        f"  @user2 (2) user={username_for('alice')} level=read-write issued under read-write\n"
        "  ... and 1 more.\n"
    )
    assert remaining() == {"1", "2", "3"}
    assert fake_twitter.calls == []
    assert not TokenEvent.objects.exists()
    assert prompts == []


def test_dry_run_of_a_small_selection_lists_it_all() -> None:
    hold(2, user=make_user("bob"), access_level="read", app_permission="read")
    run = revoke("--stale", "--dry-run")
    assert run.out == (
        "Would revoke at Twitter 2 token(s):\n"
        f"  @user1 (1) user={username_for('bob')} level=read issued under read\n"
        f"  @user2 (2) user={username_for('bob')} level=read issued under read\n"
    )
    assert remaining() == {"1", "2"}


@pytest.mark.parametrize("answer", ["yes", " YES \n", "Yes"])
def test_the_prompt_answered_yes_goes_ahead(
    answer: str, fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []
    monkeypatch.setattr(builtins, "input", answering(answer, prompts))
    hold(2, twitter=fake_twitter)
    run = revoke("--all")
    assert prompts == ["You are about to revoke at Twitter 2 token(s). Type 'yes' to continue: "]
    assert run.status == 0
    assert remaining() == set()


@pytest.mark.parametrize("answer", ["no", "", "y", EOFError, KeyboardInterrupt])
def test_the_prompt_answered_otherwise_changes_nothing(
    answer: str | type[BaseException],
    fake_twitter: FakeTwitter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prompts: list[str] = []
    monkeypatch.setattr(builtins, "input", answering(answer, prompts))
    hold(2, twitter=fake_twitter)
    run = revoke("--user", username_for("holder1"), "--discard")
    assert prompts == ["You are about to discard 2 token(s). Type 'yes' to continue: "]
    assert run.status == 1
    assert str(run.error) == "Cancelled; nothing changed."
    assert remaining() == {"1", "2"}
    assert fake_twitter.calls == []


def test_noinput_does_not_ask(fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch) -> None:
    prompts: list[str] = []
    monkeypatch.setattr(builtins, "input", answering("no", prompts))
    hold(1, twitter=fake_twitter)
    assert revoke("--all", "--no-input").status == 0
    assert remaining() == set()
    assert prompts == []


def test_nothing_to_do_asks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    prompts: list[str] = []
    monkeypatch.setattr(builtins, "input", answering("yes", prompts))
    hold(1)
    run = revoke("--twitter-id", "99")
    assert (run.status, run.out) == (0, "No token matches the selection.\n")
    assert prompts == []


# -- progress ---------------------------------------------------------------------------


def test_progress_lines_when_stderr_is_not_a_terminal(
    fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(twitter_oauth_revoke, "PROGRESS_EVERY", 0)
    hold(3, twitter=fake_twitter)
    run = revoke("--all", "--noinput", "--workers", "1")
    assert run.err == "1/3 handled, 1 done\n2/3 handled, 2 done\n3/3 handled, 3 done\n"


def test_no_progress_line_before_the_first_period(fake_twitter: FakeTwitter) -> None:
    hold(2, twitter=fake_twitter)
    assert revoke("--all", "--noinput").err == ""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_when_stderr_is_a_terminal(fake_twitter: FakeTwitter) -> None:
    hold(3, twitter=fake_twitter)
    terminal = Terminal()
    run = revoke("--all", "--noinput", stderr=terminal)
    assert run.status == 0
    assert "\r" in run.err
    assert "3/3" in run.err
    assert "token/s" in run.err
    assert "handled" not in run.err


def test_progress_counts_failures_and_tokens_not_attempted() -> None:
    stream = io.StringIO()
    progress = Progress(OutputWrapper(stream), 10)
    progress.last_line = time.monotonic() - twitter_oauth_revoke.PROGRESS_EVERY
    report = revocation.Report(revoked=2, already_invalid=1, not_attempted=3)
    report.failed.append(revocation.Failure(1, "1", "user1", "no"))
    progress(report)
    progress.close()
    assert stream.getvalue() == "7/10 handled, 3 done\n"


# -- Ctrl-C -----------------------------------------------------------------------------


def sigint_during_calls(monkeypatch: pytest.MonkeyPatch, *, signals: int) -> None:
    """The first two calls to Twitter both start, then SIGINT reaches the process
    (``signals`` times) while they are in flight; they finish afterwards."""
    both_in_flight = threading.Barrier(2, timeout=5)
    first = threading.Lock()
    original = TwitterClient.invalidate_token
    # The command's handler answers the first Ctrl-C by handing the next one to
    # Python's default handler: the next signal is sent once that has happened.
    handed_over = threading.Event()
    main_thread = threading.main_thread().ident
    assert main_thread is not None
    set_handler = signal.signal

    def recording(signum: int, handler: Any) -> Any:
        if handler is signal.default_int_handler:
            handed_over.set()
        return set_handler(signum, handler)

    def invalidate_token(self: TwitterClient, token: str, secret: str) -> None:
        both_in_flight.wait()
        if first.acquire(blocking=False):
            for number in range(signals):
                if number:
                    assert handed_over.wait(timeout=5)
                # To the main thread, which is waiting for these calls: a signal the
                # kernel gave a worker thread would only be handled once it wakes up,
                # maybe inside a database query.
                signal.pthread_kill(main_thread, signal.SIGINT)
        time.sleep(0.1)
        original(self, token, secret)

    monkeypatch.setattr(signal, "signal", recording)
    monkeypatch.setattr(TwitterClient, "invalidate_token", invalidate_token)


def test_ctrl_c_finishes_the_calls_in_flight_and_reports(
    fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = signal.getsignal(signal.SIGINT)
    sigint_during_calls(monkeypatch, signals=1)
    hold(5, twitter=fake_twitter)
    run = revoke("--all", "--noinput", "--workers", "2")
    assert "Stopping: finishing the calls in flight ..." in run.err
    assert run.out == (
        "Revoked: 2 (already invalid at Twitter: 0)\nFailed: 0\nNot attempted: 3\n"
        "Stopped before the end; run the same command again to continue.\n"
    )
    assert run.status == 1
    assert remaining() == {"3", "4", "5"}
    assert fake_twitter.count(INVALIDATE_TOKEN) == 2
    assert signal.getsignal(signal.SIGINT) is handler


def test_a_second_ctrl_c_aborts(fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = signal.getsignal(signal.SIGINT)
    sigint_during_calls(monkeypatch, signals=2)
    hold(3, twitter=fake_twitter)
    with pytest.raises(KeyboardInterrupt):
        revoke("--all", "--noinput", "--workers", "2")
    assert signal.getsignal(signal.SIGINT) is handler
    # Revoked at Twitter, but the run was aborted before it deleted them: a re-run
    # finds them invalid at Twitter and deletes them.
    assert fake_twitter.count(INVALIDATE_TOKEN) == 2
    assert remaining() == {"1", "2", "3"}


@pytest.mark.django_db(transaction=True)
def test_runs_outside_the_main_thread(fake_twitter: FakeTwitter) -> None:
    """Without Ctrl-C handling there (signal handlers belong to the main thread)."""
    hold(2, twitter=fake_twitter)
    handler = signal.getsignal(signal.SIGINT)
    runs: list[Run] = []

    def in_thread() -> None:
        try:
            runs.append(revoke("--all", "--noinput"))
        finally:
            connections.close_all()

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(timeout=30)
    assert [run.status for run in runs] == [0]
    assert remaining() == set()
    assert signal.getsignal(signal.SIGINT) is handler


# -- as users run it: a manage.py subprocess against the sandbox -------------------------

#: Tokens in the interrupted run: a few hundred, so the run lasts long enough to be
#: interrupted after its first deletions (every 100 revoked tokens).
INTERRUPTED = 300


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@override_settings(TWITTER_OAUTH_SANDBOX_LATENCY=0.01, CACHES=sandbox_caches("test-command-revoke"))
def test_interrupted_then_rerun_revokes_every_token_exactly_once(live_server: Any) -> None:
    """SIGINT to ``manage.py twitter_oauth_revoke`` mid-run: the calls in flight
    finish and are recorded, it reports and exits 1; the re-run does what is left. In
    the end every token was invalidated at Twitter exactly once."""
    provider = sandbox(live_server.url)
    bulk_hold_tokens(INTERRUPTED, provider)
    env = manage_env(live_server.url)
    command = ("twitter_oauth_revoke", "--all", "--noinput", "--workers", "2")

    with subprocess.Popen(
        manage_args(*command),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            deadline = time.monotonic() + 60
            # The first deletions (and their events) are committed after 100 revocations.
            while not TokenEvent.objects.exists() and process.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=60)
        finally:
            process.kill()
    assert process.returncode == 1, err
    assert "Stopping: finishing the calls in flight ..." in err
    assert "Stopped before the end; run the same command again to continue." in out
    left = AccessToken.objects.count()
    done = INTERRUPTED - left
    assert 100 <= done < INTERRUPTED
    # Every call made to Twitter was recorded: none was cut off in flight.
    assert provider.store.get("count", INVALIDATE_TOKEN) == done
    assert TokenEvent.objects.count() == done
    assert (
        f"Revoked: {done} (already invalid at Twitter: 0)\nFailed: 0\nNot attempted: {left}\n"
        in out
    )
    assert f"CommandError: {left} selected token(s) are still here" in err

    rerun = manage(*command, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout == (
        f"Revoked: {left} (already invalid at Twitter: 0)\nFailed: 0\nNot attempted: 0\n"
    )
    assert not AccessToken.objects.exists()
    assert provider.store.get("count", INVALIDATE_TOKEN) == INTERRUPTED
    assert not any(
        provider.access_token_valid(credentials(number)[0]) for number in range(1, INTERRUPTED + 1)
    )
    per_token = TokenEvent.objects.values("twitter_user_id", "action").annotate(n=Count("id"))
    assert len(per_token) == INTERRUPTED
    assert {(row["action"], row["n"]) for row in per_token} == {("revoked", 1)}
