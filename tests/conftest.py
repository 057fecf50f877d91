"""The project's tests use the fake Twitter's pytest plugin as the app's users would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
import requests
from django.conf import settings
from django.db import connections
from django.test import Client, TestCase
from django.test.utils import CaptureQueriesContext
from pytest_django import DjangoAssertNumQueries, DjangoCaptureOnCommitCallbacks, DjangoDbBlocker
from pytest_django.live_server_helper import LiveServer

from django_twitter_oauth import signals
from django_twitter_oauth.client import TwitterClient
from django_twitter_oauth.models import AccessToken
from tests.routers import mark_both_databases, use_second_database
from tests.sandbox_client import SANDBOX, DjangoClientAdapter
from tests.utils import SignalRecorder, claim_redis_database, tokens_alias

# tests.leakcheck: after every test, no secret in any output (see that module).
pytest_plugins = ["django_twitter_oauth.testing.pytest_plugin", "tests.leakcheck"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "leaks_allowed(reason): the test shows a secret by design; tests.leakcheck "
        "does not look at its outputs.",
    )
    config.addinivalue_line("markers", "slow: subprocesses or browsers; not in the fast lane.")


@pytest.fixture(scope="session")
def live_server(django_db_setup: None, live_server: LiveServer) -> LiveServer:
    """pytest-django's live server, started once the test database exists. Started
    before, on SQLite (NAME ":memory:" in tests/settings.py, a file once testing) it
    would take the test's own connection for an in-memory one, share it with its
    threads and close it after every request, under the test's feet."""
    return live_server


@pytest.fixture
def sent() -> Iterator[SignalRecorder]:
    """Every signal of the app sent during the test (tests.utils.SignalRecorder)."""
    with SignalRecorder() as recorder:
        yield recorder


@pytest.fixture
def received() -> Iterator[dict[str, list[dict[str, Any]]]]:
    """What token_revoked and token_discarded sent, as the keyword arguments."""
    log: dict[str, list[dict[str, Any]]] = {"revoked": [], "discarded": []}

    def on_revoked(sender: Any, **kwargs: Any) -> None:
        assert sender is AccessToken
        log["revoked"].append(kwargs)

    def on_discarded(sender: Any, **kwargs: Any) -> None:
        assert sender is AccessToken
        log["discarded"].append(kwargs)

    signals.token_revoked.connect(on_revoked, sender=AccessToken)
    signals.token_discarded.connect(on_discarded, sender=AccessToken)
    yield log
    signals.token_revoked.disconnect(on_revoked, sender=AccessToken)
    signals.token_discarded.disconnect(on_discarded, sender=AccessToken)


@pytest.fixture
def redis_database() -> Iterator[str]:
    """The URL of an empty Redis database on REDIS_URL's server, this run's alone
    (tests.utils.claim_redis_database), emptied when the test ends."""
    url, client = claim_redis_database(settings.RQ_QUEUES["default"]["URL"])
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None, django_db_blocker: DjangoDbBlocker
) -> None:
    """pytest-django's hook before the test databases are made: the shape of
    tests/settings_second_db.py needs its role, and both databases in every test."""
    with django_db_blocker.unblock():
        use_second_database()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_both_databases(items)


@pytest.fixture
def sandbox_state_in_database(settings: Any) -> None:
    """The sandbox as users run it: its state in the database (the suite's settings
    keep it in the cache for the tests that serve it to subprocesses)."""
    del settings.TWITTER_OAUTH_SANDBOX_CACHE


@pytest.fixture
def sandbox_client(client: Client, monkeypatch: pytest.MonkeyPatch) -> TwitterClient:
    """A TwitterClient whose requests reach the sandbox views in-process."""
    original = requests.Session.__init__

    def session_init(self: requests.Session) -> None:
        original(self)
        self.mount("http://testserver/", DjangoClientAdapter(client))

    monkeypatch.setattr(requests.Session, "__init__", session_init)
    return TwitterClient(api_url=SANDBOX)


# -- both databases in the second-database shape ----------------------------------------


@pytest.fixture
def django_capture_on_commit_callbacks() -> DjangoCaptureOnCommitCallbacks:
    """pytest-django's, on the database of the app's tables unless ``using`` says
    otherwise: the app's on-commit hooks are there (the "tokens" database of
    tests/settings_second_db.py)."""

    def capture(*, using: str | None = None, execute: bool = False) -> Any:
        return TestCase.captureOnCommitCallbacks(using=using or tokens_alias(), execute=execute)

    return capture


@contextmanager
def _queries_on_every_database(num: int, info: str | None = None) -> Iterator[None]:
    """Exactly ``num`` statements on every database together (one, or "default" and
    "tokens"), as pytest-django's fixture counts those of one."""
    with ExitStack() as stack:
        contexts = [stack.enter_context(CaptureQueriesContext(c)) for c in connections.all()]
        yield
    queries = [query for context in contexts for query in context.captured_queries]
    if len(queries) != num:
        sqls = "\n\n".join(query["sql"] for query in queries)
        pytest.fail(
            f"Expected to perform {num} queries but {len(queries)} were done"
            f"{chr(10) + info if info else ''}\n\nQueries:\n{sqls}"
        )


@pytest.fixture
def django_assert_num_queries() -> DjangoAssertNumQueries:
    """pytest-django's, counting the statements of every database together."""
    return _queries_on_every_database  # type: ignore[return-value]
