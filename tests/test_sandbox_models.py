from __future__ import annotations

import pytest

from django_twitter_oauth.sandbox.models import SandboxUser, new_user_id


def test_new_user_id_looks_like_twitters() -> None:
    ids = {new_user_id() for _ in range(50)}
    assert len(ids) > 1
    for value in ids:
        assert value.isdecimal() and len(value) == 10 and not value.startswith("0")


@pytest.mark.django_db
def test_sandbox_user() -> None:
    user = SandboxUser.objects.create(screen_name="jack", name="Jack")
    assert str(user) == "@jack"
    assert user.user_id.isdecimal()
    SandboxUser.objects.create(screen_name="alice")
    assert [u.screen_name for u in SandboxUser.objects.all()] == ["alice", "jack"]
