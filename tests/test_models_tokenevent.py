from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from django_twitter_oauth.models import TokenEvent
from tests.utils import SECRET, TOKEN, make_token, make_user

pytestmark = pytest.mark.django_db


def test_actions_are_the_designed_ones() -> None:
    assert [(value, str(label)) for value, label in TokenEvent.Action.choices] == [
        ("authorized", "authorized"),
        ("reauthorized", "re-authorized"),
        ("revoked", "revoked"),
        ("discarded", "discarded"),
        ("found_invalid", "found invalid"),
        ("reencrypted", "re-encrypted"),
    ]


def test_for_token_copies_who_and_never_a_secret() -> None:
    staff = make_user("staff", is_staff=True)
    token = make_token()
    event = TokenEvent.for_token(token, TokenEvent.Action.REVOKED, actor=staff, reason="leak")
    assert event._state.adding  # unsaved, for bulk_create
    assert (event.twitter_user_id, event.screen_name, event.user, event.action) == (
        "6253282",
        "twitterapi",
        token.user,
        "revoked",
    )
    assert (event.actor, event.reason) == (staff, "leak")
    event.save()
    for text in (str(event), repr(event)):
        assert TOKEN not in text
        assert SECRET not in text
    assert str(event) == "@twitterapi (6253282) revoked"
    assert repr(event) == "<TokenEvent: @twitterapi (6253282) revoked>"
    stored = [str(value) for value in TokenEvent.objects.values().get().values()]
    assert not any(TOKEN in value or SECRET in value for value in stored)


@pytest.mark.parametrize("actor", [None, AnonymousUser()])
def test_no_actor_for_commands_tasks_and_anonymous(actor: object) -> None:
    event = TokenEvent.for_token(make_token(), TokenEvent.Action.DISCARDED, actor=actor)
    assert event.actor is None
    assert event.reason == ""


def test_reason_is_truncated() -> None:
    event = TokenEvent.for_token(make_token(), TokenEvent.Action.DISCARDED, reason="x" * 5000)
    event.save()
    assert TokenEvent.objects.get().reason == "x" * 1000


def test_event_outlives_the_token_and_the_user() -> None:
    staff = make_user("staff", is_staff=True)
    token = make_token()
    user = token.user
    TokenEvent.for_token(token, TokenEvent.Action.AUTHORIZED, actor=staff).save()
    token.delete()
    event = TokenEvent.objects.get()
    assert (event.user, event.actor) == (user, staff)
    user.delete()
    staff.delete()
    event = TokenEvent.objects.get()
    assert (event.user, event.actor) == (None, None)
    assert event.twitter_user_id == "6253282"


def test_newest_first() -> None:
    token = make_token()
    now = timezone.now()
    old = TokenEvent.for_token(token, TokenEvent.Action.AUTHORIZED)
    old.created_at = now - dt.timedelta(days=1)
    old.save()
    new = TokenEvent.for_token(token, TokenEvent.Action.REVOKED)
    new.save()
    same_time = TokenEvent.for_token(token, TokenEvent.Action.DISCARDED)
    same_time.created_at = new.created_at
    same_time.save()
    assert list(TokenEvent.objects.all()) == [same_time, new, old]
