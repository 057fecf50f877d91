"""``manage.py twitter_oauth_connect USERNAME``: the PIN flow in a terminal, through
call_command against the FakeTwitter and as a subprocess against the sandbox."""

from __future__ import annotations

import importlib.util
import io
import re
import subprocess
import sys
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.dispatch import Signal
from django.test import override_settings

from django_twitter_oauth import signals as signals_module
from django_twitter_oauth.models import AccessToken, RequestToken, TokenEvent
from django_twitter_oauth.signals import authorization_completed
from django_twitter_oauth.testing import FakeTwitter
from django_twitter_oauth.testing.provider import ACCESS_TOKEN, REQUEST_TOKEN
from tests.utils import (
    ROOT,
    SignalRecorder,
    make_token,
    make_user,
    manage_args,
    manage_env,
    sandbox_caches,
    sandbox_provider,
    username_for,
)

pytestmark = pytest.mark.django_db

#: The command's argument: the user's USERNAME_FIELD value, whatever the user model.
ALICE = username_for("alice")

URL = re.compile(r"^https?://\S+$", re.MULTILINE)


def oauth_token_in(text: str) -> str:
    """The oauth_token of the authorize URL the command printed."""
    match = URL.search(text)
    assert match is not None, text
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(match.group()).query)
    return query["oauth_token"][0]


class Operator:
    """Standard input of the command, typed by a person: they open the printed URL,
    approve the app at Twitter, and type the PIN it shows (``pin`` instead, if given)."""

    def __init__(self, fake: FakeTwitter, out: io.StringIO, pin: str = "", **approval: str):
        self.fake = fake
        self.out = out
        self.pin = pin
        self.approval = approval
        self.prompt = ""

    def readline(self) -> str:
        self.prompt = self.out.getvalue().rsplit("\n", 1)[-1]
        verifier = self.fake.approve(oauth_token_in(self.out.getvalue()), **self.approval)
        return f"{self.pin or verifier}\n"


@dataclass
class Run:
    out: str
    error: CommandError | None


def connect(*args: str, stdin: Any = None, out: io.StringIO | None = None) -> Run:
    out = out or io.StringIO()
    original = sys.stdin
    sys.stdin = stdin if stdin is not None else io.StringIO()
    try:
        call_command("twitter_oauth_connect", *args, stdout=out)
    except CommandError as exc:
        return Run(out.getvalue(), exc)
    finally:
        sys.stdin = original
    return Run(out.getvalue(), None)


def typed(fake: FakeTwitter, *args: str, pin: str = "", **approval: str) -> Run:
    """Run the command with an operator at the keyboard."""
    out = io.StringIO()
    return connect(*args, stdin=Operator(fake, out, pin, **approval), out=out)


def test_links_the_account_with_the_pin_read_from_standard_input(
    fake_twitter: FakeTwitter, django_capture_on_commit_callbacks: Any
) -> None:
    alice = make_user("alice")
    out = io.StringIO()
    operator = Operator(fake_twitter, out, user_id="42", screen_name="jack")
    with SignalRecorder() as signals, django_capture_on_commit_callbacks(execute=True):
        run = connect(ALICE, stdin=operator, out=out)
    assert run.error is None
    lines = run.out.split("\n")
    assert lines[0] == "Open this URL, authorize the app, and note the PIN Twitter shows:"
    assert lines[1].startswith(f"{fake_twitter.provider.api_url}/oauth/authorize?oauth_token=")
    assert "force_login" not in lines[1]
    assert operator.prompt == "PIN: "
    assert lines[2] == f"PIN: Linked @jack (42, read-write) to {ALICE}."
    token = AccessToken.objects.get()
    assert (token.user, token.twitter_user_id, token.access_level) == (alice, "42", "read-write")
    assert fake_twitter.access_token_valid(token.token)
    assert not RequestToken.objects.exists()
    assert list(TokenEvent.objects.values_list("action", "reason")) == [("authorized", "connect")]
    sent = signals.only("authorization_completed")
    assert (sent["request"], sent["user"], sent["created"]) == (None, alice, True)


def test_a_receiver_that_fails_leaves_the_command_a_success(
    fake_twitter: FakeTwitter,
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The example project's and the docs' receivers once read ``request`` and crashed
    the command after the token was stored (exit status 1 for a success): a receiver's
    failure is logged, the command reports the stored token."""

    def needs_a_request(sender: Any, request: Any, **kwargs: Any) -> None:
        request.session["welcome"] = True  # AttributeError: request is None here

    authorization_completed.connect(needs_a_request)
    try:
        make_user("alice")
        out = io.StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            run = connect(ALICE, stdin=Operator(fake_twitter, out), out=out)
    finally:
        authorization_completed.disconnect(needs_a_request)
    assert run.error is None
    assert run.out.endswith(f"Linked @fake_user (1000001, read-write) to {ALICE}.\n")
    assert AccessToken.objects.exists()
    assert "A receiver of a django_twitter_oauth signal failed" in caplog.text


def test_the_example_projects_receiver_takes_no_request() -> None:
    path = ROOT / "example_project" / "example" / "receivers.py"
    spec = importlib.util.spec_from_file_location("example_receivers", path)
    assert spec is not None and spec.loader is not None
    receivers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(receivers)  # connects its receivers: undone below
    try:
        receivers.on_completed(
            sender=AccessToken, request=None, user=None, token=None, created=True
        )
    finally:
        app_signals = [
            value for value in vars(signals_module).values() if isinstance(value, Signal)
        ]
        for signal in app_signals:
            for function in vars(receivers).values():
                if callable(function):
                    signal.disconnect(function)


def test_reauthorizing_says_so(fake_twitter: FakeTwitter) -> None:
    alice = make_user("alice")
    make_token(alice, twitter_user_id="42", screen_name="old_name")
    run = typed(fake_twitter, ALICE, user_id="42", screen_name="jack")
    assert run.error is None
    assert run.out.endswith(f"Re-authorized @jack (42, read-write) to {ALICE}.\n")
    assert AccessToken.objects.get().screen_name == "jack"


def test_the_pin_may_be_typed_with_spaces(fake_twitter: FakeTwitter) -> None:
    make_user("alice")
    out = io.StringIO()

    class Spaced(Operator):
        def readline(self) -> str:
            pin = super().readline().strip()
            return f"  {pin[:3]} {pin[3:]}\r\n"

    run = connect(ALICE, stdin=Spaced(fake_twitter, out), out=out)
    assert run.error is None
    assert AccessToken.objects.exists()


HANDLE = re.compile(r"--resume (\S+)$", re.MULTILINE)


def begin(*args: str) -> tuple[Run, str]:
    """``--begin``: the run ends at once; the handle it printed."""
    run = connect(*args, "--begin", stdin=io.StringIO("never read\n"))
    assert run.error is None, run.error
    match = HANDLE.search(run.out)
    assert match is not None, run.out
    return run, match.group(1)


def test_begin_then_resume_with_the_pin_on_standard_input(fake_twitter: FakeTwitter) -> None:
    """Two runs, as in a terminal that cannot wait: --begin prints the URL and a handle and
    exits; the user approves at Twitter; --resume HANDLE reads the PIN and links."""
    alice = make_user("alice")
    started, handle = begin(ALICE, "--access-type", "read")
    assert "PIN: " not in started.out
    assert RequestToken.objects.count() == 1
    assert not AccessToken.objects.exists()
    pin = fake_twitter.approve(oauth_token_in(started.out))
    finished = connect(ALICE, "--resume", handle, stdin=io.StringIO(f"{pin}\n"))
    assert finished.error is None, finished.error
    assert finished.out == f"PIN: Linked @fake_user (1000001, read) to {ALICE}.\n"
    assert AccessToken.objects.get().user == alice
    assert not RequestToken.objects.exists()


def test_resume_with_the_pin_option(fake_twitter: FakeTwitter) -> None:
    make_user("alice")
    started, handle = begin(ALICE)
    pin = fake_twitter.approve(oauth_token_in(started.out))
    stdin = io.StringIO("never read\n")
    run = connect(ALICE, "--resume", handle, "--pin", pin, stdin=stdin)
    assert run.error is None
    assert stdin.tell() == 0
    assert run.out == f"Linked @fake_user (1000001, read-write) to {ALICE}.\n"


def test_a_handle_is_used_once(fake_twitter: FakeTwitter) -> None:
    make_user("alice")
    started, handle = begin(ALICE)
    pin = fake_twitter.approve(oauth_token_in(started.out))
    assert connect(ALICE, "--resume", handle, "--pin", pin).error is None
    again = connect(ALICE, "--resume", handle, "--pin", pin)
    assert "unknown or was already completed" in str(again.error)


@pytest.mark.parametrize("handle", ["not-a-handle", "e30:1vXyZa:bad"])
def test_a_forged_handle_is_refused_before_calling_twitter(
    handle: str, fake_twitter: FakeTwitter
) -> None:
    make_user("alice")
    run = connect(ALICE, "--resume", handle, "--pin", "1234567")
    assert "not one this site printed" in str(run.error)
    assert fake_twitter.calls == []


def test_an_expired_handle_is_refused(fake_twitter: FakeTwitter) -> None:
    make_user("alice")
    started, handle = begin(ALICE)
    pin = fake_twitter.approve(oauth_token_in(started.out))
    with override_settings(TWITTER_OAUTH_REQUEST_TOKEN_TTL=-1):
        run = connect(ALICE, "--resume", handle, "--pin", pin)
    assert "expired" in str(run.error)
    assert not AccessToken.objects.exists()


def test_a_handle_is_bound_to_its_user(fake_twitter: FakeTwitter) -> None:
    make_user("alice")
    make_user("mallory")
    started, handle = begin(ALICE)
    pin = fake_twitter.approve(oauth_token_in(started.out))
    run = connect(username_for("mallory"), "--resume", handle, "--pin", pin)
    assert "started in another browser or by another account" in str(run.error)
    assert not AccessToken.objects.exists()


def test_the_pin_option_alone_is_refused(fake_twitter: FakeTwitter) -> None:
    """A PIN cannot be known before the run that starts the authorization."""
    make_user("alice")
    run = connect(ALICE, "--pin", "7654321")
    assert "--pin goes with --resume" in str(run.error)
    assert fake_twitter.calls == []


@pytest.mark.parametrize("pin", ["", "  "])
def test_an_empty_pin_option_is_refused_before_calling_twitter(
    pin: str, fake_twitter: FakeTwitter
) -> None:
    make_user("alice")
    run = connect(ALICE, "--resume", "whatever", "--pin", pin)
    assert str(run.error) == "No PIN given; nothing was linked."
    assert fake_twitter.calls == []


@pytest.mark.parametrize("stdin", ["", "\n", "   \n"])
def test_no_pin_on_standard_input_links_nothing(stdin: str, fake_twitter: FakeTwitter) -> None:
    make_user("alice")
    run = connect(ALICE, stdin=io.StringIO(stdin))
    assert str(run.error) == "No PIN given; nothing was linked."
    assert run.out.endswith("PIN: ")
    assert not AccessToken.objects.exists()
    assert fake_twitter.count(ACCESS_TOKEN) == 0


def test_ctrl_c_at_the_pin_prompt_cancels(fake_twitter: FakeTwitter) -> None:
    make_user("alice")

    class Interrupted:
        def readline(self) -> str:
            raise KeyboardInterrupt

    run = connect(ALICE, stdin=Interrupted())
    assert str(run.error) == "Cancelled; nothing was linked."
    assert run.out.endswith("PIN: \n")
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize(("access_type", "stored"), [("read", "read"), ("write", "read-write")])
@pytest.mark.parametrize("send_access_level", [True, False])
def test_access_type(access_type: str, stored: str, send_access_level: bool) -> None:
    """Stored at the level Twitter grants; when Twitter does not say, the level assumed
    follows --access-type (not the site's TWITTER_OAUTH_ACCESS_TYPE)."""
    make_user("alice")
    with FakeTwitter(send_access_level=send_access_level) as fake:
        run = typed(fake, ALICE, "--access-type", access_type)
        assert run.error is None
    assert AccessToken.objects.get().access_level == stored
    assert run.out.endswith(f"(1000001, {stored}) to {ALICE}.\n")


def test_access_type_is_asked_of_twitter(fake_twitter: FakeTwitter) -> None:
    make_user("alice")
    seen: list[str] = []
    original = fake_twitter.provider.handle

    def handle(method: str, url: str, headers: Any, body: Any) -> Any:
        seen.append(f"{url} {body!r}")
        return original(method, url, headers, body)

    fake_twitter.provider.handle = handle  # type: ignore[method-assign]
    assert typed(fake_twitter, ALICE, "--access-type", "read").error is None
    assert "x_auth_access_type=read" in seen[0]


def test_access_type_must_be_read_or_write() -> None:
    with pytest.raises(CommandError, match="--access-type: invalid choice: 'admin'"):
        call_command("twitter_oauth_connect", ALICE, "--access-type", "admin")


def test_force_login_is_in_the_url(fake_twitter: FakeTwitter) -> None:
    make_user("alice")
    run = typed(fake_twitter, ALICE, "--force-login")
    assert run.error is None
    url = URL.search(run.out)
    assert url is not None
    assert "force_login=true" in url.group()


def test_unknown_user(fake_twitter: FakeTwitter) -> None:
    make_user("alice")
    run = connect("alicia")
    assert str(run.error) == "No user 'alicia'."
    assert run.out == ""
    assert fake_twitter.calls == []


def test_a_wrong_pin(fake_twitter: FakeTwitter) -> None:
    make_user("alice")
    run = typed(fake_twitter, ALICE, pin="0000000")
    assert run.error is not None
    assert str(run.error).startswith("Twitter did not accept the PIN (a wrong or used PIN?): ")
    assert not AccessToken.objects.exists()
    # The pending authorization is used up: a new run starts afresh.
    assert not RequestToken.objects.exists()


@pytest.mark.parametrize("pin", ["12\x0034", "١٢٣٤", "9" * 300])
def test_a_malformed_pin(pin: str, fake_twitter: FakeTwitter) -> None:
    make_user("alice")
    run = typed(fake_twitter, ALICE, pin=pin)
    assert str(run.error) == (
        "That is not a PIN as Twitter shows them (a few digits); nothing was linked."
    )
    assert fake_twitter.count(ACCESS_TOKEN) == 0
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503},
        {"status": 401, "body": '{"errors":[{"code":32,"message":"Could not authenticate you."}]}'},
    ],
)
def test_twitter_fault_at_request_token_time(
    fault: dict[str, Any], fake_twitter: FakeTwitter
) -> None:
    make_user("alice")
    fake_twitter.fail(REQUEST_TOKEN, **fault)
    run = connect(ALICE, stdin=io.StringIO("1234567\n"))
    assert run.error is not None
    assert str(run.error).startswith("Twitter could not start the authorization: ")
    assert run.out == ""
    assert not RequestToken.objects.exists()
    assert not AccessToken.objects.exists()


def test_twitter_unavailable_at_access_token_time(fake_twitter: FakeTwitter) -> None:
    make_user("alice")
    fake_twitter.fail(ACCESS_TOKEN, status=503)
    run = typed(fake_twitter, ALICE)
    assert run.error is not None
    assert str(run.error).startswith("Twitter could not complete the authorization: ")
    assert not AccessToken.objects.exists()
    assert not TokenEvent.objects.exists()


def test_the_apps_configuration_refused_at_access_token_time(fake_twitter: FakeTwitter) -> None:
    # Whose fault: the client's type says so, not a wrong PIN.
    make_user("alice")
    body = '{"errors":[{"code":32,"message":"Could not authenticate you."}]}'
    fake_twitter.fail(ACCESS_TOKEN, status=401, body=body)
    run = typed(fake_twitter, ALICE)
    assert str(run.error).startswith("Twitter refused this app's configuration: ")
    assert "TWITTER_OAUTH_CONSUMER_KEY" in str(run.error)
    assert not AccessToken.objects.exists()


def test_an_account_linked_to_another_user(fake_twitter: FakeTwitter) -> None:
    make_user("alice")
    make_token(make_user("bob"), twitter_user_id="42")
    run = typed(fake_twitter, ALICE, user_id="42")
    assert str(run.error) == (
        "This Twitter account is already connected to another account on this site."
    )
    assert AccessToken.objects.get().user.get_username() == username_for("bob")


# -- as users run it: a manage.py subprocess against the sandbox ---------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@override_settings(CACHES=sandbox_caches("test-command-connect"))
def test_as_a_subprocess_with_the_pin_on_standard_input(live_server: Any) -> None:
    """The subprocess prints the authorize URL and waits for the PIN; the test, as the
    user at Twitter, approves that request token in the sandbox and types the PIN."""
    alice = make_user("alice")
    provider = sandbox_provider(live_server.url)
    with subprocess.Popen(
        manage_args("twitter_oauth_connect", ALICE, "--access-type", "read"),
        cwd=ROOT,
        env=manage_env(live_server.url),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        # Should the command never print the URL (or never exit), it is killed.
        watchdog = threading.Timer(60, process.kill)
        watchdog.start()
        try:
            assert process.stdin and process.stdout and process.stderr
            printed = process.stdout.readline() + process.stdout.readline()
            pin = provider.approve(oauth_token_in(printed), user_id="77", screen_name="carol")
            process.stdin.write(f"{pin}\n")
            process.stdin.close()
            out, err = process.stdout.read(), process.stderr.read()
            process.wait(timeout=60)
        finally:
            watchdog.cancel()
            process.kill()
    assert process.returncode == 0, err
    assert printed.startswith("Open this URL, authorize the app, and note the PIN")
    assert f"{live_server.url}/sandbox/oauth/authorize?oauth_token=" in printed
    assert out == f"PIN: Linked @carol (77, read) to {ALICE}.\n"
    token = AccessToken.objects.get()
    assert (token.user, token.twitter_user_id, token.access_level) == (alice, "77", "read")
    assert provider.access_token_valid(token.token)
