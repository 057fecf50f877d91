"""The user keys (AccessToken.user, RequestToken.user, TokenEvent.user and .actor) carry
no database constraint, so the app's tables may live in another database than the user
table (docs/models.rst). 0001 and 0002 now create them without one; this drops the
constraints a database migrated by their earlier versions still has. Django keeps
emulating on_delete (CASCADE, SET_NULL) when the user is deleted."""

from __future__ import annotations

import copy
from typing import Any

from django.conf import settings
from django.db import migrations, models

import django_twitter_oauth.models

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
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Backwards: nothing; the keys keep working without their constraints.
        migrations.RunPython(drop_user_constraints, migrations.RunPython.noop, elidable=True),
        # CASCADE and SET_NULL on the user's database only; across databases the app's
        # pre_delete receiver clears the rows (django_twitter_oauth.deletion).
        migrations.AlterField(
            model_name="accesstoken",
            name="user",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django_twitter_oauth.models.cascade_here,
                related_name="twitter_tokens",
                to=settings.AUTH_USER_MODEL,
                verbose_name="user",
            ),
        ),
        migrations.AlterField(
            model_name="requesttoken",
            name="user",
            field=models.ForeignKey(
                blank=True,
                null=True,
                db_constraint=False,
                on_delete=django_twitter_oauth.models.cascade_here,
                related_name="twitter_request_tokens",
                to=settings.AUTH_USER_MODEL,
                verbose_name="user",
            ),
        ),
        migrations.AlterField(
            model_name="tokenevent",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                null=True,
                db_constraint=False,
                on_delete=django_twitter_oauth.models.set_null_here,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="actor",
            ),
        ),
        migrations.AlterField(
            model_name="tokenevent",
            name="user",
            field=models.ForeignKey(
                blank=True,
                null=True,
                db_constraint=False,
                on_delete=django_twitter_oauth.models.set_null_here,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="user",
            ),
        ),
    ]
