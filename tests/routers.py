"""The database router of tests/settings_second_db.py: the app's tables (app label
``twitter_oauth``) in the "tokens" database, everything else (users, sessions, the
sandbox, task queues) in "default". What a site does to keep OAuth credentials behind
database credentials of their own (docs/models.rst)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import models

#: The database alias of the app's tables.
TOKENS = "tokens"
#: The role the "tokens" alias connects as: it has no rights on the default database.
TOKENS_ROLE = "twitter_oauth_tokens"
TOKENS_PASSWORD = "tests-tokens-role"


def _alias(model: type[models.Model]) -> str:
    return TOKENS if model._meta.app_label == "twitter_oauth" else "default"


class TokensRouter:
    def db_for_read(self, model: type[models.Model], **hints: Any) -> str:
        return _alias(model)

    def db_for_write(self, model: type[models.Model], **hints: Any) -> str:
        return _alias(model)

    def allow_relation(self, obj1: models.Model, obj2: models.Model, **hints: Any) -> bool:
        # A token's user lives in the other database: Django refuses the assignment
        # (token.user = user) unless a router allows it. No database enforces it.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return (db == TOKENS) == (app_label == "twitter_oauth")


def create_tokens_role() -> None:
    """Create the "tokens" alias's role once per server (idempotent, safe when two runs
    race), as a superuser through the "default" alias: it may log in and create its own
    test database, and is granted nothing on the default database."""
    from django.db import connections

    with connections["default"]._nodb_cursor() as cursor:
        cursor.execute(
            f"""
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{TOKENS_ROLE}') THEN
                    CREATE ROLE {TOKENS_ROLE} LOGIN CREATEDB PASSWORD '{TOKENS_PASSWORD}';
                END IF;
            EXCEPTION WHEN duplicate_object THEN NULL;
            END
            $$
            """
        )


def use_second_database() -> None:
    """With tests/settings_second_db.py, before the test databases are made: the role
    of the "tokens" alias exists."""
    from django.conf import settings

    if TOKENS in settings.DATABASES:
        create_tokens_role()


#: pytest-django's fixtures that give a test the database without a marker.
_DB_FIXTURES = {"db", "transactional_db", "live_server"}


def mark_both_databases(items: list[pytest.Item]) -> None:
    """With tests/settings_second_db.py, every test that uses the database uses both
    (a ``django_db`` marker, nearest to the test, with the test's own options and
    ``databases`` added), so no test needs ``databases={"default", "tokens"}`` of its
    own and pytest-django makes both test databases."""
    from django.conf import settings

    if TOKENS not in settings.DATABASES:
        return
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None and not _DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            continue
        kwargs = dict(marker.kwargs) if marker else {}
        named = kwargs.get("databases") or ["default"]
        kwargs["databases"] = "__all__" if named == "__all__" else {*named, TOKENS}
        args = marker.args if marker else ()
        item.add_marker(pytest.mark.django_db(*args, **kwargs), append=False)
