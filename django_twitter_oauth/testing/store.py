"""Where the fake Twitter keeps its state: in memory, or in a Django cache.

In-process fakes keep state in a :class:`MemoryStore`. The sandbox serves the same
provider over HTTP from many requests and threads, so it keeps state in a Django
cache (:class:`CacheStore`), which survives between requests. Every operation the
provider needs to be atomic (``add`` for nonces, ``pop`` to consume a token) is
atomic in both.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

__all__ = ["CacheStore", "MemoryStore", "Store"]


class Store(Protocol):
    def get(self, kind: str, key: str) -> Any: ...

    def set(self, kind: str, key: str, value: Any, ttl: float | None = None) -> None: ...

    def add(self, kind: str, key: str, value: Any, ttl: float | None = None) -> bool:
        """Store ``value`` unless the key exists; True when it was stored."""
        ...

    def pop(self, kind: str, key: str) -> Any:
        """Remove and return the value (None when absent); one caller wins a race."""
        ...

    def incr(self, kind: str, key: str, ttl: float | None = None) -> int:
        """Add one (from 0) and return the new value; ``ttl`` applies when it starts."""
        ...


class MemoryStore:
    """Thread-safe in-memory state with optional expiry."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], tuple[Any, float | None]] = {}
        self._lock = threading.Lock()

    def _live(self, item: tuple[str, str]) -> Any:
        value, expires = self._data.get(item, (None, None))
        if expires is not None and expires <= time.monotonic():
            del self._data[item]
            return None
        return value

    @staticmethod
    def _expiry(ttl: float | None) -> float | None:
        return None if ttl is None else time.monotonic() + ttl

    def get(self, kind: str, key: str) -> Any:
        with self._lock:
            return self._live((kind, key))

    def set(self, kind: str, key: str, value: Any, ttl: float | None = None) -> None:
        with self._lock:
            self._data[(kind, key)] = (value, self._expiry(ttl))

    def add(self, kind: str, key: str, value: Any, ttl: float | None = None) -> bool:
        with self._lock:
            if self._live((kind, key)) is not None:
                return False
            self._data[(kind, key)] = (value, self._expiry(ttl))
            return True

    def pop(self, kind: str, key: str) -> Any:
        with self._lock:
            value = self._live((kind, key))
            self._data.pop((kind, key), None)
            return value

    def incr(self, kind: str, key: str, ttl: float | None = None) -> int:
        with self._lock:
            current = self._live((kind, key))
            if current is None:
                self._data[(kind, key)] = (1, self._expiry(ttl))
                return 1
            value = int(current) + 1
            self._data[(kind, key)] = (value, self._data[(kind, key)][1])
            return value


class CacheStore:
    """State in a Django cache (``TWITTER_OAUTH_SANDBOX_CACHE``), shared by threads.

    Use a cache every process of the server shares (local memory is enough for
    ``runserver``; use the database or Redis cache for several processes).
    """

    PREFIX = "twitter_oauth_sandbox"

    def __init__(self, alias: str = "default") -> None:
        from django.core.cache import caches

        self._cache = caches[alias]

    def _key(self, kind: str, key: str) -> str:
        return f"{self.PREFIX}:{kind}:{key}"

    def get(self, kind: str, key: str) -> Any:
        return self._cache.get(self._key(kind, key))

    def set(self, kind: str, key: str, value: Any, ttl: float | None = None) -> None:
        self._cache.set(self._key(kind, key), value, timeout=ttl)

    def add(self, kind: str, key: str, value: Any, ttl: float | None = None) -> bool:
        return bool(self._cache.add(self._key(kind, key), value, timeout=ttl))

    def pop(self, kind: str, key: str) -> Any:
        full_key = self._key(kind, key)
        value = self._cache.get(full_key)
        # delete() reports whether this caller removed the key: only one caller wins.
        if value is None or not self._cache.delete(full_key):
            return None
        return value

    def incr(self, kind: str, key: str, ttl: float | None = None) -> int:
        full_key = self._key(kind, key)
        self._cache.add(full_key, 0, timeout=ttl)
        return int(self._cache.incr(full_key))
