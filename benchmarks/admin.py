"""The AccessToken admin changelist over many tokens: SQL statements and render time.

    .venv/bin/python benchmarks/admin.py --tokens 100 10000 100000

For each token count: fills a fresh SQLite database (a file in a temporary directory)
with N access tokens (spread over four years, three access levels and two app
permissions), then requests the changelist through Django's test client as a logged-in
superuser, as is, filtered, searched and drilled down by date, ``--repeat`` times each
(after one unmeasured request), counting the SQL statements of each request and timing
it. Prints the statement count and the median and p90 render time per page and count.
The goal is a statement count that does not depend on the number of tokens.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from revoke import REPO, cpu_model, percentile
from rotate import postgres_scratch

#: The pages measured: a name and the changelist's query string.
PAGES = (
    ("changelist", ""),
    ("filter: access level", "?access_level=read"),
    ("filter: stale", "?stale=yes"),
    ("search", "?q=u12345"),
    ("date drill-down", "?created_at__year=2024"),
    ("page 5", "?p=5"),
)
URL = "/admin/twitter_oauth/accesstoken/"
LEVELS = ("read", "read-write", "read-write-directmessages")
SCRATCH = f"bench_admin_{os.getpid()}"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[100, 10_000], help="token counts")
    parser.add_argument("--repeat", type=int, default=10, help="requests per page (default 10)")
    parser.add_argument(
        "--show-sql", action="store_true", help="print the statements of each page (last count)"
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="measure on PostgreSQL instead: a scratch database created on the server this "
        "URL names (e.g. postgres://postgres@host/postgres) and dropped at the end",
    )
    args = parser.parse_args(argv)
    if min(args.tokens) < 1 or args.repeat < 1:
        parser.error("--tokens and --repeat must be positive")
    args.tokens.sort()
    return args


def setup_django(database: Path, url: str | None = None) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    os.environ["BENCH_DATABASE"] = str(database)
    if url:
        os.environ["BENCH_DATABASE_URL"] = url
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def grow(start: int, count: int) -> None:
    """Add access tokens ``start`` .. ``count`` - 1 (bulk), each with its own user."""
    from django.contrib.auth.models import User
    from django.db import connection

    from django_twitter_oauth.models import AccessToken

    for first in range(start, count, 2000):
        numbers = range(first, min(first + 2000, count))
        users = User.objects.bulk_create(User(username=f"user{n}") for n in numbers)
        AccessToken.objects.bulk_create(
            AccessToken(
                user=user,
                twitter_user_id=str(10_000_000 + n),
                screen_name=f"u{n}",
                token=f"{n}-benchTOKENbenchTOKEN{n:08d}",
                secret=f"benchSECRET{n:08d}benchSECRET",
                access_level=LEVELS[n % 3],
                # One token in ten issued under an older app permission: stale.
                app_permission="read" if n % 10 == 0 else "read-write",
            )
            for n, user in zip(numbers, users, strict=True)
        )
    # Spread the tokens over four years, for the date hierarchy.
    day = (
        "datetime('2022-01-01', '+' || (id * 7 % 1461) || ' days')"
        if connection.vendor == "sqlite"
        else "TIMESTAMPTZ '2022-01-01 00:00Z' + (id * 7 % 1461) * INTERVAL '1 day'"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE twitter_oauth_accesstoken SET created_at = {day}")  # noqa: S608


def measure(client: Any, query: str, repeat: int) -> tuple[list[int], list[float], list[str]]:
    """Statements and seconds of each request; the statements of the last one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(URL + query)  # warm-up: templates, caches
    counts, seconds = [], []
    statements: list[str] = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            response = client.get(URL + query)
            seconds.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise SystemExit(f"{URL}{query} answered {response.status_code}")
        counts.append(len(queries))
        statements = [query["sql"] for query in queries]
    return counts, seconds, statements


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    import django

    rows = []
    scratch = postgres_scratch(args.database_url, "create", SCRATCH) if args.database_url else None
    with tempfile.TemporaryDirectory(prefix="bench-admin-") as tmp:
        setup_django(Path(tmp) / "admin.sqlite3", scratch)
        from django.contrib.auth.models import User
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        call_command("migrate", verbosity=0)
        admin = User.objects.create_superuser("admin", "admin@example.com", "admin")
        client = Client(HTTP_HOST="localhost")
        client.force_login(admin)
        database = (
            f"SQLite {sqlite3.sqlite_version}"
            if connection.vendor == "sqlite"
            else "PostgreSQL {}.{}".format(*divmod(getattr(connection, "pg_version", 0), 10000))
        )
        try:
            have = 0
            for tokens in args.tokens:
                grow(have, tokens)
                have = tokens
                for name, query in PAGES:
                    counts, seconds, statements = measure(client, query, args.repeat)
                    rows.append((tokens, name, counts, seconds))
                    print(
                        f"  {tokens} tokens, {name}: {statistics.median(counts)} statements, "
                        f"{1000 * statistics.median(seconds):.1f} ms",
                        file=sys.stderr,
                    )
                    if args.show_sql and tokens == args.tokens[-1]:
                        print(f"-- {name} ({URL}{query})", *statements, sep="\n", file=sys.stderr)
        finally:
            connection.close()
            if args.database_url:
                postgres_scratch(args.database_url, "drop", SCRATCH)

    print()
    print("The AccessToken admin changelist (test client, superuser, database sessions)")
    print(f"CPU: {cpu_model()} x {os.cpu_count()}")
    print(
        f"Python {platform.python_version()}, Django {django.get_version()}, {database}; "
        f"{args.repeat} request(s) per row after one warm-up"
    )
    header = (
        f"{'tokens':>7} {'page':<22} {'statements':>10} {'min-max':>7} "
        f"{'median ms':>9} {'p90 ms':>7}"
    )
    print(header)
    print("-" * len(header))
    for tokens, name, counts, seconds in rows:
        spread = f"{min(counts)}-{max(counts)}" if min(counts) != max(counts) else ""
        print(
            f"{tokens:>7} {name:<22} {statistics.median(counts):>10g} {spread:>7} "
            f"{1000 * statistics.median(seconds):>9.1f} "
            f"{1000 * percentile(seconds, 0.9):>7.1f}"
        )
    by_page: dict[str, set[float]] = {}
    for _tokens, name, counts, _seconds in rows:
        by_page.setdefault(name, set()).add(statistics.median(counts))
    constant = all(len(counts) == 1 for counts in by_page.values())
    print(
        "statements: per request, sessions and user included; "
        + ("the same at every count" if constant else "NOT the same at every count")
    )


if __name__ == "__main__":
    main()
