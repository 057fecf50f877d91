"""``manage.py twitter_oauth_cleanup``: expired pending authorizations and, on request,
old audit events; through call_command and as a subprocess."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_twitter_oauth.models import RequestToken, TokenEvent
from tests.utils import manage, manage_env, tokens_connection

pytestmark = pytest.mark.django_db


def request_token(name: str, *, age: dt.timedelta) -> RequestToken:
    return RequestToken.objects.create(
        token_hash=name,
        secret=f"{name}-secret",
        flow_key_hash="h" * 64,
        created_at=timezone.now() - age,
    )


def event(reason: str, *, days: float) -> TokenEvent:
    return TokenEvent.objects.create(
        twitter_user_id="6253282",
        screen_name="twitterapi",
        action=TokenEvent.Action.REVOKED,
        reason=reason,
        created_at=timezone.now() - dt.timedelta(days=days),
    )


def cleanup(*args: str) -> str:
    out = io.StringIO()
    call_command("twitter_oauth_cleanup", *args, stdout=out)
    return out.getvalue()


def pending_names() -> set[str]:
    return set(RequestToken.objects.values_list("token_hash", flat=True))


def reasons() -> set[str]:
    return set(TokenEvent.objects.values_list("reason", flat=True))


@override_settings(TWITTER_OAUTH_REQUEST_TOKEN_TTL=600)
def test_deletes_expired_pending_authorizations_only() -> None:
    request_token("fresh", age=dt.timedelta(seconds=10))
    request_token("nearly", age=dt.timedelta(seconds=590))
    request_token("expired", age=dt.timedelta(seconds=610))
    request_token("ancient", age=dt.timedelta(days=30))
    event("kept", days=400)
    assert cleanup() == "Deleted 2 expired pending authorization(s).\n"
    assert pending_names() == {"fresh", "nearly"}
    # Events are left alone without --events-older-than.
    assert reasons() == {"kept"}


def test_events_older_than_days() -> None:
    request_token("expired", age=dt.timedelta(days=1))
    event("last year", days=365)
    event("last month", days=31)
    event("last week", days=7)
    event("today", days=0)
    assert cleanup("--events-older-than", "30") == (
        "Deleted 1 expired pending authorization(s).\n"
        "Deleted 2 token event(s) older than 30 days.\n"
    )
    assert reasons() == {"last week", "today"}
    assert pending_names() == set()


def test_events_older_than_zero_days_deletes_every_past_event() -> None:
    event("a minute ago", days=1 / 1440)
    assert cleanup("--events-older-than", "0") == (
        "Deleted 0 expired pending authorization(s).\nDeleted 1 token event(s) older than 0 days.\n"
    )
    assert reasons() == set()


def test_deletes_in_batches() -> None:
    for number in range(5):
        request_token(f"expired{number}", age=dt.timedelta(days=1))
    request_token("fresh", age=dt.timedelta(0))
    for number in range(5):
        event(f"old{number}", days=100)
    with CaptureQueriesContext(tokens_connection()) as queries:
        out = cleanup("--batch-size", "2", "--events-older-than", "90")
    assert out == (
        "Deleted 5 expired pending authorization(s).\n"
        "Deleted 5 token event(s) older than 90 days.\n"
    )
    deletes = [q["sql"] for q in queries if q["sql"].startswith("DELETE")]
    # 2 + 2 + 1 rows of each table.
    assert len(deletes) == 6
    assert sum(RequestToken._meta.db_table in sql for sql in deletes) == 3
    assert sum(TokenEvent._meta.db_table in sql for sql in deletes) == 3
    assert pending_names() == {"fresh"}
    assert reasons() == set()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--batch-size", "0"), "--batch-size must be at least 1."),
        (("--batch-size", "-5"), "--batch-size must be at least 1."),
        (("--events-older-than", "-1"), "--events-older-than must be zero or more days."),
        (("--events-older-than", "ten"), "argument --events-older-than: invalid int value: 'ten'"),
        (("--batch-size", "1.5"), "argument --batch-size: invalid int value: '1.5'"),
    ],
)
def test_validation(args: tuple[str, ...], message: str) -> None:
    request_token("expired", age=dt.timedelta(days=1))
    with pytest.raises(CommandError) as excinfo:
        cleanup(*args)
    assert message in str(excinfo.value)
    assert pending_names() == {"expired"}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_as_a_subprocess() -> None:
    request_token("expired", age=dt.timedelta(days=1))
    request_token("fresh", age=dt.timedelta(0))
    event("old", days=10)
    event("new", days=1)
    result = manage("twitter_oauth_cleanup", "--events-older-than", "5", env=manage_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "Deleted 1 expired pending authorization(s).\nDeleted 1 token event(s) older than 5 days.\n"
    )
    assert pending_names() == {"fresh"}
    assert reasons() == {"new"}

    refused = manage("twitter_oauth_cleanup", "--batch-size", "0", env=manage_env())
    assert refused.returncode == 1
    assert refused.stderr == "CommandError: --batch-size must be at least 1.\n"
