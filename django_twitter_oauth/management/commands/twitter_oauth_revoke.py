"""Revoke (or discard) Twitter access tokens in bulk: a front end to revocation.py."""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet
from django.utils import timezone

from django_twitter_oauth import revocation
from django_twitter_oauth.conf import ACCESS_LEVELS
from django_twitter_oauth.models import AccessToken, users_apart, with_users
from django_twitter_oauth.revocation import iterate

#: Lines of progress when stderr is not a terminal: one every this many seconds.
PROGRESS_EVERY = 5.0
#: Tokens listed by --dry-run.
DRY_RUN_LISTED = 20
#: Signals that stop a revocation gracefully: Ctrl-C, and what supervisors send.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _date(value: str) -> dt.date:
    # ArgumentTypeError, not CommandError: argparse turns it into a usage error, on the
    # command line (exit status 2) as through call_command (a CommandError).
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a date as YYYY-MM-DD, not {value!r}") from None


class Command(BaseCommand):
    help = (
        "Revoke Twitter access tokens at Twitter and delete them (or --discard them "
        "without calling Twitter). Select with --all or any combination of filters."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        select = parser.add_argument_group("selection (combined filters narrow it)")
        select.add_argument("--all", action="store_true", help="Every token.")
        select.add_argument(
            "--user",
            action="append",
            default=[],
            metavar="USERNAME",
            help="The user's USERNAME_FIELD value (e.g. username or email). Repeatable.",
        )
        select.add_argument(
            "--stale",
            action="store_true",
            help="Tokens issued under another app permission than TWITTER_OAUTH_APP_PERMISSION.",
        )
        select.add_argument("--access-level", choices=ACCESS_LEVELS)
        select.add_argument("--issued-before", type=_date, metavar="YYYY-MM-DD")
        select.add_argument(
            "--twitter-id", action="append", default=[], metavar="ID", help="Repeatable."
        )
        parser.add_argument(
            "--discard", action="store_true", help="Delete without telling Twitter."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would be done; change nothing."
        )
        parser.add_argument(
            "--workers", type=int, default=8, help="Concurrent calls to Twitter (default 8)."
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation.",
        )
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="Enqueue tasks on the site's tasks backend instead of working here.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="Tokens read per query, or token ids per task with --enqueue (default 500).",
        )
        parser.add_argument("--reason", default="", help="Recorded in each TokenEvent.")

    def selection(self, options: dict[str, Any]) -> QuerySet[AccessToken]:
        filters = (
            options["user"],
            options["stale"],
            options["access_level"],
            options["issued_before"],
            options["twitter_id"],
        )
        if not options["all"] and not any(filters):
            raise CommandError(
                "Nothing selected: pass --all, or filters such as --stale, --user, "
                "--access-level, --issued-before or --twitter-id."
            )
        queryset = with_users(AccessToken.objects.all())
        if options["user"]:
            # The user model's own identifier: a custom one may have no ``username``.
            user_model = get_user_model()
            users = user_model._default_manager.filter(
                **{f"{user_model.USERNAME_FIELD}__in": options["user"]}
            ).values_list("pk", flat=True)
            # A subquery, or the users' ids when they are in another database.
            queryset = queryset.filter(user__in=list(users) if users_apart(queryset) else users)
        if options["stale"]:
            queryset = queryset.stale()
        if options["access_level"]:
            queryset = queryset.filter(access_level=options["access_level"])
        if options["issued_before"]:
            start_of_day = dt.datetime.combine(options["issued_before"], dt.time.min)
            queryset = queryset.filter(
                created_at__lt=timezone.make_aware(start_of_day, timezone.get_current_timezone())
            )
        if options["twitter_id"]:
            queryset = queryset.filter(twitter_user_id__in=options["twitter_id"])
        return queryset

    def handle(self, *args: Any, **options: Any) -> None:
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        queryset = self.selection(options)
        if options["discard"] or options["dry_run"]:
            # Neither needs the credentials: tokens no key in FERNET_KEYS can decrypt
            # (a lost key) can still be listed and discarded.
            queryset = queryset.defer("token", "secret")
        verb = "discard" if options["discard"] else "revoke at Twitter"
        total = queryset.count()
        if options["dry_run"]:
            self.stdout.write(f"Would {verb} {total} token(s):")
            for token in queryset.order_by("pk")[:DRY_RUN_LISTED]:
                self.stdout.write(
                    f"  {token} user={token.user} level={token.access_level} "
                    f"issued under {token.app_permission}"
                )
            if total > DRY_RUN_LISTED:
                self.stdout.write(f"  ... and {total - DRY_RUN_LISTED} more.")
            return
        if total == 0:
            self.stdout.write("No token matches the selection.")
            return
        if options["interactive"] and not self.confirm(f"{verb} {total} token(s)"):
            raise CommandError("Cancelled; nothing changed.")
        if options["enqueue"]:
            self.enqueue(queryset, options)
            return
        reason = options["reason"] or f"{verb} by twitter_oauth_revoke"
        tokens = iterate(queryset, options["batch_size"])
        if options["discard"]:
            report = revocation.discard(tokens, reason=reason)
        else:
            report = self.revoke(tokens, total, options, reason)
        self.summarize(report, left=self.selection(options).count(), discard=options["discard"])

    def confirm(self, what: str) -> bool:
        try:
            answer = input(f"You are about to {what}. Type 'yes' to continue: ")
        except (EOFError, KeyboardInterrupt):
            # As createsuperuser does: Ctrl-C (or no answer) cancels, without a traceback.
            self.stdout.write("")
            return False
        return answer.strip().lower() == "yes"

    def revoke(
        self, tokens: Iterator[AccessToken], total: int, options: dict[str, Any], reason: str
    ) -> revocation.Report:
        stop = threading.Event()
        progress = Progress(self.stderr, total)

        def interrupt(signum: int, frame: Any) -> None:
            # First Ctrl-C or SIGTERM (a supervisor stopping the process): finish the
            # calls in flight and record them, report; a second one aborts. Dying at
            # once would lose the confirmations Twitter sent for the calls in flight.
            stop.set()
            self.stderr.write("Stopping: finishing the calls in flight ...")
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

        # Signal handlers can only be set from the main thread (call_command elsewhere
        # runs without one: Ctrl-C does not reach it anyway).
        main_thread = threading.current_thread() is threading.main_thread()
        previous = (
            {signum: signal.signal(signum, interrupt) for signum in STOP_SIGNALS}
            if main_thread
            else {}
        )
        try:
            return revocation.revoke(
                tokens, reason=reason, workers=options["workers"], stop=stop, progress=progress
            )
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            progress.close()

    def enqueue(self, queryset: QuerySet[AccessToken], options: dict[str, Any]) -> None:
        from django_twitter_oauth.tasks import enqueue_revocation

        results = enqueue_revocation(
            queryset,
            batch_size=options["batch_size"],
            discard=options["discard"],
            reason=options["reason"],
        )
        self.stdout.write(
            f"Enqueued {len(results)} task(s) of up to {options['batch_size']} token(s) each."
        )

    def summarize(self, report: revocation.Report, *, left: int, discard: bool) -> None:
        if discard:
            self.stdout.write(f"Discarded: {report.discarded}")
        else:
            self.stdout.write(
                f"Revoked: {report.revoked + report.already_invalid} "
                f"(already invalid at Twitter: {report.already_invalid})"
            )
        self.stdout.write(f"Failed: {len(report.failed)}")
        for failure in report.failed:
            self.stdout.write(
                f"  @{failure.screen_name} ({failure.twitter_user_id}): {failure.reason}"
            )
        not_done = max(left - len(report.failed), 0)
        self.stdout.write(f"Not attempted: {not_done}")
        if report.stopped:
            self.stdout.write("Stopped before the end; run the same command again to continue.")
        if report.failed or left:
            raise CommandError(
                f"{left} selected token(s) are still here ({len(report.failed)} failed, "
                f"{not_done} not attempted). Run the command again to retry them."
            )


class Progress:
    """A tqdm bar on a terminal; otherwise a plain line every few seconds."""

    def __init__(self, stream: Any, total: int) -> None:
        self.stream = stream
        self.total = total
        self.bar: Any = None
        self.last_line = time.monotonic()
        if stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=stream._out, unit="token")

    def __call__(self, report: revocation.Report) -> None:
        handled = report.done + len(report.failed) + report.not_attempted
        if self.bar is not None:
            self.bar.update(handled - self.bar.n)
        elif time.monotonic() - self.last_line >= PROGRESS_EVERY:
            self.last_line = time.monotonic()
            self.stream.write(f"{handled}/{self.total} handled, {report.done} done")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
