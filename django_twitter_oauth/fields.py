"""Encrypted model fields: django-fernet-fields-v2, with keys that follow the settings.

``fernet_fields`` caches the keys on each field instance, so a test's
``override_settings(FERNET_KEYS=...)`` would be ignored and a key change would need
a restart. Here one ``MultiFernet`` is built from the settings on first use and
dropped whenever FERNET_KEYS, FERNET_USE_HKDF or SECRET_KEY change (Django's
``setting_changed`` signal). The on-disk format is fernet_fields' own, so rows
written by django-fernet-fields stay readable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed
from django.db import connections, models, router, transaction
from django.dispatch import receiver
from fernet_fields.hkdf import derive_fernet_key

from django_twitter_oauth.exceptions import TokenDecryptionError

if TYPE_CHECKING:
    # fernet_fields ships no types; to the type checker its field is the TextField
    # it subclasses.
    _FernetTextField = models.TextField[str, str]
else:
    from fernet_fields import EncryptedTextField as _FernetTextField

__all__ = ["EncryptedTextField", "Rotation", "reencrypt"]

_KEY_SETTINGS = frozenset({"FERNET_KEYS", "FERNET_USE_HKDF", "SECRET_KEY"})
_fernet: MultiFernet | None = None


def configured_keys() -> list[str | bytes]:
    """FERNET_KEYS, newest first; SECRET_KEY alone when FERNET_KEYS is unset."""
    keys = getattr(settings, "FERNET_KEYS", None)
    if keys is None:
        return [settings.SECRET_KEY]
    if isinstance(keys, str | bytes):
        # list("key") would silently make every character a key.
        raise TypeError("FERNET_KEYS must be a list of keys, not a single string.")
    return list(keys)


@overload
def build_fernet(*, primary_only: Literal[False] = ...) -> MultiFernet: ...
@overload
def build_fernet(*, primary_only: Literal[True]) -> Fernet: ...
def build_fernet(*, primary_only: bool = False) -> MultiFernet | Fernet:
    """A MultiFernet over the configured keys (or a Fernet of the first key alone).
    Raises ValueError or TypeError on unusable keys."""
    fernets = _fernets()
    # MultiFernet raises ValueError for an empty list.
    return fernets[0] if primary_only and fernets else MultiFernet(fernets)


def _fernets() -> list[Fernet]:
    """A Fernet for each configured key, newest first."""
    keys = configured_keys()
    if getattr(settings, "FERNET_USE_HKDF", True):
        keys = [derive_fernet_key(key) for key in keys]
    # Fernet raises ValueError for a malformed key.
    return [Fernet(key) for key in keys]


def get_fernet() -> MultiFernet:
    """The shared MultiFernet: encrypts with the first key, decrypts with any."""
    global _fernet
    if _fernet is None:
        _fernet = build_fernet()
    return _fernet


@receiver(setting_changed)
def _forget_keys(*, setting: str, **kwargs: Any) -> None:
    global _fernet
    if setting in _KEY_SETTINGS:
        _fernet = None


class EncryptedTextField(_FernetTextField):
    """A Fernet-encrypted text column that never returns ciphertext or garbage.

    No lookups except ``isnull`` (an encrypted value cannot be searched), and no
    ``unique``/``db_index``: inherited from fernet_fields.
    """

    @property
    def fernet(self) -> MultiFernet:
        return get_fernet()

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        if value is None:
            return None
        try:
            plaintext = get_fernet().decrypt(bytes(value))
        except InvalidToken:
            # `from None`: the ciphertext must not ride along in a chained traceback.
            raise TokenDecryptionError(f"{self.model._meta.label}.{self.name}") from None
        return plaintext.decode()


@dataclass
class Rotation:
    """What :func:`reencrypt` did to one model's rows."""

    rotated: int = 0
    current: int = 0
    unreadable: int = 0
    changed_meanwhile: int = 0
    rotated_pks: list[Any] = field(default_factory=list)


def reencrypt(
    model: type[models.Model],
    *,
    batch_size: int = 500,
    after_pk: Any = None,
    on_batch: Callable[[Rotation], None] | None = None,
) -> Rotation:
    """Re-encrypt every encrypted column of ``model`` with the first key of FERNET_KEYS.

    Reads the raw ciphertext in primary-key order, ``batch_size`` rows at a time (memory
    stays flat), and writes each batch in its own transaction, so it is safe to stop at
    any point: every row is readable under the old or the new key throughout (keep the
    old keys in FERNET_KEYS until it has finished). A row whose columns no configured
    key can decrypt is counted and never rewritten; a row already encrypted with the
    first key is left as it is; a row changed meanwhile (by the flow) is left to its
    writer. ``on_batch`` gets each batch's result, with ``rotated_pks``.
    """
    db = connections[router.db_for_write(model)]
    columns = [
        str(f.column) for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)
    ]
    pk_column = str(model._meta.pk.column)
    quote = db.ops.quote_name
    table = quote(model._meta.db_table)
    # Only quoted identifiers from the model's own metadata go into the SQL text; every
    # value is a parameter (hence the S608/B608 waivers below).
    selected = ", ".join(quote(c) for c in [pk_column, *columns])
    assignments = ", ".join(f"{quote(c)} = %s" for c in columns)
    primary = build_fernet(primary_only=True)
    older = _fernets()[1:]
    total = Rotation()
    while True:
        with db.cursor() as cursor:
            if after_pk is None:
                cursor.execute(
                    f"SELECT {selected} FROM {table} ORDER BY {quote(pk_column)} LIMIT %s",  # noqa: S608  # nosec B608
                    [batch_size],
                )
            else:
                cursor.execute(
                    f"SELECT {selected} FROM {table} WHERE {quote(pk_column)} > %s "  # noqa: S608  # nosec B608
                    f"ORDER BY {quote(pk_column)} LIMIT %s",
                    [after_pk, batch_size],
                )
            rows = cursor.fetchall()
        if not rows:
            return total
        batch = Rotation()
        updates: list[tuple[Any, list[bytes | None], list[bytes | None]]] = []
        for pk, *values in rows:
            old: list[bytes | None] = [None if v is None else bytes(v) for v in values]
            try:
                if all(v is None or _readable_by(primary, v) for v in old):
                    batch.current += 1
                    continue
                new: list[bytes | None] = [
                    None if v is None else _reencrypted(v, primary, older) for v in old
                ]
            except InvalidToken:
                batch.unreadable += 1
                continue
            updates.append((pk, new, old))
        # Rows with the same NULL columns share one UPDATE statement, sent for all of them
        # at once (executemany: one round trip per batch on PostgreSQL, not one per row).
        by_nulls: dict[tuple[bool, ...], list[tuple[Any, list[bytes | None]]]] = {}
        params: dict[tuple[bool, ...], list[list[Any]]] = {}
        binary = cast(Any, db).Database.Binary
        for pk, new, old in updates:
            nulls = tuple(v is None for v in old)
            by_nulls.setdefault(nulls, []).append((pk, new))
            params.setdefault(nulls, []).append(
                [
                    *[None if v is None else binary(v) for v in new],
                    pk,
                    *[binary(v) for v in old if v is not None],
                ]
            )
        with transaction.atomic(using=db.alias), db.cursor() as cursor:
            for nulls, group in by_nulls.items():
                # Compare-and-set: a row the flow rewrote meanwhile keeps its new value.
                # A NULL column is compared with IS NULL (NULL = NULL is never true).
                unchanged = " AND ".join(
                    f"{quote(c)} IS NULL" if null else f"{quote(c)} = %s"
                    for c, null in zip(columns, nulls, strict=True)
                )
                cursor.executemany(
                    f"UPDATE {table} SET {assignments} "  # noqa: S608  # nosec B608
                    f"WHERE {quote(pk_column)} = %s AND {unchanged}",
                    params[nulls],
                )
                if cursor.rowcount == len(group):
                    rotated = [pk for pk, _ in group]
                else:
                    # Some rows were rewritten meanwhile: ours hold what was just written
                    # (a Fernet ciphertext is never produced twice).
                    pks = [pk for pk, _ in group]
                    cursor.execute(
                        f"SELECT {selected} FROM {table} "  # noqa: S608  # nosec B608
                        f"WHERE {quote(pk_column)} IN ({', '.join(['%s'] * len(pks))})",
                        pks,
                    )
                    stored = {
                        pk: [None if v is None else bytes(v) for v in values]
                        for pk, *values in cursor.fetchall()
                    }
                    rotated = [pk for pk, new in group if stored.get(pk) == new]
                batch.rotated += len(rotated)
                batch.rotated_pks.extend(rotated)
                batch.changed_meanwhile += len(group) - len(rotated)
            if on_batch is not None:
                on_batch(batch)
        total.rotated += batch.rotated
        total.current += batch.current
        total.unreadable += batch.unreadable
        total.changed_meanwhile += batch.changed_meanwhile
        after_pk = rows[-1][0]


def _reencrypted(value: bytes, primary: Fernet, older: list[Fernet]) -> bytes:
    """``value`` encrypted with ``primary``. The older keys are tried first: the caller
    found the row not wholly readable by ``primary``, and each failed key costs a
    signature check (MultiFernet.rotate would try ``primary`` again first)."""
    for key in (*older, primary):
        try:
            plaintext = key.decrypt(value)
        except InvalidToken:
            continue
        return primary.encrypt(plaintext)
    raise InvalidToken


def _readable_by(key: Fernet, value: bytes) -> bool:
    try:
        key.decrypt(value)
    except InvalidToken:
        return False
    return True
