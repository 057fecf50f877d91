"""tests.utils.claim_redis_database: each test run gets an empty Redis database of its own
(the RQ worker test runs there), against an in-memory stand-in for a Redis server."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit

import pytest
import redis

from tests.utils import REDIS_CLAIM, claim_redis_database


class FakeServer:
    """A Redis server with ``count`` databases, each a dict; ``connect`` is what
    claim_redis_database calls."""

    def __init__(self, count: int = 16) -> None:
        self.databases: list[dict[str, Any]] = [{} for _ in range(count)]
        self.opened: list[int] = []
        self.closed: list[int] = []

    def connect(self, url: str) -> redis.Redis:
        return cast(redis.Redis, FakeClient(self, int(urlsplit(url).path.strip("/") or 0)))


class FakeClient:
    def __init__(self, server: FakeServer, number: int) -> None:
        self.server, self.number = server, number
        server.opened.append(number)

    def _data(self) -> dict[str, Any]:
        if self.number >= len(self.server.databases):
            raise redis.ResponseError("DB index is out of range")
        return self.server.databases[self.number]

    def set(self, key: str, value: str, *, nx: bool, ex: int) -> bool:
        assert nx
        assert ex > 0
        data = self._data()
        if key in data:
            return False
        data[key] = value
        return True

    def dbsize(self) -> int:
        return len(self._data())

    def delete(self, key: str) -> None:
        del self._data()[key]

    def close(self) -> None:
        self.server.closed.append(self.number)


def test_claims_the_database_of_the_url_when_it_is_empty() -> None:
    server = FakeServer()

    url, client = claim_redis_database("redis://127.0.0.1:6379/8", server.connect)

    assert url == "redis://127.0.0.1:6379/8"
    assert cast(FakeClient, client).number == 8
    assert list(server.databases[8]) == [REDIS_CLAIM]
    assert server.opened == [8]
    assert server.closed == []


def test_skips_databases_with_keys_or_claimed_by_another_run() -> None:
    server = FakeServer()
    server.databases[3]["someone:else"] = "data"
    server.databases[4][REDIS_CLAIM] = "another run"

    url, _ = claim_redis_database("redis://localhost/3", server.connect)

    assert url == "redis://localhost/5"
    # Nothing of the others' changed; what was opened and not kept was closed.
    assert server.databases[3] == {"someone:else": "data"}
    assert server.databases[4] == {REDIS_CLAIM: "another run"}
    assert server.opened == [3, 4, 5]
    assert server.closed == [3, 4]


def test_wraps_around_to_database_zero() -> None:
    server = FakeServer()
    server.databases[15]["key"] = 1

    url, _ = claim_redis_database("redis://localhost:6379/15", server.connect)

    assert url == "redis://localhost:6379/0"


def test_url_without_a_database_starts_at_zero() -> None:
    url, _ = claim_redis_database("redis://localhost:6379", FakeServer().connect)

    assert url == "redis://localhost:6379/0"


def test_fails_with_how_to_fix_it_when_no_database_is_empty() -> None:
    # A server configured with 2 databases answers the others with an error.
    server = FakeServer(count=2)
    server.databases[0]["a"] = 1
    server.databases[1]["b"] = 1

    with pytest.raises(pytest.fail.Exception, match="No empty Redis database.*flushdb"):
        claim_redis_database("redis://localhost/1", server.connect)

    assert server.databases == [{"a": 1}, {"b": 1}]
    assert sorted(server.closed) == list(range(16))
