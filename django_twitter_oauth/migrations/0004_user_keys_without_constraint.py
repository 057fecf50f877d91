"""The user keys (AccessToken.user, RequestToken.user, TokenEvent.user and .actor) carry
no database constraint, so the app's tables may live in another database than the user
table (docs/models.rst). 0001 and 0002 now create them without one; this drops the
constraints a database migrated by their earlier versions still has. Django keeps
emulating on_delete (CASCADE, SET_NULL) when the user is deleted."""

from __future__ import annotations

import copy
from typing import Any

from django.db import migrations

#: (model, field) of each key to the user model.
USER_KEYS = [
    ("AccessToken", "user"),
    ("RequestToken", "user"),
    ("TokenEvent", "user"),
    ("TokenEvent", "actor"),
]


def drop_user_constraints(apps: Any, schema_editor: Any) -> None:
    """Alter each key from "with a constraint" to "without": the backend drops the
    constraint if the database has one (PostgreSQL, MySQL), or rebuilds the table
    without it (SQLite); nothing is dropped where there is none."""
    for model_name, field_name in USER_KEYS:
        model = apps.get_model("twitter_oauth", model_name)
        new = model._meta.get_field(field_name)
        old = copy.copy(new)
        old.db_constraint = True
        schema_editor.alter_field(model, old, new)


class Migration(migrations.Migration):
    dependencies = [
        ("twitter_oauth", "0003_requesttoken_token_hash"),
    ]

    operations = [
        # Backwards: nothing; the keys keep working without their constraints.
        migrations.RunPython(drop_user_constraints, migrations.RunPython.noop, elidable=True),
    ]
