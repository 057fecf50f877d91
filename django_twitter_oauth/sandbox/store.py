"""The sandbox's state in its own database table, so that it survives restarts.

A cache (even the local-memory one the docs used to recommend) is emptied whenever
``runserver`` reloads, and every token the site had stored then looked revoked. The
sandbox keeps request tokens, verifiers, access tokens, nonces, rate counters and
tweets in :class:`~django_twitter_oauth.sandbox.models.SandboxState` instead, with the
same atomic operations as the in-memory store: ``add`` relies on the unique
constraint, ``pop`` on DELETE's row count, ``incr`` on an UPDATE.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django.db import IntegrityError, router, transaction
from django.db.models import F, QuerySet

from django_twitter_oauth.conf import app_settings
from django_twitter_oauth.sandbox.models import SandboxState
from django_twitter_oauth.testing.store import CacheStore, Store

# Internal to the sandbox app (reached through its URLs): nothing to import here.
__all__: list[str] = []

#: Longest key stored as it is; longer ones (nonces of long tokens) are hashed.
MAX_KEY = 255


def _db_key(key: str) -> str:
    if len(key) <= MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _expiry(ttl: float | None) -> float | None:
    return None if ttl is None else time.time() + ttl


def sandbox_store() -> Store:
    """The store the sandbox uses: the database (:class:`DatabaseStore`), or the
    TWITTER_OAUTH_SANDBOX_CACHE cache when that names one."""
    alias = app_settings.SANDBOX_CACHE
    return DatabaseStore() if alias is None else CacheStore(alias)


class DatabaseStore:
    """The fake Twitter's :class:`~django_twitter_oauth.testing.store.Store` in the
    database (the router's database for ``SandboxState``); shared by every thread and
    process of the server, and kept across restarts."""

    def __init__(self) -> None:
        self.alias = router.db_for_write(SandboxState)

    def __repr__(self) -> str:
        return f"<DatabaseStore {self.alias}>"

    def _rows(self, kind: str, key: str) -> QuerySet[SandboxState]:
        return SandboxState.objects.using(self.alias).filter(kind=kind, key=_db_key(key))

    def _live(self, kind: str, key: str) -> SandboxState | None:
        row = self._rows(kind, key).first()
        if row is None or (row.expires_at is not None and row.expires_at <= time.time()):
            return None
        return row

    @staticmethod
    def _value(row: SandboxState) -> Any:
        return row.number if row.value is None else row.value

    def _insert(self, kind: str, key: str, **fields: Any) -> bool:
        """Create the entry unless it exists; False when another caller has it."""
        try:
            with transaction.atomic(using=self.alias):
                SandboxState.objects.using(self.alias).create(kind=kind, key=_db_key(key), **fields)
        except IntegrityError:
            return False
        return True

    def _bump(self, kind: str, key: str) -> int:
        return self._rows(kind, key).update(number=F("number") + 1)

    def get(self, kind: str, key: str) -> Any:
        row = self._live(kind, key)
        return None if row is None else self._value(row)

    def set(self, kind: str, key: str, value: Any, ttl: float | None = None) -> None:
        SandboxState.objects.using(self.alias).update_or_create(
            kind=kind,
            key=_db_key(key),
            defaults={"value": value, "number": 0, "expires_at": _expiry(ttl)},
        )

    def add(self, kind: str, key: str, value: Any, ttl: float | None = None) -> bool:
        # Every write runs in a transaction: on SQLite, a lone statement that reads
        # before it writes fails at once ("database is locked") under concurrency,
        # where a transaction in IMMEDIATE mode waits its turn.
        with transaction.atomic(using=self.alias):
            # Expired entries of this kind go first (nonces pile up otherwise), this
            # key's included, so that it can be added again.
            SandboxState.objects.using(self.alias).filter(
                kind=kind, expires_at__lte=time.time()
            ).delete()
            return self._insert(kind, key, value=value, expires_at=_expiry(ttl))

    def pop(self, kind: str, key: str) -> Any:
        row = self._live(kind, key)
        if row is None:
            return None
        # The DELETE's row count says whether this caller removed it: one caller wins.
        with transaction.atomic(using=self.alias):
            deleted, _ = SandboxState.objects.using(self.alias).filter(pk=row.pk).delete()
        return self._value(row) if deleted else None

    def incr(self, kind: str, key: str, ttl: float | None = None) -> int:
        with transaction.atomic(using=self.alias):
            self._rows(kind, key).filter(expires_at__lte=time.time()).delete()
            if not self._bump(kind, key) and not self._insert(
                kind, key, number=1, expires_at=_expiry(ttl)
            ):
                # Another caller created it between the UPDATE and the INSERT.
                self._bump(kind, key)
            # Read in the transaction that holds the row (the UPDATE's lock): no other
            # caller's increment shows up here.
            return int(self._rows(kind, key).values_list("number", flat=True).get())
