"""Delete expired pending authorizations (and, on request, old audit events)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import router
from django.db.models import QuerySet
from django.utils import timezone

from django_twitter_oauth.models import RequestToken, TokenEvent


def delete_in_batches(queryset: QuerySet[Any], batch_size: int) -> int:
    """Delete the rows of ``queryset`` ``batch_size`` at a time; return how many."""
    # Read and delete on the database the router gives the model for writing (the
    # app's tables may live in a database of their own; a replica may lag).
    alias = router.db_for_write(queryset.model)
    queryset = queryset.using(alias)
    deleted = 0
    while True:
        pks = list(queryset.values_list("pk", flat=True)[:batch_size])
        if not pks:
            return deleted
        count, _ = queryset.model._default_manager.using(alias).filter(pk__in=pks).delete()
        deleted += count


class Command(BaseCommand):
    help = (
        "Delete pending Twitter authorizations older than TWITTER_OAUTH_REQUEST_TOKEN_TTL, "
        "and with --events-older-than, audit events older than that many days."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--events-older-than",
            type=int,
            metavar="DAYS",
            help="Also delete TokenEvents older than DAYS days.",
        )
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Rows deleted per query (default 1000)."
        )

    def handle(
        self, *args: Any, events_older_than: int | None, batch_size: int, **options: Any
    ) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if events_older_than is not None and events_older_than < 0:
            raise CommandError("--events-older-than must be zero or more days.")
        expired = delete_in_batches(RequestToken.objects.expired(), batch_size)
        self.stdout.write(f"Deleted {expired} expired pending authorization(s).")
        if events_older_than is not None:
            cutoff = timezone.now() - dt.timedelta(days=events_older_than)
            events = delete_in_batches(TokenEvent.objects.filter(created_at__lt=cutoff), batch_size)
            self.stdout.write(
                f"Deleted {events} token event(s) older than {events_older_than} days."
            )
