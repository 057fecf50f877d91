from __future__ import annotations

import copy
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor

from django_twitter_oauth.models import AccessToken


def tokens_connection() -> BaseDatabaseWrapper:
    """The connection of the app's tables (the "tokens" database in the second-database
    shape)."""
    return connections[router.db_for_write(AccessToken)]


@pytest.mark.django_db
def test_no_missing_migrations() -> None:
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=StringIO())
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_0003_keeps_only_a_hash_of_pending_request_tokens() -> None:
    """Pending authorizations begun before the upgrade still complete (looked up by the
    hash of their token), and the token itself is gone from the table."""
    import hashlib

    from django.db.migrations.executor import MigrationExecutor

    connection = tokens_connection()
    before = [("twitter_oauth", "0002_tokenevent")]
    after = [("twitter_oauth", "0003_requesttoken_token_hash")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps.get_model("twitter_oauth", "RequestToken")
        old.objects.create(token="pendingTOKEN", secret="s", flow_key_hash="h" * 64)
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        new = executor.loader.project_state(after).apps.get_model("twitter_oauth", "RequestToken")
        row = new.objects.get()
        assert row.token_hash == hashlib.sha256(b"pendingTOKEN").hexdigest()
        assert "token" not in {field.name for field in new._meta.get_fields()}
        # Backwards, the tokens cannot come back: the pending rows go.
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        old = executor.loader.project_state(before).apps.get_model("twitter_oauth", "RequestToken")
        assert not old.objects.exists()
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


USER_KEYS = [
    ("AccessToken", "user"),
    ("RequestToken", "user"),
    ("TokenEvent", "user"),
    ("TokenEvent", "actor"),
]


def user_key_constraints(connection: BaseDatabaseWrapper, apps: object) -> list[str]:
    """The foreign key constraints the database has on the app's user columns."""
    found = []
    with connection.cursor() as cursor:
        for model_name, field_name in USER_KEYS:
            model = apps.get_model("twitter_oauth", model_name)  # type: ignore[attr-defined]
            column = model._meta.get_field(field_name).column
            table = model._meta.db_table
            constraints = connection.introspection.get_constraints(cursor, table)
            found += [
                f"{table}.{column}"
                for info in constraints.values()
                if info["foreign_key"] and info["columns"] == [column]
            ]
    return found


@pytest.mark.django_db(transaction=True)
def test_0004_drops_the_user_key_constraints_of_earlier_installs() -> None:
    """The user keys carry no constraint, so the app's tables can live in another
    database than the users: 0004 drops the constraints 0001 and 0002 made before."""
    connection = tokens_connection()
    before = [("twitter_oauth", "0003_requesttoken_token_hash")]
    after = [("twitter_oauth", "0004_user_keys_without_constraint")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        apps = executor.loader.project_state(before).apps
        same_database = connection.alias == router.db_for_write(
            apps.get_model(settings.AUTH_USER_MODEL)
        )
        if same_database:
            # What 0001 and 0002 made before: a constraint on each user key.
            with connection.schema_editor() as editor:
                for model_name, field_name in USER_KEYS:
                    model = apps.get_model("twitter_oauth", model_name)
                    field = model._meta.get_field(field_name)
                    constrained = copy.copy(field)
                    constrained.db_constraint = True
                    editor.alter_field(model, field, constrained)
                    # SQLite rebuilds the table from the model: keep the constraint.
                    field.db_constraint = True
            assert len(user_key_constraints(connection, apps)) == len(USER_KEYS)
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        assert user_key_constraints(connection, apps) == []
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
