"""Re-encrypt every stored token with the first key of FERNET_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_twitter_oauth.fields import Rotation, build_fernet, reencrypt
from django_twitter_oauth.models import AccessToken, RequestToken, TokenEvent


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
                    tokens = AccessToken.objects.filter(pk__in=batch.rotated_pks).only(
                        "twitter_user_id", "screen_name", "user_id"
                    )
                    TokenEvent.objects.bulk_create(
                        TokenEvent.for_token(
                            token, TokenEvent.Action.REENCRYPTED, reason="key rotation"
                        )
                        for token in tokens
                    )
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
