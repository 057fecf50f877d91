"""The project's tests use the fake Twitter's pytest plugin as the app's users would."""

from __future__ import annotations

import pytest
from pytest_django import DjangoDbBlocker
from pytest_django.live_server_helper import LiveServer

from tests.routers import mark_both_databases, use_second_database

# tests.leakcheck: after every test, no secret in any output (see that module).
pytest_plugins = ["django_twitter_oauth.testing.pytest_plugin", "tests.leakcheck"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "leaks_allowed(reason): the test shows a secret by design; tests.leakcheck "
        "does not look at its outputs.",
    )


@pytest.fixture(scope="session")
def live_server(django_db_setup: None, live_server: LiveServer) -> LiveServer:
    """pytest-django's live server, started once the test database exists. Started
    before, on SQLite (NAME ":memory:" in tests/settings.py, a file once testing) it
    would take the test's own connection for an in-memory one, share it with its
    threads and close it after every request, under the test's feet."""
    return live_server


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
