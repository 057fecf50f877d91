from __future__ import annotations

from django.test import override_settings

from django_twitter_oauth import fields


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
