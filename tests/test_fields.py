from __future__ import annotations

from typing import Any

import pytest
from django.apps.registry import Apps
from django.db import connection, connections, models, router
from django.test import override_settings

from django_twitter_oauth import fields, rotation
from django_twitter_oauth.models import AccessToken, RequestToken
from tests.utils import make_token, make_user


def test_fernet_is_built_once_and_dropped_when_keys_change() -> None:
    first = fields.get_fernet()
    assert fields.get_fernet() is first
    with override_settings(FERNET_KEYS=["another"]):
        second = fields.get_fernet()
        assert second is not first
        token = second.encrypt(b"x")
    # Leaving override_settings is a change too: the old keys are back.
    third = fields.get_fernet()
    assert third is not second
    assert third.decrypt(first.encrypt(b"y")) == b"y"
    with override_settings(FERNET_KEYS=["another"]):
        assert fields.get_fernet().decrypt(token) == b"x"


def test_unrelated_setting_changes_keep_the_cache() -> None:
    first = fields.get_fernet()
    with override_settings(TWITTER_OAUTH_TIMEOUT=3):
        assert fields.get_fernet() is first


def test_secret_key_change_drops_the_cache(settings: object) -> None:
    first = fields.get_fernet()
    settings.SECRET_KEY = "changed"  # type: ignore[attr-defined]
    assert fields.get_fernet() is not first


# -- reencrypt ------------------------------------------------------------------------------

OLD = "tests-fernet-key-1"  # tests/settings.py's FERNET_KEYS
NEW = "reencrypt-new-key"


def stored(model: type[models.Model]) -> dict[Any, tuple[bytes | None, ...]]:
    """The raw encrypted columns of each row, by primary key."""
    columns = [
        str(f.column)
        for f in model._meta.concrete_fields
        if isinstance(f, fields.EncryptedTextField)
    ]
    with connections[router.db_for_read(model)].cursor() as cursor:
        cursor.execute(
            f"SELECT id, {', '.join(columns)} FROM {model._meta.db_table}"  # noqa: S608
        )
        return {
            pk: tuple(None if value is None else bytes(value) for value in values)
            for pk, *values in cursor.fetchall()
        }


def under(key: str, value: bytes | None) -> bool:
    """Whether ``value`` was encrypted with ``key``."""
    with override_settings(FERNET_KEYS=[key]):
        primary = fields.build_fernet(primary_only=True)
        return value is not None and rotation._readable_by(primary, value)


@pytest.mark.django_db
def test_reencrypt_rotates_in_batches_from_after_pk() -> None:
    owner = make_user()
    tokens = [
        make_token(owner, twitter_user_id=str(n), token=f"token{n}", secret=f"secret{n}")
        for n in range(1, 6)
    ]
    before = stored(AccessToken)
    batches: list[rotation.Rotation] = []
    with override_settings(FERNET_KEYS=[NEW, OLD]):
        result = rotation.reencrypt(
            AccessToken, batch_size=2, after_pk=tokens[0].pk, on_batch=batches.append
        )
    # The total carries no primary keys (memory stays flat); each batch has its own.
    assert result == rotation.Rotation(rotated=4)
    assert [batch.rotated_pks for batch in batches] == [
        [tokens[1].pk, tokens[2].pk],
        [tokens[3].pk, tokens[4].pk],
    ]
    after = stored(AccessToken)
    assert after[tokens[0].pk] == before[tokens[0].pk]
    assert all(under(NEW, value) for t in tokens[1:] for value in after[t.pk])
    with override_settings(FERNET_KEYS=[NEW]):
        assert [(t.token, t.secret) for t in AccessToken.objects.order_by("pk")[1:]] == [
            (f"token{n}", f"secret{n}") for n in range(2, 6)
        ]


@pytest.mark.django_db
def test_reencrypt_without_on_batch_and_nothing_to_do() -> None:
    make_token()
    with override_settings(FERNET_KEYS=[OLD, NEW]):
        result = rotation.reencrypt(AccessToken)
    assert (result.rotated, result.current) == (0, 1)
    assert rotation.reencrypt(RequestToken) == rotation.Rotation()


@pytest.mark.django_db
def test_reencrypt_counts_a_row_with_one_unreadable_column_as_unreadable() -> None:
    token = make_token()
    with override_settings(FERNET_KEYS=["lost"]):
        AccessToken.objects.filter(pk=token.pk).update(secret="written-with-a-lost-key")
    before = stored(AccessToken)
    with override_settings(FERNET_KEYS=[NEW, OLD]):
        result = rotation.reencrypt(AccessToken)
    assert (result.rotated, result.unreadable) == (0, 1)
    assert stored(AccessToken) == before


@pytest.mark.django_db(transaction=True)
def test_reencrypt_null_columns() -> None:
    """NULL stays NULL, and the compare-and-set matches a NULL column (NULL = NULL is
    never true in SQL: such rows would be "changed meanwhile" forever)."""
    registry = Apps(installed_apps=[])

    class Nullable(models.Model):
        # The app's own encrypted columns are NOT NULL; the field is typed for those.
        first = fields.EncryptedTextField(null=True)  # type: ignore[misc]
        second = fields.EncryptedTextField(null=True)  # type: ignore[misc]

        class Meta:
            apps = registry
            app_label = "tests_reencrypt"

    with connection.schema_editor() as editor:
        editor.create_model(Nullable)
    try:
        both_null = Nullable._default_manager.create()
        first_only = Nullable._default_manager.create(first="one")
        second_only = Nullable._default_manager.create(second="two")
        with override_settings(FERNET_KEYS=[NEW, OLD]):
            result = rotation.reencrypt(Nullable)
            rows = {row.pk: (row.first, row.second) for row in Nullable._default_manager.all()}
        assert (result.rotated, result.current, result.changed_meanwhile) == (2, 1, 0)
        assert rows == {
            both_null.pk: (None, None),
            first_only.pk: ("one", None),
            second_only.pk: (None, "two"),
        }
        raw = stored(Nullable)
        assert raw[both_null.pk] == (None, None)
        assert raw[first_only.pk][1] is None
        assert under(NEW, raw[first_only.pk][0])
        assert under(NEW, raw[second_only.pk][1])
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(Nullable)
