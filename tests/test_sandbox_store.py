"""DatabaseStore specifics: the sandbox's state outlives the process (and its caches).

The operations every store shares are tested in test_testing_store.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client

from django_twitter_oauth import checks
from django_twitter_oauth.client import TwitterClient
from django_twitter_oauth.sandbox import views
from django_twitter_oauth.sandbox.models import SandboxState
from django_twitter_oauth.sandbox.store import MAX_KEY, DatabaseStore, sandbox_store
from django_twitter_oauth.testing.provider import FakeProvider, Fault
from django_twitter_oauth.testing.store import CacheStore

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_state_in_database")]


def clear_caches() -> None:
    for cache in caches.all():
        cache.clear()


def test_state_survives_a_restart() -> None:
    """What one server process wrote, a fresh one (after runserver's autoreload, with
    the local-memory cache emptied) reads: stored tokens never look revoked."""
    before = FakeProvider("key", "secret", store=DatabaseStore())
    before.add_access_token("1-tokenTOKEN", "secretSECRET", user_id="1", email="a@example.com")
    before.add_request_token("requestTOKEN", "requestSECRET")
    assert before.store.add("nonce", "n1", True, ttl=600)
    assert before.store.incr("rate", "r", ttl=600) == 1
    before.add_fault("2/users/me", Fault("response", 503, "down"))
    clear_caches()

    after = FakeProvider("key", "secret", store=DatabaseStore())
    assert after.access_token_valid("1-tokenTOKEN")
    assert after.pending("requestTOKEN") is not None
    assert not after.store.add("nonce", "n1", True, ttl=600)  # a replay is still one
    assert after.store.incr("rate", "r", ttl=600) == 2
    assert after._next_fault("2/users/me") == Fault("response", 503, "down")


def test_sandbox_tokens_survive_a_cleared_cache(
    sandbox_client: TwitterClient,
) -> None:
    request_token = sandbox_client.fetch_request_token("oob")
    provider = views.provider_for(Client().get("/sandbox/").wsgi_request)
    pin = provider.approve(request_token.token, user_id="5", screen_name="eve")
    access = sandbox_client.fetch_access_token(request_token.token, request_token.secret, pin)
    clear_caches()
    assert sandbox_client.verify_credentials(access.token, access.secret).screen_name == "eve"
    assert SandboxState.objects.filter(kind="access_token").count() == 1


def test_the_default_store_is_the_database(settings: Any) -> None:
    assert isinstance(sandbox_store(), DatabaseStore)
    assert checks.check_sandbox() == []
    settings.TWITTER_OAUTH_SANDBOX_CACHE = "default"
    assert isinstance(sandbox_store(), CacheStore)


def test_long_keys_are_hashed() -> None:
    store = DatabaseStore()
    long_key = "k" * (MAX_KEY + 1)
    store.set("nonce", long_key, "long")
    store.set("nonce", "k" * MAX_KEY, "longest kept")
    assert store.get("nonce", long_key) == "long"
    keys = set(SandboxState.objects.values_list("key", flat=True))
    assert "k" * MAX_KEY in keys
    assert any(key.startswith("sha256:") and len(key) == 71 for key in keys)


def test_add_purges_expired_entries_of_its_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    store = DatabaseStore()
    now = [1_000_000.0]
    monkeypatch.setattr("time.time", lambda: now[0])
    store.add("nonce", "old", True, ttl=10)
    store.set("request_token", "old", "kept", ttl=10)
    now[0] += 11
    store.add("nonce", "new", True, ttl=10)
    assert set(SandboxState.objects.values_list("kind", "key")) == {
        ("nonce", "new"),
        ("request_token", "old"),
    }


def test_incr_when_another_caller_creates_the_counter(monkeypatch: pytest.MonkeyPatch) -> None:
    store = DatabaseStore()
    store.incr("count", "a")
    real_bump = DatabaseStore._bump
    calls: list[int] = []

    def miss_once(self: DatabaseStore, kind: str, key: str) -> int:
        # The first UPDATE runs before the other caller's INSERT is visible.
        calls.append(1)
        return 0 if len(calls) == 1 else real_bump(self, kind, key)

    monkeypatch.setattr(DatabaseStore, "_bump", miss_once)
    assert store.incr("count", "a") == 2
    assert len(calls) == 2


def test_pop_loses_a_race(monkeypatch: pytest.MonkeyPatch) -> None:
    store = DatabaseStore()
    store.set("request_token", "key", "value")
    real_live = DatabaseStore._live

    def live_then_lose(self: DatabaseStore, kind: str, key: str) -> Any:
        row = real_live(self, kind, key)
        SandboxState.objects.all().delete()  # another caller's pop
        return row

    monkeypatch.setattr(DatabaseStore, "_live", live_then_lose)
    assert store.pop("request_token", "key") is None


def test_repr_and_str_show_no_key() -> None:
    store = DatabaseStore()
    store.set("access_token", "1-secretlookingTOKEN", {"secret": "s"})
    row = SandboxState.objects.get()
    assert "TOKEN" not in str(row) and str(row) == f"access_token #{row.pk}"
    assert repr(store) == "<DatabaseStore default>"
