from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import connections

from django_twitter_oauth.sandbox.store import DatabaseStore
from django_twitter_oauth.testing.store import CacheStore, MemoryStore, Store


class Clock:
    """What ``time.monotonic`` (MemoryStore) and ``time.time`` (locmem cache) return."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("time.monotonic", clock)
    monkeypatch.setattr("time.time", clock)
    return clock


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@contextlib.contextmanager
def closing_connections() -> Iterator[None]:
    """A thread's own database connections (DatabaseStore) are closed when it is done."""
    try:
        yield
    finally:
        connections.close_all()


STORES: dict[str, Callable[[], Store]] = {
    "memory": MemoryStore,
    "cache": CacheStore,
    "database": DatabaseStore,
}


@pytest.fixture(
    params=[
        "cache",
        # Committed, as the sandbox's threads (and the concurrency tests') need.
        pytest.param("database", marks=pytest.mark.django_db(transaction=True)),
        "memory",
    ]
)
def store(request: pytest.FixtureRequest) -> Store:
    return STORES[request.param]()


def test_get_missing_is_none(store: Store) -> None:
    assert store.get("kind", "key") is None


def test_set_and_get(store: Store) -> None:
    store.set("kind", "key", {"a": [1, 2]})
    store.set("kind", "other", "value")

    assert store.get("kind", "key") == {"a": [1, 2]}
    assert store.get("kind", "other") == "value"


def test_set_replaces(store: Store) -> None:
    store.set("kind", "key", 1)
    store.set("kind", "key", 2)

    assert store.get("kind", "key") == 2


def test_kinds_are_separate(store: Store) -> None:
    store.set("one", "key", 1)
    store.set("two", "key", 2)

    assert (store.get("one", "key"), store.get("two", "key")) == (1, 2)


def test_add(store: Store) -> None:
    assert store.add("kind", "key", "first") is True
    assert store.add("kind", "key", "second") is False
    assert store.get("kind", "key") == "first"


def test_pop(store: Store) -> None:
    store.set("kind", "key", "value")

    assert store.pop("kind", "key") == "value"
    assert store.get("kind", "key") is None
    assert store.pop("kind", "key") is None


def test_pop_missing_is_none(store: Store) -> None:
    assert store.pop("kind", "never-set") is None


def test_incr(store: Store) -> None:
    assert store.incr("count", "a") == 1
    assert store.incr("count", "a") == 2
    assert store.incr("count", "b") == 1
    assert store.get("count", "a") == 2


def test_incr_ttl_starts_with_the_count(store: Store, clock: Clock) -> None:
    assert store.incr("rate", "a", ttl=10) == 1
    clock.advance(5)
    # Counting on does not extend the window.
    assert store.incr("rate", "a", ttl=10) == 2
    clock.advance(6)
    assert store.get("rate", "a") is None
    assert store.incr("rate", "a", ttl=10) == 1


def test_concurrent_incr_counts_each_once(store: Store) -> None:
    barrier = threading.Barrier(6, timeout=5)
    results: list[int] = []

    def incr() -> None:
        barrier.wait()
        with closing_connections():
            results.append(store.incr("tweet_count", "key"))

    threads = [threading.Thread(target=incr) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [1, 2, 3, 4, 5, 6]


def test_ttl_expiry(store: Store, clock: Clock) -> None:
    store.set("kind", "ttl", "value", ttl=10)
    store.set("kind", "forever", "value")

    clock.advance(9)
    assert store.get("kind", "ttl") == "value"

    clock.advance(2)
    assert store.get("kind", "ttl") is None
    assert store.get("kind", "forever") == "value"


def test_add_after_expiry(store: Store, clock: Clock) -> None:
    assert store.add("kind", "key", "first", ttl=10)
    clock.advance(5)
    assert not store.add("kind", "key", "second", ttl=10)

    clock.advance(6)
    assert store.add("kind", "key", "third", ttl=10)
    assert store.get("kind", "key") == "third"


def test_pop_expired_is_none(store: Store, clock: Clock) -> None:
    store.set("kind", "key", "value", ttl=10)
    clock.advance(11)

    assert store.pop("kind", "key") is None


def test_incr_after_expiry_starts_again(store: Store, clock: Clock) -> None:
    store.set("count", "a", 5, ttl=10)
    clock.advance(11)

    assert store.incr("count", "a") == 1


def test_concurrent_add_has_one_winner(store: Store) -> None:
    barrier = threading.Barrier(8, timeout=5)
    results: list[bool] = []

    def add(value: int) -> None:
        barrier.wait()
        with closing_connections():
            results.append(store.add("nonce", "key", value))

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 7 + [True]


def test_concurrent_pop_has_one_winner(store: Store) -> None:
    store.set("request_token", "key", "value")
    barrier = threading.Barrier(8, timeout=5)
    results: list[Any] = []

    def pop() -> None:
        barrier.wait()
        with closing_connections():
            results.append(store.pop("request_token", "key"))

    threads = [threading.Thread(target=pop) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results, key=str) == [None] * 7 + ["value"]


# -- CacheStore specifics -------------------------------------------------------------------


def test_cache_store_keys_are_prefixed() -> None:
    CacheStore().set("request_token", "abc", "value")

    assert cache.get("twitter_oauth_sandbox:request_token:abc") == "value"


def test_cache_store_uses_the_alias(settings: Any) -> None:
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "sandbox": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "sandbox",
        },
    }
    CacheStore("sandbox").set("kind", "key", "value")

    assert caches["sandbox"].get("twitter_oauth_sandbox:kind:key") == "value"
    assert caches["default"].get("twitter_oauth_sandbox:kind:key") is None


def test_cache_store_pop_loses_a_race(monkeypatch: pytest.MonkeyPatch) -> None:
    # Another caller deletes the key between this caller's get() and delete().
    store = CacheStore()
    store.set("request_token", "key", "value")
    real_get = LocMemCache.get

    def get_then_lose(self: LocMemCache, key: str, *args: Any, **kwargs: Any) -> Any:
        value = real_get(self, key, *args, **kwargs)
        self.delete(key)
        return value

    monkeypatch.setattr(LocMemCache, "get", get_then_lose)

    assert store.pop("request_token", "key") is None
