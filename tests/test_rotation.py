"""The key-rotation service itself (the command's output: test_command_rotate_keys.py)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from django_twitter_oauth import rotation
from django_twitter_oauth.models import AccessToken, RequestToken, TokenEvent
from tests.utils import NEW, OLD, tokens_to_rotate

pytestmark = pytest.mark.django_db


def test_rotate_keys_without_progress_reports_by_model() -> None:
    rotated = tokens_to_rotate(3)
    with override_settings(FERNET_KEYS=[NEW, OLD]):
        results = rotation.rotate_keys(batch_size=2)
        assert results == {
            AccessToken: rotation.Rotation(rotated=3),
            RequestToken: rotation.Rotation(),
        }
        assert [t.token for t in AccessToken.objects.order_by("pk")] == [t.token for t in rotated]
    events = TokenEvent.objects.filter(action=TokenEvent.Action.REENCRYPTED)
    assert sorted(events.values_list("twitter_user_id", flat=True)) == ["1", "2", "3"]


def test_rotate_keys_refuses_unusable_keys_before_touching_anything() -> None:
    tokens_to_rotate(1)
    with (
        override_settings(FERNET_KEYS=["not a fernet key"], FERNET_USE_HKDF=False),
        pytest.raises(ValueError),
    ):
        rotation.rotate_keys()
    assert not TokenEvent.objects.exists()
