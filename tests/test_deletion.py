"""Deleting a site user revokes their Twitter tokens at Twitter (issue 14.5)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse

from django_twitter_oauth.deletion import NOT_TOLD, REASON
from django_twitter_oauth.models import AccessToken, TokenEvent
from django_twitter_oauth.testing import FakeTwitter
from django_twitter_oauth.testing.provider import INVALIDATE_TOKEN
from tests.utils import (
    hold_tokens,
    make_superuser,
    make_user,
    remaining,
    tokens_alias,
    username_for,
)

Received = dict[str, list[dict[str, Any]]]


def events() -> list[tuple[str, Any, str, str]]:
    return sorted(TokenEvent.objects.values_list("twitter_user_id", "user", "action", "reason"))


@pytest.mark.django_db(transaction=True)
def test_deleting_a_user_revokes_their_tokens_at_twitter(
    fake_twitter: FakeTwitter, received: Received
) -> None:
    alice = make_user("alice")
    tokens = hold_tokens(2, twitter=fake_twitter, user=alice)
    bob = make_user("bob")
    hold_tokens(1, twitter=fake_twitter, user=bob, start=3)
    # An older event of alice's: its user goes too.
    TokenEvent.for_token(tokens[0], TokenEvent.Action.AUTHORIZED).save()
    # Committed for real, on the users' and on the app's database.
    with transaction.atomic(), transaction.atomic(using=tokens_alias()):
        alice.delete()
        assert received["revoked"] == []  # after the commit only
    assert fake_twitter.count(INVALIDATE_TOKEN) == 2
    for token in tokens:
        assert not fake_twitter.access_token_valid(token.token)
    assert remaining() == {"3"}
    assert events() == [
        ("1", None, "authorized", ""),
        ("1", None, "revoked", REASON),
        ("2", None, "revoked", REASON),
    ]
    sent = sorted(received["revoked"], key=lambda k: k["token"].twitter_user_id)
    assert [(k["token"].twitter_user_id, k["user"], k["reason"]) for k in sent] == [
        ("1", alice, REASON),
        ("2", alice, REASON),
    ]
    assert all(k["revoked_by"] is None for k in received["revoked"])
    assert received["discarded"] == []
    assert get_user_model()._default_manager.get().get_username() == username_for("bob")


@pytest.mark.django_db(transaction=True)
def test_deleting_users_in_a_queryset_revokes_each_ones_tokens(
    fake_twitter: FakeTwitter, received: Received
) -> None:
    for number in (1, 2):
        hold_tokens(1, twitter=fake_twitter, user=make_user(f"user{number}"), start=number)
    make_user("tokenless")
    get_user_model()._default_manager.all().delete()
    assert fake_twitter.count(INVALIDATE_TOKEN) == 2
    assert remaining() == set()
    assert events() == [("1", None, "revoked", REASON), ("2", None, "revoked", REASON)]
    assert sorted(k["user"].get_username() for k in received["revoked"]) == [
        username_for("user1"),
        username_for("user2"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["down", "server error", "rate limited"])
def test_when_twitter_cannot_be_told_the_tokens_are_discarded_without_retry_or_wait(
    fake_twitter: FakeTwitter,
    received: Received,
    django_capture_on_commit_callbacks: Any,
    fault: str,
) -> None:
    user = make_user("alice")
    hold_tokens(1, twitter=fake_twitter, user=user)
    if fault == "down":
        fake_twitter.fail_connection(INVALIDATE_TOKEN)
    elif fault == "server error":
        fake_twitter.fail(INVALIDATE_TOKEN, status=503)
    else:
        fake_twitter.rate_limit(INVALIDATE_TOKEN, reset_in=60)
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    assert fake_twitter.count(INVALIDATE_TOKEN) == 1  # no retry
    assert remaining() == set()
    assert events() == [("1", None, "discarded", NOT_TOLD)]
    assert received["revoked"] == []
    [sent] = received["discarded"]
    assert (sent["token"].twitter_user_id, sent["user"], sent["reason"]) == ("1", user, NOT_TOLD)


@pytest.mark.django_db
def test_a_token_no_key_decrypts_is_discarded(
    fake_twitter: FakeTwitter, received: Received, django_capture_on_commit_callbacks: Any
) -> None:
    user = make_user("alice")
    with override_settings(FERNET_KEYS=["a-key-since-lost"]):
        hold_tokens(1, twitter=fake_twitter, user=user)
    hold_tokens(1, twitter=fake_twitter, user=user, start=2)
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    assert fake_twitter.count(INVALIDATE_TOKEN) == 1
    assert events() == [("1", None, "discarded", NOT_TOLD), ("2", None, "revoked", REASON)]
    assert len(received["discarded"]) == len(received["revoked"]) == 1


@pytest.mark.django_db
def test_a_user_without_tokens_costs_no_call(fake_twitter: FakeTwitter) -> None:
    make_user("alice").delete()
    assert fake_twitter.calls == []
    assert not TokenEvent.objects.exists()


@pytest.mark.django_db
def test_deleting_a_user_in_the_admin_revokes_their_tokens(
    client: Client, fake_twitter: FakeTwitter
) -> None:
    user = make_user("alice")
    hold_tokens(1, twitter=fake_twitter, user=user)
    client.force_login(make_superuser())
    opts = get_user_model()._meta
    response = client.post(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
        {"action": "delete_selected", "_selected_action": [user.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not get_user_model()._default_manager.filter(pk=user.pk).exists()
    assert fake_twitter.count(INVALIDATE_TOKEN) == 1
    assert not AccessToken.objects.exists()
    assert events() == [("1", None, "revoked", REASON)]
