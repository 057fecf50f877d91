"""Secrets never leak: a check run after every test of the suite (issue #9).

A pytest plugin, loaded from tests/conftest.py. For the whole session it captures
every log record at DEBUG from every logger, every response a Django view of ours
produced (test client and live server alike; the sandbox's own views, Twitter's
stand-in, are left out), every exception of the app, everything management commands
wrote and what ``subprocess.run`` captured. It knows the secrets: the consumer secret,
FERNET_KEYS, ``tests.utils`` TOKEN/SECRET, whatever the fake Twitter issues (request
token secrets, access tokens and secrets, verifiers and PINs) and every token and
secret stored in the database. After each test it looks for every secret in those
outputs and, when the test used the database, in ``repr()``/``str()`` of the app's
model instances, in every TokenEvent field and in a raw dump of every table (where
secrets may only appear as Fernet ciphertext). A secret found fails the test.

A test that must show a secret by design says why with
``@pytest.mark.leaks_allowed("reason")``; Python values a test handles itself (a
decrypted field compared with the expected secret) are not outputs and are not
looked at. :func:`find_leaks` is the checker itself, usable on any texts.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.handlers.base import BaseHandler
from django.core.management.base import CommandError, OutputWrapper
from django.db import connections, models
from django.http import HttpRequest, HttpResponseBase

from django_twitter_oauth.conf import app_settings
from django_twitter_oauth.exceptions import TwitterOAuthError
from django_twitter_oauth.testing.provider import FakeProvider
from tests import utils

#: Shorter values are not looked for: they would match by chance (a PIN has 7 digits).
MIN_LENGTH = 7
#: Loggers set to DEBUG for the session (the root logger, and the ones that may have
#: been given a level of their own).
LOGGERS = ("", "django", "django_twitter_oauth", "oauthlib", "requests_oauthlib", "urllib3")
#: The sandbox: Twitter's stand-in, which shows a PIN on its own page by design.
SANDBOX_APP = "twitter_oauth_sandbox"

#: (where, text): one output and where it came from.
Text = tuple[str, str]


class Recorder:
    """The outputs of one test and the secrets issued while it ran (from any thread)."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.logs: list[str] = []
        self.pages: list[Text] = []
        self.exceptions: list[BaseException] = []
        self.command_output: list[str] = []

    def add_secrets(self, *values: str) -> None:
        self.secrets.update(values)

    def texts(self) -> Iterator[Text]:
        """Every recorded output, with where it came from."""
        for text in self.logs:
            yield "log record", text
        for where, text in self.pages:
            yield f"response to {where}", text
        for exc in self.exceptions:
            yield f"exception {type(exc).__name__}", f"{exc}\n{exc!r}\n{vars(exc)!r}"
        for text in self.command_output:
            yield "command output", text


_current = Recorder()


def current() -> Recorder:
    return _current


@contextmanager
def recording() -> Iterator[Recorder]:
    """Record into a fresh :class:`Recorder` inside the block (for planting leaks in
    test_leakcheck.py without failing the test that plants them)."""
    global _current
    previous, _current = _current, Recorder()
    try:
        yield _current
    finally:
        _current = previous


def static_secrets() -> set[str]:
    """The secrets known without the fake: the consumer secret, FERNET_KEYS and
    tests.utils' TOKEN and SECRET (as configured now: a test may override them)."""
    keys = getattr(settings, "FERNET_KEYS", None) or []
    return {
        app_settings.CONSUMER_SECRET,
        *(key.decode() if isinstance(key, bytes) else str(key) for key in keys),
        utils.TOKEN,
        utils.SECRET,
    }


def mask(secret: str) -> str:
    """Enough of a secret to recognize it in a report, not the secret itself."""
    return f"{secret[:4]}...({len(secret)} chars)"


def find_leaks(secrets: Iterable[str], texts: Iterable[Text]) -> list[str]:
    """Where each secret appears in ``texts``, one line each; empty when none does.

    Values shorter than :data:`MIN_LENGTH` are skipped. One search per secret over
    all texts at once keeps this cheap; only a hit is looked up text by text.
    """
    texts = list(texts)
    everything = "\0".join(text for _, text in texts)
    found: list[str] = []
    for secret in sorted(s for s in set(secrets) if len(s) >= MIN_LENGTH):
        if secret in everything:
            found.extend(f"{where}: {mask(secret)}" for where, text in texts if secret in text)
    return found


# -- what only the database holds -----------------------------------------------------


def _cell(value: Any) -> str:
    # PostgreSQL returns bytea as memoryview, SQLite BLOBs as bytes: show their bytes.
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _encrypted_fields() -> dict[type[models.Model], tuple[str, ...]]:
    """The app's models and their encrypted fields."""
    from django_twitter_oauth.models import AccessToken, RequestToken, TokenEvent

    return {AccessToken: ("token", "secret"), RequestToken: ("secret",), TokenEvent: ()}


def database_dump() -> tuple[list[Text], set[str]]:
    """A raw dump of every table that has rows (one text per table) and the plaintext
    of every encrypted value the current keys can decrypt (the secrets the site holds)."""
    from django_twitter_oauth.fields import build_fernet

    # Their columns are named as the fields are.
    encrypted = {model._meta.db_table: names for model, names in _encrypted_fields().items()}
    fernet = build_fernet()  # from the settings now, not the app's cached one
    texts: list[Text] = []
    stored: set[str] = set()
    # Every database: a router may keep the app's tables apart from the rest.
    for connection in connections.all():
        _dump(connection, encrypted, fernet, texts, stored)
    return texts, stored


def _dump(
    connection: Any,
    encrypted: dict[str, tuple[str, ...]],
    fernet: Any,
    texts: list[Text],
    stored: set[str],
) -> None:
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            if table.startswith(f"{SANDBOX_APP}_sandboxstate"):
                # Twitter's side of the tokens, kept by Twitter's stand-in (as Twitter does).
                continue
            # Table names come from the database itself, quoted.
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            rows = cursor.fetchall()
            if not rows:
                continue
            texts.append((f"table {table}", "\n".join(" | ".join(map(_cell, r)) for r in rows)))
            for index, column in enumerate(column[0] for column in cursor.description):
                if column in encrypted.get(table, ()):
                    for row in rows:
                        # Written under other keys: not readable, so not shown either.
                        with suppress(InvalidToken):
                            stored.add(fernet.decrypt(bytes(row[index])).decode())


def model_texts(tables: set[str]) -> Iterator[Text]:
    """``str()``/``repr()`` of the app's model instances, every TokenEvent field, and
    the decoded sessions (the raw dump shows them signed and encoded only), from the
    ``tables`` that have rows."""
    from django.contrib.sessions.models import Session

    from django_twitter_oauth.models import TokenEvent

    event_fields = TokenEvent._meta.concrete_fields
    for model, secret_fields in _encrypted_fields().items():
        if model._meta.db_table not in tables:
            continue
        # Deferred: repr() must not need the secrets (and rows under other keys load).
        for obj in model._default_manager.defer(*secret_fields):
            yield f"{model.__name__} {obj.pk} str()/repr()", f"{obj}\n{obj!r}"
            if isinstance(obj, TokenEvent):
                yield (
                    f"TokenEvent {obj.pk} fields",
                    "\n".join(str(field.value_from_object(obj)) for field in event_fields),
                )
    if Session._meta.db_table in tables:
        for session in Session.objects.all():
            yield f"session {session.session_key} (decoded)", repr(session.get_decoded())


def check(recorder: Recorder, *, database: bool) -> list[str]:
    """Every leak among the recorder's outputs and, with ``database``, in the database."""
    secrets = static_secrets() | recorder.secrets
    texts = list(recorder.texts())
    if database:
        dump, stored = database_dump()
        secrets |= stored
        texts += dump
        texts += model_texts({where.removeprefix("table ") for where, _ in dump})
    return find_leaks(secrets, texts)


# -- capturing the outputs --------------------------------------------------------------


class _Handler(logging.Handler):
    """Keeps every record as a handler would write it (formatted when emitted)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        current().logs.append(f"{self.format(record)}\nargs: {record.args!r}")


def _record_response(request: HttpRequest, response: HttpResponseBase) -> None:
    match = request.resolver_match
    if match is not None and SANDBOX_APP in match.app_names:
        return
    body = b"" if response.streaming else response.content  # type: ignore[attr-defined]
    headers = "\n".join(f"{name}: {value}" for name, value in response.items())
    cookies = response.cookies.output()
    where = f"{request.method} {request.path} ({response.status_code})"
    current().pages.append((where, f"{headers}\n{cookies}\n{body.decode('utf-8', 'replace')}"))


def _wrap(
    target: Any, name: str, after: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replace ``target.name`` with a function that calls it, then ``after(result,
    *args, **kwargs)``."""
    original = getattr(target, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        after(result, *args, **kwargs)
        return result

    monkeypatch.setattr(target, name, wrapper)


def install(monkeypatch: pytest.MonkeyPatch) -> logging.Handler:
    """Start capturing (undone by ``monkeypatch.undo()``) but for logging: returns the
    log handler, which the caller removes from the root logger."""

    # The fake's issuing points. A request token travels in the authorize URL by
    # design: only its secret is one.
    def request_token(_: None, provider: Any, token: str, secret: str, **kw: Any) -> None:
        current().add_secrets(secret)

    def access_token(_: None, provider: Any, token: str, secret: str, **kw: Any) -> None:
        current().add_secrets(token, secret)

    def verifier(issued: str, *args: Any, **kwargs: Any) -> None:
        current().add_secrets(issued)

    def response(response: HttpResponseBase, handler: Any, request: HttpRequest) -> None:
        _record_response(request, response)

    def written(_: None, wrapper: Any, msg: str = "", *args: Any, **kwargs: Any) -> None:
        current().command_output.append(str(msg))

    def raised(_: None, exc: BaseException, *args: Any, **kwargs: Any) -> None:
        current().exceptions.append(exc)

    def completed(result: subprocess.CompletedProcess[Any], *args: Any, **kwargs: Any) -> None:
        current().command_output.extend(_cell(out) for out in (result.stdout, result.stderr))

    _wrap(FakeProvider, "add_request_token", request_token, monkeypatch)
    _wrap(FakeProvider, "add_access_token", access_token, monkeypatch)
    _wrap(FakeProvider, "approve", verifier, monkeypatch)
    _wrap(BaseHandler, "get_response", response, monkeypatch)
    _wrap(OutputWrapper, "write", written, monkeypatch)
    _wrap(TwitterOAuthError, "__init__", raised, monkeypatch)
    _wrap(CommandError, "__init__", raised, monkeypatch)
    _wrap(subprocess, "run", completed, monkeypatch)
    handler = _Handler()
    logging.getLogger().addHandler(handler)
    return handler


@pytest.fixture(scope="session", autouse=True)
def leakcheck() -> Iterator[None]:
    """Capture every test's outputs for the session (see the module's docstring)."""
    monkeypatch = pytest.MonkeyPatch()
    handler = install(monkeypatch)
    # setLevel(), not the attribute: it also clears the loggers' isEnabledFor() caches.
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger().removeHandler(handler)
    monkeypatch.undo()


def uses_database(item: pytest.Item) -> bool:
    """Whether the test had database access (pytest-django's mark or fixtures)."""
    return item.get_closest_marker("django_db") is not None or "_django_db_helper" in getattr(
        item, "fixturenames", ()
    )


def verify(recorder: Recorder, item: pytest.Item) -> None:
    """Fail the test ``item`` if a secret is in its outputs, unless it allows it."""
    if item.get_closest_marker("leaks_allowed") is None:
        leaks = check(recorder, database=uses_database(item))
        if leaks:
            pytest.fail("Secrets leaked:\n" + "\n".join(leaks), pytrace=False)


_RECORDER = pytest.StashKey[Recorder]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    global _current
    _current = item.stash[_RECORDER] = Recorder()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    # After the test body, before any fixture's teardown: the test's database
    # transaction and its settings are still in place (and a recorder of a test's
    # own, test_leakcheck.py's, still current). A failed test fails anyway.
    result = yield
    verify(item.stash[_RECORDER], item)
    return result
