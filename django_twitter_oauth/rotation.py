"""Key rotation: re-encrypt every stored credential with the first key of FERNET_KEYS.

The service behind ``twitter_oauth_rotate_keys`` (which only parses its options and
prints): :func:`rotate_keys` walks :class:`~django_twitter_oauth.models.AccessToken` and
:class:`~django_twitter_oauth.models.RequestToken` in primary-key batches, each in its
own transaction on the database the router gives for the model, and records a
``reencrypted`` :class:`~django_twitter_oauth.models.TokenEvent` for each access token
it rewrote, in the same transaction. Safe to stop and run again at any point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from cryptography.fernet import Fernet, InvalidToken
from django.db import connections, models, router, transaction
from django.utils import timezone

from django_twitter_oauth.fields import EncryptedTextField, _fernets, build_fernet
from django_twitter_oauth.models import AccessToken, RequestToken, TokenEvent

__all__ = ["Rotation", "reencrypt", "rotate_keys"]

#: Tokens per INSERT of events: well below any database's limit on parameters.
EVENTS_PER_INSERT = 500
#: The models rotated, in this order.
MODELS: tuple[type[models.Model], ...] = (AccessToken, RequestToken)


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


def record_reencrypted(pks: list[Any]) -> None:
    """A REENCRYPTED event for each of these access tokens, copied from their rows by
    the database (INSERT ... SELECT): building model instances for bulk_create took as
    long as the re-encryption itself. The app's models share one database (whichever
    the router gives them), so the copy stays inside it."""
    alias = router.db_for_write(TokenEvent)
    connection = connections[alias]
    quote = connection.ops.quote_name
    event, token = TokenEvent._meta, AccessToken._meta

    def columns(meta: Any, names: list[str]) -> str:
        return ", ".join(quote(meta.get_field(name).column) for name in names)

    copied = ["twitter_user_id", "screen_name", "user"]
    created = event.get_field("created_at").get_db_prep_save(timezone.now(), connection)
    with connection.cursor() as cursor:
        for start in range(0, len(pks), EVENTS_PER_INSERT):
            chunk = pks[start : start + EVENTS_PER_INSERT]
            # Only quoted identifiers from the models' metadata go into the SQL text.
            cursor.execute(
                f"INSERT INTO {quote(event.db_table)} "  # noqa: S608  # nosec B608
                f"({columns(event, [*copied, 'action', 'reason', 'created_at'])}) "
                f"SELECT {columns(token, copied)}, %s, %s, %s FROM {quote(token.db_table)} "
                f"WHERE {quote(str(token.pk.column))} IN ({', '.join(['%s'] * len(chunk))})",
                [TokenEvent.Action.REENCRYPTED.value, "key rotation", created, *chunk],
            )


def rotate_keys(
    *,
    batch_size: int = 500,
    progress: Callable[[type[models.Model], Rotation], None] | None = None,
) -> dict[type[models.Model], Rotation]:
    """Re-encrypt every access token and pending request token (the models in ``MODELS``) with
    the first key of FERNET_KEYS; return what was done, by model. ``progress`` gets the
    model and its running totals after each batch. Raises TypeError or ValueError
    before touching anything when FERNET_KEYS cannot be used."""
    build_fernet()
    results: dict[type[models.Model], Rotation] = {}
    for model in MODELS:
        done = Rotation()

        def on_batch(
            batch: Rotation, model: type[models.Model] = model, done: Rotation = done
        ) -> None:
            # Inside the batch's transaction: the events commit with the rows.
            if model is AccessToken and batch.rotated_pks:
                record_reencrypted(batch.rotated_pks)
            done.rotated += batch.rotated
            done.current += batch.current
            done.unreadable += batch.unreadable
            done.changed_meanwhile += batch.changed_meanwhile
            if progress is not None:
                progress(model, done)

        results[model] = reencrypt(model, batch_size=batch_size, on_batch=on_batch)
    return results
