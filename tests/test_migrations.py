from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


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

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

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
