"""RequestToken keeps only a SHA-256 of Twitter's oauth_token: nothing at rest rebuilds a
pending authorization (a staff lookup on the token could). And the access type asked
for, per flow."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import migrations, models


def hash_tokens(apps: Any, schema_editor: Any) -> None:
    RequestToken = apps.get_model("twitter_oauth", "RequestToken")
    rows = RequestToken.objects.using(schema_editor.connection.alias)
    for pk, token in rows.values_list("pk", "token").iterator():
        rows.filter(pk=pk).update(token_hash=hashlib.sha256(token.encode()).hexdigest())


def forget_pending(apps: Any, schema_editor: Any) -> None:
    """Backwards: the tokens themselves are gone, so are the pending authorizations."""
    RequestToken = apps.get_model("twitter_oauth", "RequestToken")
    RequestToken.objects.using(schema_editor.connection.alias).all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("twitter_oauth", "0002_tokenevent"),
    ]

    operations = [
        migrations.AddField(
            model_name="requesttoken",
            name="token_hash",
            field=models.CharField(max_length=64, null=True, verbose_name="request token hash"),
        ),
        # Pending authorizations begun before the upgrade still complete.
        migrations.RunPython(hash_tokens, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="requesttoken",
            name="token_hash",
            field=models.CharField(max_length=64, unique=True, verbose_name="request token hash"),
        ),
        migrations.RemoveField(model_name="requesttoken", name="token"),
        migrations.RunPython(migrations.RunPython.noop, forget_pending, elidable=True),
        migrations.AddField(
            model_name="requesttoken",
            name="access_type",
            field=models.CharField(
                blank=True,
                help_text='The x_auth_access_type asked for ("read" or "write"), if any.',
                max_length=8,
                verbose_name="access type",
            ),
        ),
    ]
