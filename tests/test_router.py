"""The app's tables routed to a database of their own (issue 16.2): every transaction,
lock, on_commit and raw statement of the services uses the router's alias.

The second alias, ``tokens``, is a second connection to the test database: enough to
tell which connection a transaction runs on. On PostgreSQL a lock taken on ``tokens``
outside a transaction there fails ("select_for_update cannot be used outside of a
transaction"), as it did at the callback before; on either database, signals sent on
the wrong connection's commit would come before the work is committed.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections, models
from django.test import Client, override_settings
from django.urls import reverse

from django_twitter_oauth import revocation, tasks
from django_twitter_oauth.models import AccessToken, TokenEvent
from django_twitter_oauth.testing import FakeTwitter
from django_twitter_oauth.testing.provider import INVALIDATE_TOKEN
from tests.utils import hold_tokens, make_superuser, remaining

pytestmark = pytest.mark.django_db(transaction=True)

TOKENS = "tokens"


class TokensRouter:
    """The app's models on the ``tokens`` database, everything else on default."""

    def _route(self, model: type[models.Model], **hints: Any) -> str | None:
        return TOKENS if model._meta.app_label == "twitter_oauth" else None

    db_for_read = db_for_write = _route

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one physical database here


#: Another connection to the app's tables, to see what is committed: "default" here, or
#: one more to the real "tokens" database of tests/settings_second_db.py.
OBSERVER = "observer"


@pytest.fixture(autouse=True)
def tokens_database() -> Iterator[None]:
    # tests/settings_second_db.py has "tokens" and its router already.
    real = TOKENS in settings.DATABASES
    added = OBSERVER if real else TOKENS
    connections.settings[added] = {**connections[TOKENS if real else "default"].settings_dict}
    # Connected here: Django's test case refuses a first connection to an alias that
    # was not in DATABASES when the test started.
    connections[added].connect()
    routers = settings.DATABASE_ROUTERS if real else [f"{__name__}.TokensRouter"]
    try:
        with override_settings(DATABASE_ROUTERS=routers):
            yield
    finally:
        connections[added].close()
        del connections[added]
        del connections.settings[added]


def observer() -> str:
    """The alias that sees the app's tables from another connection."""
    return OBSERVER if OBSERVER in connections.settings else "default"


@pytest.fixture
def committed(received: dict[str, list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """What the app's tables held, seen from the default connection, when each
    token_revoked/token_discarded was sent: the work must be committed by then."""
    seen: dict[str, Any] = {"rows": []}

    def on_signal(sender: Any, token: AccessToken, **kwargs: Any) -> None:
        # A fresh connection would see an uncommitted deletion as not done.
        seen["rows"].append(
            (
                token.twitter_user_id,
                AccessToken.objects.using(observer()).filter(pk=token.pk).exists(),
                TokenEvent.objects.using(observer())
                .filter(twitter_user_id=token.twitter_user_id)
                .exists(),
            )
        )

    from django_twitter_oauth import signals

    for signal in (signals.token_revoked, signals.token_discarded):
        signal.connect(on_signal, sender=AccessToken, dispatch_uid="test_router")
    yield seen
    for signal in (signals.token_revoked, signals.token_discarded):
        signal.disconnect(sender=AccessToken, dispatch_uid="test_router")


def test_revoke_and_discard_run_on_the_routers_database(
    fake_twitter: FakeTwitter, committed: dict[str, Any]
) -> None:
    hold_tokens(2, twitter=fake_twitter)
    revoked = revocation.revoke(revocation.iterate(AccessToken.objects.filter(twitter_user_id="1")))
    discarded = revocation.discard(AccessToken.objects.defer("token", "secret"))
    assert (revoked.revoked, discarded.discarded) == (1, 1)
    assert remaining() == set()
    assert committed["rows"] == [("1", False, True), ("2", False, True)]


def test_verify_runs_on_the_routers_database(fake_twitter: FakeTwitter) -> None:
    hold_tokens(1, twitter=fake_twitter)
    assert revocation.verify(AccessToken.objects.all()).valid == 1
    assert AccessToken.objects.get().verified_at is not None


def test_admin_actions_on_the_routers_database(
    client: Client, fake_twitter: FakeTwitter, committed: dict[str, Any]
) -> None:
    tokens = hold_tokens(2, twitter=fake_twitter)
    client.force_login(make_superuser())
    response = client.post(
        reverse("admin:twitter_oauth_accesstoken_changelist"),
        {"action": "revoke_selected", "_selected_action": [t.pk for t in tokens], "post": "yes"},
    )
    assert response.status_code == 302
    assert remaining() == set()
    assert fake_twitter.count(INVALIDATE_TOKEN) == 2
    assert sorted(committed["rows"]) == [("1", False, True), ("2", False, True)]


def test_revoke_command_and_task(fake_twitter: FakeTwitter) -> None:
    tokens = hold_tokens(3, twitter=fake_twitter)
    call_command("twitter_oauth_revoke", "--twitter-id", "1", "--noinput", stdout=io.StringIO())
    result = tasks.revoke_tokens.enqueue([tokens[1].pk])
    assert result.status == "SUCCESSFUL"
    assert remaining() == {"3"}


def test_cleanup_and_rotation_on_the_routers_database() -> None:
    hold_tokens(1)
    call_command("twitter_oauth_cleanup", "--events-older-than", "0", stdout=io.StringIO())
    with override_settings(FERNET_KEYS=["a-new-key", "tests-fernet-key-1"]):
        out = io.StringIO()
        call_command("twitter_oauth_rotate_keys", stdout=out, stderr=io.StringIO())
        assert out.getvalue().startswith("Access tokens: 1 re-encrypted")
        assert AccessToken.objects.get().token
    assert TokenEvent.objects.filter(action="reencrypted").count() == 1
