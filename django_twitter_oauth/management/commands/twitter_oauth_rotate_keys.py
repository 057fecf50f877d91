"""Re-encrypt every stored token with the first key of FERNET_KEYS: a front end to
:mod:`django_twitter_oauth.rotation`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models

from django_twitter_oauth import rotation
from django_twitter_oauth.models import AccessToken, RequestToken

LABELS: dict[type[models.Model], str] = {
    AccessToken: "access tokens",
    RequestToken: "pending authorizations",
}


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

        def progress(model: type[models.Model], done: rotation.Rotation) -> None:
            self.stderr.write(
                f"{LABELS[model]}: {done.rotated} re-encrypted, {done.current} already "
                f"current, {done.unreadable} unreadable so far"
            )

        try:
            results = rotation.rotate_keys(batch_size=batch_size, progress=progress)
        except (TypeError, ValueError) as exc:
            raise CommandError(
                f"FERNET_KEYS cannot be used ({type(exc).__name__}): run 'manage.py check'."
            ) from None
        for model, result in results.items():
            self.stdout.write(
                f"{LABELS[model].capitalize()}: {result.rotated} re-encrypted, "
                f"{result.current} already current, {result.unreadable} unreadable, "
                f"{result.changed_meanwhile} changed meanwhile (already written with the "
                "new key)."
            )
        unreadable = sum(result.unreadable for result in results.values())
        if unreadable:
            raise CommandError(
                f"{unreadable} row(s) could not be decrypted with any key in FERNET_KEYS and "
                "were left untouched. Add the key they were written with to FERNET_KEYS, or "
                "discard those tokens."
            )
