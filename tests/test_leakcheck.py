"""The leak check of tests/leakcheck.py can fail: a secret planted in each channel is found.

Leaks are planted inside ``leakcheck.recording()``, a recorder of their own, so the
check that runs after each of these tests (on the session's recorder) stays clean;
what they plant in the database they remove before they end.
"""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.core.management.base import CommandError, OutputWrapper
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import include, path

from django_twitter_oauth.exceptions import TwitterRejected
from django_twitter_oauth.models import AccessToken, TokenEvent
from django_twitter_oauth.testing import FakeTwitter
from tests import leakcheck
from tests.utils import SECRET, TOKEN, make_token, make_user

PLANTED = "planted-secret-0123456789"


def leaky(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(f"<p>{request.GET.get('show', '')}</p>")
    response["X-Token"] = request.GET.get("header", "")
    response.set_cookie("seen", request.GET.get("cookie", ""))
    return response


# This module is also a URLconf: the site's URLs plus a page that shows what it is given.
urlpatterns = [path("leaky/", leaky), path("", include("tests.urls"))]


@pytest.fixture
def recorder() -> Iterator[leakcheck.Recorder]:
    """A recorder of the test's own, which knows PLANTED as a secret."""
    with leakcheck.recording() as recorder:
        recorder.add_secrets(PLANTED)
        yield recorder


def found(recorder: leakcheck.Recorder, *, database: bool = False) -> list[str]:
    return leakcheck.check(recorder, database=database)


# -- the checker itself -------------------------------------------------------------------


def test_find_leaks_says_where_and_masks_the_secret() -> None:
    texts = [("log record", "nothing here"), ("page /a", f"token={PLANTED}&x=1")]

    assert leakcheck.find_leaks([PLANTED], texts) == ["page /a: plan...(25 chars)"]


def test_find_leaks_clean_and_short_values() -> None:
    texts = [("page /a", "a 123456 b")]

    assert leakcheck.find_leaks([PLANTED], texts) == []
    # Too short to look for: it would match by chance.
    assert leakcheck.find_leaks(["123456"], texts) == []
    assert leakcheck.find_leaks(["1234567"], [("page", "1234567")]) == ["page: 1234...(7 chars)"]


def test_known_secrets() -> None:
    assert {"tests-consumer-secret", "tests-fernet-key-1", TOKEN, SECRET} <= (
        leakcheck.static_secrets()
    )
    with override_settings(FERNET_KEYS=[b"bytes-fernet-key"]):
        assert "bytes-fernet-key" in leakcheck.static_secrets()


def test_recording_restores_the_session_recorder() -> None:
    outer = leakcheck.current()
    with leakcheck.recording() as inner:
        assert leakcheck.current() is inner is not outer
    assert leakcheck.current() is outer


# -- each channel -------------------------------------------------------------------------


def test_log_records(recorder: leakcheck.Recorder) -> None:
    logger = logging.getLogger("tests.planted")
    logger.debug("clean %s", "value")
    assert found(recorder) == []

    logger.debug("token %s", PLANTED)
    try:
        raise ValueError(PLANTED)
    except ValueError:
        logger.exception("in the traceback only")

    assert found(recorder, database=False) == ["log record: plan...(25 chars)"] * 2
    assert "args: ('planted-secret-0123456789',)" in recorder.logs[1]


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=__name__)
def test_pages(client: Client, recorder: leakcheck.Recorder) -> None:
    client.get("/leaky/")
    client.get("/no-such-page/")
    client.get("/sandbox/")  # the sandbox's own pages are Twitter's, not ours
    assert found(recorder) == []
    assert [where for where, _ in recorder.pages] == [
        "GET /leaky/ (200)",
        "GET /no-such-page/ (404)",
    ]

    for where in ("show", "header", "cookie"):
        client.get("/leaky/", {where: PLANTED})

    assert (
        found(recorder, database=False) == ["response to GET /leaky/ (200): plan...(25 chars)"] * 3
    )


def test_exceptions(recorder: leakcheck.Recorder) -> None:
    TwitterRejected("Twitter refused.", endpoint="oauth/access_token")
    assert found(recorder) == []

    TwitterRejected(f"Twitter refused {PLANTED}.")
    TwitterRejected("Twitter refused.", twitter_message=PLANTED)
    CommandError(PLANTED, returncode=2)

    assert found(recorder) == [
        "exception TwitterRejected: plan...(25 chars)",
        "exception TwitterRejected: plan...(25 chars)",
        "exception CommandError: plan...(25 chars)",
    ]


def test_command_output(recorder: leakcheck.Recorder) -> None:
    out = OutputWrapper(io.StringIO())
    out.write("Revoked 1 token.")
    subprocess.run([sys.executable, "-c", "print('clean')"], capture_output=True, check=True)
    subprocess.run([sys.executable, "-c", "pass"], check=True)  # nothing captured
    assert found(recorder) == []

    out.write(PLANTED)
    subprocess.run(
        [sys.executable, "-c", f"import sys; sys.stderr.write({PLANTED!r})"],
        capture_output=True,
        text=True,
        check=True,
    )

    assert found(recorder) == ["command output: plan...(25 chars)"] * 2


def test_what_the_fake_issues_is_secret(
    fake_twitter: FakeTwitter, recorder: leakcheck.Recorder
) -> None:
    fake_twitter.provider.add_request_token("request-token-1234", "request-secret-1234")
    verifier = fake_twitter.approve("request-token-1234")
    fake_twitter.add_access_token("access-token-1234", "access-secret-1234")

    assert recorder.secrets - {PLANTED} == {
        "request-secret-1234",
        verifier,
        "access-token-1234",
        "access-secret-1234",
    }


@pytest.mark.django_db
def test_model_repr(recorder: leakcheck.Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    token = make_token()
    assert found(recorder, database=True) == []

    with monkeypatch.context() as patch:
        patch.setattr(AccessToken, "__str__", lambda self: f"@x {self.secret}")
        leaks = found(recorder, database=True)

    assert leaks == [f"AccessToken {token.pk} str()/repr(): 2EEf...(40 chars)"]


@pytest.mark.django_db
def test_token_events(recorder: leakcheck.Recorder) -> None:
    event = TokenEvent.for_token(make_token(), TokenEvent.Action.REVOKED, reason="by staff")
    event.save()
    assert found(recorder, database=True) == []

    TokenEvent.objects.filter(pk=event.pk).update(reason=f"sent {TOKEN}")

    assert found(recorder, database=True) == [
        "table twitter_oauth_tokenevent: 6253...(48 chars)",
        f"TokenEvent {event.pk} fields: 6253...(48 chars)",
    ]
    TokenEvent.objects.all().delete()


@pytest.mark.django_db
def test_raw_database_dump(recorder: leakcheck.Recorder) -> None:
    user = make_user("planted")
    # The password column: every user model has one, whatever its other fields.
    type(user).objects.filter(pk=user.pk).update(password=PLANTED)
    session = SessionStore()
    session["kept"] = f"oauth_token_secret={SECRET}"
    session.save()

    # Raw, the session is signed and encoded: only decoding it shows the secret.
    assert found(recorder, database=True) == [
        f"session {session.session_key} (decoded): 2EEf...(40 chars)",
        f"table {type(user)._meta.db_table}: plan...(25 chars)",
    ]
    type(user).objects.all().delete()
    session.delete()


@pytest.mark.django_db
def test_stored_secrets_are_known(recorder: leakcheck.Recorder) -> None:
    # Neither the fake nor tests.utils know these: only the database does.
    make_token(token="stored-token-98765", secret="stored-secret-98765")
    with override_settings(FERNET_KEYS=["another-key"]):
        make_token(
            make_user("bob"), twitter_user_id="2", token="other-key-98765", secret="other-98765"
        )
    logging.getLogger("tests.planted").info(
        "stored-token-98765 stored-secret-98765 other-key-98765"
    )

    # A value no current key decrypts is not known (and does not break the check).
    assert found(recorder, database=True) == [
        "log record: stor...(19 chars)",
        "log record: stor...(18 chars)",
    ]
    AccessToken.objects.all().delete()


def test_verify_fails_the_test(request: pytest.FixtureRequest) -> None:
    with leakcheck.recording() as recorder:
        recorder.add_secrets(PLANTED)
        recorder.logs.append(f"logged {PLANTED}")
        with pytest.raises(pytest.fail.Exception) as info:
            leakcheck.verify(recorder, request.node)

    assert str(info.value) == "Secrets leaked:\nlog record: plan...(25 chars)"


@pytest.mark.leaks_allowed("proves the opt-out works")
def test_opt_out(request: pytest.FixtureRequest) -> None:
    logging.getLogger("tests.planted").warning("shown on purpose: %s", SECRET)

    leakcheck.verify(leakcheck.current(), request.node)  # no failure


def test_uses_database(request: pytest.FixtureRequest) -> None:
    assert not leakcheck.uses_database(request.node)


@pytest.mark.django_db
def test_uses_database_by_mark(request: pytest.FixtureRequest) -> None:
    assert leakcheck.uses_database(request.node)


def test_uses_database_by_fixture(request: pytest.FixtureRequest, db: None) -> None:
    assert leakcheck.uses_database(request.node)
