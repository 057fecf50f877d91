"""Re-encrypt every stored token with the first key of FERNET_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, router
from django.utils import timezone

from django_twitter_oauth.fields import Rotation, build_fernet, reencrypt
from django_twitter_oauth.models import AccessToken, RequestToken, TokenEvent

#: Tokens per INSERT of events: well below any database's limit on parameters.
EVENTS_PER_INSERT = 500


def record_reencrypted(pks: list[Any]) -> None:
    """A REENCRYPTED event for each of these access tokens, copied from their rows by
    the database (INSERT ... SELECT): building model instances for bulk_create took as
    long as the re-encryption itself."""
    connection = connections[router.db_for_write(TokenEvent)]
    quote = connection.ops.quote_name
    event, token = TokenEvent._meta, AccessToken._meta

    def columns(meta: Any, names: list[str]) -> str:
        return ", ".join(quote(meta.get_field(name).column) for name in names)

    copied = ["twitter_user_id", "screen_name", "user"]
    created_at = event.get_field("created_at").get_db_prep_save(timezone.now(), connection)
    with connection.cursor() as cursor:
        for start in range(0, len(pks), EVENTS_PER_INSERT):
            chunk = pks[start : start + EVENTS_PER_INSERT]
            # Only quoted identifiers from the models' metadata go into the SQL text.
            cursor.execute(
                f"INSERT INTO {quote(event.db_table)} "  # noqa: S608  # nosec B608
                f"({columns(event, [*copied, 'action', 'reason', 'created_at'])}) "
                f"SELECT {columns(token, copied)}, %s, %s, %s FROM {quote(token.db_table)} "
                f"WHERE {quote(str(token.pk.column))} IN ({', '.join(['%s'] * len(chunk))})",
                [TokenEvent.Action.REENCRYPTED.value, "key rotation", created_at, *chunk],
            )


class Command(BaseCommand):
    help = (
        "Re-encrypt every Twitter access token and pending request token with the first "
        "key of FERNET_KEYS, in batches. Safe to stop and run again; keep the old keys in "
        "FERNET_KEYS until it reports no row left under them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="Rows read and written per transaction (default 500).",
        )

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            build_fernet()
        except (TypeError, ValueError) as exc:
            raise CommandError(
                f"FERNET_KEYS cannot be used ({type(exc).__name__}): run 'manage.py check'."
            ) from None
        unreadable = 0
        for model, label in (
            (AccessToken, "access tokens"),
            (RequestToken, "pending authorizations"),
        ):
            done = Rotation()

            def on_batch(
                batch: Rotation, model: Any = model, label: str = label, done: Rotation = done
            ) -> None:
                if model is AccessToken and batch.rotated_pks:
                    record_reencrypted(batch.rotated_pks)
                done.rotated += batch.rotated
                done.current += batch.current
                done.unreadable += batch.unreadable
                self.stderr.write(
                    f"{label}: {done.rotated} re-encrypted, {done.current} already current, "
                    f"{done.unreadable} unreadable so far"
                )

            result = reencrypt(model, batch_size=batch_size, on_batch=on_batch)
            unreadable += result.unreadable
            self.stdout.write(
                f"{label.capitalize()}: {result.rotated} re-encrypted, {result.current} already "
                f"current, {result.unreadable} unreadable, {result.changed_meanwhile} changed "
                "meanwhile (already written with the new key)."
            )
        if unreadable:
            raise CommandError(
                f"{unreadable} row(s) could not be decrypted with any key in FERNET_KEYS and "
                "were left untouched. Add the key they were written with to FERNET_KEYS, or "
                "discard those tokens."
            )
