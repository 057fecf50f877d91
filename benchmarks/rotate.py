"""Key rotation over many tokens: rows per second against a bare loop, and peak memory.

    .venv/bin/python benchmarks/rotate.py --rows 10000 100000
    .venv/bin/python benchmarks/rotate.py --rows 100000 \\
        --database-url postgres://postgres@127.0.0.1:5432/postgres

For each database (SQLite, a file in a temporary directory; and PostgreSQL when
``--database-url`` names a server: a scratch database is created there and dropped at the
end) and each row count: seeds N access tokens encrypted under one key, then runs
``twitter_oauth_rotate_keys`` as a subprocess with a new key first in FERNET_KEYS,
timing it and sampling its peak RSS (VmHWM in /proc). Each repeat rotates every row
again (to the other key). Before each run, the same ciphertexts are read and a bare loop
in this process times what the rotation cannot avoid: decrypting each value with the
keys (MultiFernet) and encrypting it with the first key. The figure is the command's
rows per second over the bare loop's. Afterwards it checks that the command rotated
every row and that the rows are readable with the new key alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from revoke import REPO, Run, cpu_model, percentile, run_command

#: Two keys: rows start under OLD; each repeat rotates them to the other one.
KEYS = ("benchmarks-rotation-key-old", "benchmarks-rotation-key-new")
SCRATCH_DATABASE = f"bench_rotate_{os.getpid()}"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000], help="row counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (default 3)")
    parser.add_argument(
        "--batch-size", type=int, default=500, help="the command's --batch-size (default 500)"
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="a PostgreSQL server (any database name; e.g. $DATABASE_URL of the tests): "
        "also measure there, in a scratch database created and dropped by this script",
    )
    parser.add_argument(
        "--no-sqlite", action="store_true", help="skip SQLite (with --database-url)"
    )
    parser.add_argument("--driver", help=argparse.SUPPRESS)  # internal: one database
    args = parser.parse_args(argv)
    if min(args.rows) < 1 or args.repeat < 1 or args.batch_size < 1:
        parser.error("--rows, --repeat and --batch-size must be positive")
    if args.no_sqlite and not args.database_url:
        parser.error("--no-sqlite needs --database-url")
    return args


# -- the driver: one database, in a process of its own (Django is set up once per process)


def seed(count: int) -> None:
    """``count`` access tokens encrypted under KEYS[0] (the driver's FERNET_KEYS)."""
    from django.contrib.auth.models import User
    from django.db import connection

    from django_twitter_oauth.models import AccessToken, RequestToken, TokenEvent

    AccessToken.objects.all().delete()
    RequestToken.objects.all().delete()
    TokenEvent.objects.all().delete()
    user, _ = User.objects.get_or_create(username="bench")
    batch: list[AccessToken] = []
    for number in range(1, count + 1):
        batch.append(
            AccessToken(
                user=user,
                twitter_user_id=str(number),
                screen_name=f"u{number}",
                token=f"{number}-benchTOKENbenchTOKEN{number:08d}",
                secret=f"benchSECRET{number:08d}benchSECRET",
                access_level="read-write",
                app_permission="read-write",
            )
        )
        if len(batch) == 2000:
            AccessToken.objects.bulk_create(batch)
            batch = []
    AccessToken.objects.bulk_create(batch)
    connection.close()


def ciphertexts() -> list[bytes]:
    """Every encrypted value of the access tokens, as stored."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT token, secret FROM twitter_oauth_accesstoken")
        values = [bytes(value) for row in cursor.fetchall() for value in row]
    connection.close()
    return values


def bare_loop(values: list[bytes], keys: list[str]) -> tuple[float, float]:
    """Seconds (wall, CPU) to decrypt every value with ``keys`` and encrypt it with the
    first."""
    from django.test import override_settings

    from django_twitter_oauth.fields import build_fernet

    with override_settings(FERNET_KEYS=keys):
        fernet, primary = build_fernet(), build_fernet(primary_only=True)
    start, start_cpu = time.perf_counter(), time.process_time()
    for value in values:
        primary.encrypt(fernet.decrypt(value))
    return time.perf_counter() - start, time.process_time() - start_cpu


def check(rows: int, keys: list[str], output: str) -> None:
    """The command rotated every row, and a sample of them reads with the new key alone."""
    from django.test import override_settings

    from django_twitter_oauth.fields import _readable_by, build_fernet

    problems = []
    if f"Access tokens: {rows} re-encrypted, 0 already current, 0 unreadable" not in output:
        problems.append("the command did not report every row re-encrypted")
    with override_settings(FERNET_KEYS=keys[:1]):
        primary = build_fernet(primary_only=True)
    values = ciphertexts()
    sample = values[:: max(len(values) // 1000, 1)]
    unreadable = sum(not _readable_by(primary, value) for value in sample)
    if unreadable:
        problems.append(f"{unreadable} of {len(sample)} sampled values not under the new key")
    if problems:
        raise SystemExit("Rotation incomplete: " + "; ".join(problems) + "\n" + output)


def clear_events() -> None:
    from django.db import connection

    from django_twitter_oauth.models import TokenEvent

    TokenEvent.objects.all().delete()
    connection.close()


def drive(args: argparse.Namespace) -> dict[str, Any]:
    """Measure on the database the environment names; the results as a dict."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    os.environ["BENCH_FERNET_KEYS"] = KEYS[0]
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    vendor = connection.vendor
    major, minor = divmod(getattr(connection, "pg_version", 0), 10000)
    version = (
        f"SQLite {sqlite3.sqlite_version}" if vendor == "sqlite" else f"PostgreSQL {major}.{minor}"
    )
    connection.close()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            path for path in (str(REPO), os.environ.get("PYTHONPATH")) if path
        ),
    }
    command = ["twitter_oauth_rotate_keys", "--batch-size", str(args.batch_size)]
    startup = [
        run_command(command, {**env, "BENCH_FERNET_KEYS": ",".join(KEYS[::-1])}, 60)[0]
        for _ in range(args.repeat)
    ]
    rows_out = []
    for rows in args.rows:
        seed(rows)
        runs: list[Run] = []
        bare: list[float] = []
        bare_cpu: list[float] = []
        for repeat in range(args.repeat):
            # Rows are under KEYS[repeat % 2]; rotate them to the other key.
            keys = [KEYS[(repeat + 1) % 2], KEYS[repeat % 2]]
            values = ciphertexts()
            wall, cpu = bare_loop(values, keys)
            bare.append(wall)
            bare_cpu.append(cpu)
            del values
            run, output = run_command(
                command, {**env, "BENCH_FERNET_KEYS": ",".join(keys)}, 120 + rows / 50
            )
            check(rows, keys, output)
            clear_events()
            runs.append(run)
            print(
                f"  {vendor} {rows} rows, run {repeat + 1}: command {run.seconds:.2f} s, "
                f"{run.peak_rss_mib:.1f} MiB; bare loop {bare[-1]:.2f} s",
                file=sys.stderr,
            )
        rows_out.append(
            {
                "rows": rows,
                "seconds": [run.seconds for run in runs],
                "rss": [run.peak_rss_mib for run in runs],
                "cpu": [run.command_cpu for run in runs],
                "busy": [run.machine_busy for run in runs],
                "bare": bare,
                "bare_cpu": bare_cpu,
            }
        )
    return {
        "database": version,
        "startup": statistics.median(run.seconds for run in startup),
        "startup_cpu": statistics.median(run.command_cpu for run in startup),
        "idle_rss": statistics.median(run.peak_rss_mib for run in startup),
        "rows": rows_out,
    }


# -- the parent: one driver per database, then the table ---------------------------------


def run_driver(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, __file__, *argv],
        env=env,
        stdout=subprocess.PIPE,
        check=True,
        text=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def postgres_scratch(url: str, action: str, database: str = SCRATCH_DATABASE) -> str:
    """Create (or drop) a scratch database on the server ``url`` names; its URL."""
    import psycopg
    from psycopg import sql

    scheme, _, rest = url.partition("://")
    server = rest.split("/", 1)[0]
    # Through the server's maintenance database: the one the URL names may not exist.
    with psycopg.connect(f"{scheme}://{server}/postgres", autocommit=True) as connection:
        name = sql.Identifier(database)
        if action == "create":
            connection.execute(sql.SQL("CREATE DATABASE {}").format(name))
        else:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(name))
    return f"{scheme}://{server}/{database}"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.driver:
        print(json.dumps(drive(args)))
        return
    import django

    common = ["--rows", *map(str, args.rows), "--repeat", str(args.repeat)]
    common += ["--batch-size", str(args.batch_size), "--driver", "yes"]
    results = []
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="bench-rotate-") as tmp:
            env = {**os.environ, "BENCH_DATABASE": str(Path(tmp) / "rotate.sqlite3")}
            env.pop("BENCH_DATABASE_URL", None)
            results.append(run_driver(common, env))
    if args.database_url:
        scratch = postgres_scratch(args.database_url, "create")
        try:
            results.append(run_driver(common, {**os.environ, "BENCH_DATABASE_URL": scratch}))
        finally:
            postgres_scratch(args.database_url, "drop")

    print()
    print("twitter_oauth_rotate_keys against a bare decrypt + encrypt loop")
    print(f"CPU: {cpu_model()} x {os.cpu_count()}")
    print(
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"{', '.join(result['database'] for result in results)}; "
        f"--batch-size {args.batch_size}; {args.repeat} run(s) per row"
    )
    header = (
        f"{'database':<10} {'rows':>7} {'median s':>8} {'p90 s':>6} {'rows/s':>7} "
        f"{'rows/s*':>7} {'bare/s':>7} {'ratio':>5} {'ratio*':>6} {'CPU r*':>6} "
        f"{'RSS MiB':>7} {'p90 RSS':>7} {'cpu ms/kr':>9} {'busy %':>6}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        name = result["database"].split()[0]
        for row in result["rows"]:
            rows, seconds = row["rows"], row["seconds"]
            median = statistics.median(seconds)
            rate = rows / median
            bare = rows / statistics.median(row["bare"])
            # Without the start-up: meaningless ("-") when the start-up is most of the run.
            work = median - result["startup"]
            command_cpu = statistics.median(row["cpu"]) - result["startup_cpu"]
            steady = f"{rows / work:>7.0f}" if work > median / 4 else f"{'-':>7}"
            steady_ratio = f"{rows / work / bare:>6.2f}" if work > median / 4 else f"{'-':>6}"
            # CPU: less sensitive to other processes than wall time.
            cpu_ratio = (
                f"{statistics.median(row['bare_cpu']) / command_cpu:>6.2f}"
                if command_cpu > 0
                else f"{'-':>6}"
            )
            print(
                f"{name:<10} {rows:>7} {median:>8.2f} {percentile(seconds, 0.9):>6.2f} "
                f"{rate:>7.0f} {steady} {bare:>7.0f} {rate / bare:>5.2f} "
                f"{steady_ratio} {cpu_ratio} {statistics.median(row['rss']):>7.1f} "
                f"{percentile(row['rss'], 0.9):>7.1f} "
                f"{1_000_000 * statistics.median(row['cpu']) / rows:>9.0f} "
                f"{100 * statistics.median(row['busy']):>6.0f}"
            )
        print(
            f"{name}: command start-up (no rows) {result['startup']:.2f} s, "
            f"peak RSS {result['idle_rss']:.1f} MiB"
        )
    print("* without the command's start-up (median of the runs over no rows)")
    print(
        "bare/s: rows per second of the bare loop (decrypt both columns with MultiFernet, "
        "encrypt with the first key); ratio: the command's rows/s over it (goal >= 0.5); "
        "CPU r*: the bare loop's CPU time over the command's (start-up excluded); "
        "cpu ms/kr: the command's CPU ms per 1000 rows; busy %: the machine's CPU busy"
    )


if __name__ == "__main__":
    main()
