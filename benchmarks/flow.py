"""Complete sign-in flows through Django's test client: SQL statements and CPU time.

    .venv/bin/python benchmarks/flow.py
    /tmp/allauth-venv/bin/python benchmarks/flow.py --compare-allauth

Three cases, each a complete flow (begin, the user approves at Twitter, callback) from a
fresh browser: **sign-up** (an unknown Twitter account; a user is created and logged in),
**sign-in** of a user whose Twitter account is linked, and **connect** (a logged-in user
links a new Twitter account). Twitter is the in-process, signature-verifying FakeTwitter;
its own CPU time (oauthlib's signature checks) is measured apart and subtracted.

For begin and callback separately and together: SQL statements (all, and without
transaction control: BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE), counted with
CaptureQueriesContext in runs of their own (the debug cursor costs CPU), and the CPU time
(``time.thread_time``: the request runs in this thread) of the test client's call. Median
and p90 over ``--flows`` flows after ``--warmup`` unmeasured ones.

The same flows run through the floor (``benchmarks/floor``: a hand-written minimum site,
two calls signed with requests-oauthlib, the request token in the session, one row per
Twitter account, ``login()``), interleaved with this app's, and the script prints this
app's figures against the floor's and checks two goals per case: statements without
transaction control at most the floor's + 2, median CPU at most 1.2 x the floor's (MET
or MISSED; it exits 0 either way).

With ``--compare-allauth`` (django-allauth installed, see benchmarks/README.md) the same
flows run through allauth's Twitter provider in the same process, alternating with ours
flow by flow, so a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import importlib.metadata
import importlib.util
import itertools
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revoke import cpu_model, percentile

REPO = Path(__file__).resolve().parent.parent
SETTINGS = "benchmarks.flow_settings"
CASES = ("sign-up", "sign-in", "connect")
PHASES = ("begin", "callback")
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
#: The goals against the floor: statements without transaction control at most the
#: floor's plus this many, and median CPU of a complete flow at most this many times.
GOAL_EXTRA_STATEMENTS = 2
GOAL_CPU_RATIO = 1.2


@dataclass
class Sample:
    """One client call: CPU seconds (the fake's taken out), the fake's CPU seconds, the
    calls Twitter answered, and statements (all, and without transaction control; None
    when not counted)."""

    cpu: float
    fake_cpu: float
    calls: int = 0
    statements: int | None = None
    statements_no_tx: int | None = None
    sql: list[str] = field(default_factory=list)


Flow = dict[str, Sample]  # phase -> sample


#: How a browser posts an HTML form.
FORM = "application/x-www-form-urlencoded"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=200, help="measured flows per case")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured flows per case first")
    parser.add_argument(
        "--query-runs", type=int, default=10, help="flows per case whose statements are counted"
    )
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument(
        "--database-url",
        default="",
        help="postgres://user:password@host:port/name: PostgreSQL instead of SQLite; a "
        "database bench_flow (--test-database) is created and dropped there",
    )
    parser.add_argument("--test-database", default="bench_flow")
    parser.add_argument(
        "--compare-allauth",
        action="store_true",
        help="run the same flows through django-allauth's Twitter provider, interleaved",
    )
    parser.add_argument(
        "--show-sql",
        action="store_true",
        help="print the statements of one flow per case and implementation",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE.pstats",
        help="then run --flows more flows of this app per case under cProfile, with the "
        "thread's CPU time as its clock, profiling the client calls only (the fake "
        "included); write the stats here and print the top of them",
    )
    parser.add_argument(
        "--profile-site",
        choices=("ours", "floor"),
        default="ours",
        help="whose flows --profile profiles: this app's (default) or the floor's, to set "
        "the two profiles side by side",
    )
    args = parser.parse_args(argv)
    if args.flows < 1 or args.warmup < 0 or args.query_runs < 1:
        parser.error("--flows and --query-runs must be positive, --warmup >= 0")
    return args


def setup_django(database: Path, database_url: str, test_database: str, allauth: bool) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    os.environ["BENCH_DATABASE"] = str(database)
    os.environ["BENCH_DATABASE_URL"] = database_url
    os.environ["BENCH_TEST_DATABASE"] = test_database
    os.environ["BENCH_ALLAUTH"] = "1" if allauth else "0"
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def oauth_out_of_query(url: str, headers: Any) -> tuple[str, dict[str, str]]:
    """Move OAuth parameters from the query into the Authorization header.

    allauth sends ``oauth_callback`` (request_token) and ``oauth_verifier``
    (access_token) in the query next to an Authorization header; Twitter accepts that,
    but the fake (oauthlib) refuses OAuth parameters from two places. The signature base
    string is the same wherever they are (RFC 5849 section 3.4.1.3.1).
    """
    headers = dict(headers)
    parts = urllib.parse.urlsplit(url)
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    moved = [(name, value) for name, value in pairs if name.startswith("oauth_")]
    if not moved or "Authorization" not in headers:
        return url, headers
    kept = [(name, value) for name, value in pairs if not name.startswith("oauth_")]
    extra = "".join(f', {name}="{urllib.parse.quote(value, safe="~")}"' for name, value in moved)
    headers["Authorization"] += extra
    query = urllib.parse.urlencode(kept, quote_via=urllib.parse.quote)
    return parts._replace(query=query).geturl(), headers


class CpuMeter:
    """Wraps the fake's request handling to add up the CPU time it takes and count the
    calls."""

    def __init__(self, provider: Any) -> None:
        self.seconds = 0.0
        self.calls = 0
        handle = provider.handle

        def timed(method: str, url: str, headers: Any, body: Any) -> Any:
            self.calls += 1
            start = time.thread_time()
            try:
                return handle(method, *oauth_out_of_query(url, headers), body)
            finally:
                self.seconds += time.thread_time() - start

        provider.handle = timed


class Bench:
    def __init__(self, fake: Any, meter: CpuMeter) -> None:
        self.fake = fake
        self.meter = meter
        self.numbers = itertools.count(1)
        self.profiler: cProfile.Profile | None = None

    def call(self, function: Callable[[], Any], *, count: bool) -> tuple[Any, Sample]:
        """Run one client call, timing its CPU and (``count``) capturing its SQL."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        fake_before, calls_before = self.meter.seconds, self.meter.calls
        if count:
            with CaptureQueriesContext(connection) as queries:
                start = time.thread_time()
                result = function()
                cpu = time.thread_time() - start
            sql = [query["sql"] for query in queries.captured_queries]
            no_tx = [s for s in sql if not s.lstrip().upper().startswith(TRANSACTION_CONTROL)]
            fake = self.meter.seconds - fake_before
            calls = self.meter.calls - calls_before
            return result, Sample(cpu - fake, fake, calls, len(sql), len(no_tx), sql)
        if self.profiler is not None:
            self.profiler.enable()
        start = time.thread_time()
        result = function()
        cpu = time.thread_time() - start
        if self.profiler is not None:
            self.profiler.disable()
        fake = self.meter.seconds - fake_before
        return result, Sample(cpu - fake, fake, self.meter.calls - calls_before)

    def approve(self, location: str, user_id: str, screen_name: str) -> str:
        """The user at Twitter: approves the request token in ``location`` (Twitter's
        authenticate URL); returns the callback URL Twitter redirects to."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
        (oauth_token,) = query["oauth_token"]
        url: str = self.fake.authorize(oauth_token, user_id=user_id, screen_name=screen_name)
        return url

    def flow(
        self,
        client: Any,
        begin_path: str,
        begin_data: dict[str, str],
        user_id: str,
        screen_name: str,
        *,
        count: bool,
    ) -> Flow:
        # Form-encoded, as a browser posts an HTML form (the sign-in button's): not the
        # test client's default multipart, which no button sends.
        body = urllib.parse.urlencode(begin_data)

        def post() -> Any:
            return client.post(begin_path, body, content_type=FORM)

        response, begin = self.call(post, count=count)
        location = response["Location"]
        if response.status_code != 302 or not location.startswith("https://api.x.com/oauth/"):
            raise SystemExit(f"begin at {begin_path} failed: {response.status_code} {location}")
        callback_url = self.approve(location, user_id, screen_name)
        response, callback = self.call(lambda: client.get(callback_url), count=count)
        if response.status_code != 302:
            raise SystemExit(f"callback failed: {response.status_code}\n{response.content!r}")
        return {"begin": begin, "callback": callback}


def check(condition: bool) -> None:
    """The flow did what it should (a benchmark of a broken flow measures nothing)."""
    if not condition:
        raise SystemExit("A flow did not end as expected; see the traceback.")


def logged_in_as(client: Any) -> Any:
    from django.contrib.auth import SESSION_KEY

    return client.session.get(SESSION_KEY)


class Ours:
    name = "ours"

    def __init__(self, bench: Bench) -> None:
        from django.contrib.auth.models import User

        from django_twitter_oauth.models import AccessToken

        self.bench = bench
        self.linked = User.objects.create_user("ours-linked")
        AccessToken.objects.create(
            user=self.linked,
            twitter_user_id="100",
            screen_name="ours_linked",
            token="100-token",  # noqa: S106
            secret="100-secret",  # noqa: S106
            access_level="read-write",
            app_permission="read-write",
        )

    def run(self, case: str, *, count: bool) -> Flow:
        from django.contrib.auth.models import User
        from django.test import Client

        from django_twitter_oauth.models import AccessToken

        number = next(self.bench.numbers)
        client = Client()
        if case == "sign-in":
            flow = self.bench.flow(client, "/twitter/begin/", {}, "100", "ours_linked", count=count)
            check(logged_in_as(client) == str(self.linked.pk))
            return flow
        twitter_id, screen_name = str(1_000_000 + number), f"ours{number}"
        user = None
        if case == "connect":
            user = User.objects.create_user(f"ours-connect-{number}")
            client.force_login(user)
        flow = self.bench.flow(client, "/twitter/begin/", {}, twitter_id, screen_name, count=count)
        token = AccessToken.objects.select_related("user").get(twitter_user_id=twitter_id)
        if user is None:
            check(token.user.username == screen_name)
        else:
            check(token.user == user)
        check(logged_in_as(client) == str(token.user.pk))
        return flow


class Floor:
    """The hand-written minimum (benchmarks/floor), under ``/floor/``."""

    name = "floor"

    def __init__(self, bench: Bench) -> None:
        from django.contrib.auth.models import User

        from benchmarks.floor.models import TwitterAccount

        self.bench = bench
        self.linked = User.objects.create_user("floor-linked")
        TwitterAccount.objects.create(
            user=self.linked,
            twitter_user_id="300",
            screen_name="floor_linked",
            token="300-token",  # noqa: S106
            secret="300-secret",  # noqa: S106
        )

    def run(self, case: str, *, count: bool) -> Flow:
        from django.contrib.auth.models import User
        from django.test import Client

        from benchmarks.floor.models import TwitterAccount

        number = next(self.bench.numbers)
        client = Client()
        begin = "/floor/begin/"
        if case == "sign-in":
            flow = self.bench.flow(client, begin, {}, "300", "floor_linked", count=count)
            check(logged_in_as(client) == str(self.linked.pk))
            return flow
        twitter_id, screen_name = str(3_000_000 + number), f"floor{number}"
        user = None
        if case == "connect":
            user = User.objects.create_user(f"floor-connect-{number}")
            client.force_login(user)
        flow = self.bench.flow(client, begin, {}, twitter_id, screen_name, count=count)
        account = TwitterAccount.objects.select_related("user").get(twitter_user_id=twitter_id)
        if user is None:
            check(account.user.username == screen_name)
        else:
            check(account.user == user)
        check(logged_in_as(client) == str(account.user.pk))
        return flow


class Allauth:
    name = "allauth"

    def __init__(self, bench: Bench) -> None:
        models = importlib.import_module("allauth.socialaccount.models")
        SocialAccount, SocialApp = models.SocialAccount, models.SocialApp
        from django.conf import settings
        from django.contrib.auth.models import User

        self.bench = bench
        # As a site configures it in the admin: a SocialApp row (no sites framework).
        SocialApp.objects.create(
            provider="twitter",
            name="Twitter",
            client_id=settings.TWITTER_OAUTH_CONSUMER_KEY,
            secret=settings.TWITTER_OAUTH_CONSUMER_SECRET,
        )
        self.linked = User.objects.create_user("allauth-linked")
        SocialAccount.objects.create(
            user=self.linked,
            provider="twitter",
            uid="200",
            extra_data={"id": 200, "screen_name": "allauth_linked"},
        )

    def run(self, case: str, *, count: bool) -> Flow:
        models = importlib.import_module("allauth.socialaccount.models")
        SocialAccount, SocialToken = models.SocialAccount, models.SocialToken
        from django.contrib.auth.models import User
        from django.test import Client

        number = next(self.bench.numbers)
        client = Client()
        begin = "/accounts/twitter/login/"
        if case == "sign-in":
            flow = self.bench.flow(client, begin, {}, "200", "allauth_linked", count=count)
            check(logged_in_as(client) == str(self.linked.pk))
            return flow
        twitter_id, screen_name = str(2_000_000 + number), f"allauth{number}"
        user = None
        data = {}
        if case == "connect":
            user = User.objects.create_user(f"allauth-connect-{number}")
            client.force_login(user)
            data = {"process": "connect"}
        flow = self.bench.flow(client, begin, data, twitter_id, screen_name, count=count)
        account = SocialAccount.objects.select_related("user").get(
            provider="twitter", uid=twitter_id
        )
        if user is None:
            check(account.user.username == screen_name)
        else:
            check(account.user == user)
        check(SocialToken.objects.filter(account=account).exists())
        check(logged_in_as(client) == str(account.user.pk))
        return flow


def database_version() -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        version = connection.pg_version  # type: ignore[attr-defined]
        return f"PostgreSQL {version // 10000}.{version % 10000}"
    import sqlite3

    return f"SQLite {sqlite3.sqlite_version}"


def interleaved(implementations: list[Any], rounds: int) -> Iterator[Any]:
    """Each implementation once per round, the order alternating round by round."""
    for number in range(rounds):
        yield from implementations if number % 2 == 0 else reversed(implementations)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    allauth = args.compare_allauth and importlib.util.find_spec("allauth") is not None
    with tempfile.TemporaryDirectory(prefix="bench-flow-") as tmp:
        setup_django(Path(tmp) / "flow.sqlite3", args.database_url, args.test_database, allauth)
        import django
        from django.db import connection

        from django_twitter_oauth.testing import FakeTwitter

        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        try:
            with FakeTwitter() as fake:
                meter = CpuMeter(fake.provider)
                bench = Bench(fake, meter)
                implementations: list[Any] = [Ours(bench), Floor(bench)]
                if allauth:
                    implementations.append(Allauth(bench))
                results: dict[tuple[str, str], list[Flow]] = {}
                counted: dict[tuple[str, str], list[Flow]] = {}
                for case in args.cases:
                    for implementation in interleaved(implementations, args.warmup):
                        implementation.run(case, count=False)
                    for implementation in interleaved(implementations, args.flows):
                        flow = implementation.run(case, count=False)
                        results.setdefault((case, implementation.name), []).append(flow)
                    for implementation in interleaved(implementations, args.query_runs):
                        flow = implementation.run(case, count=True)
                        counted.setdefault((case, implementation.name), []).append(flow)
                    print(f"  {case}: done", file=sys.stderr)
                if args.profile:
                    bench.profiler = cProfile.Profile(timer=time.thread_time)
                    (profiled,) = (i for i in implementations if i.name == args.profile_site)
                    for case in args.cases:
                        for _ in range(args.flows):
                            profiled.run(case, count=False)
                    bench.profiler.dump_stats(args.profile)
                    bench.profiler = None
                versions = (
                    f"Python {platform.python_version()}, Django {django.get_version()}, "
                    f"{database_version()}"
                )
                if allauth:
                    versions += f", django-allauth {importlib.metadata.version('django-allauth')}"
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)

    report(args, implementations, results, counted, versions, allauth)
    if args.profile:
        site = "this app" if args.profile_site == "ours" else "the floor"
        print(f"\nProfile of {site}'s flows ({', '.join(args.cases)}): {args.profile}")
        pstats.Stats(args.profile).sort_stats("cumulative").print_stats(25)


def summarise(flows: list[Flow], sql_flows: list[Flow], phases: Sequence[str]) -> dict[str, Any]:
    """The figures of one row: statements (None if they varied), calls, CPU (ms)."""
    cpu = [sum(flow[p].cpu for p in phases) * 1000 for flow in flows]
    fake = [sum(flow[p].fake_cpu for p in phases) * 1000 for flow in flows]
    calls = [sum(flow[p].calls for p in phases) for flow in flows]
    statements = [sum(f[p].statements or 0 for p in phases) for f in sql_flows]
    no_tx = [sum(f[p].statements_no_tx or 0 for p in phases) for f in sql_flows]
    return {
        "sql": max(statements) if min(statements) == max(statements) else None,
        "no_tx": max(no_tx) if min(no_tx) == max(no_tx) else None,
        "no_tx_max": max(no_tx),
        "calls": statistics.median(calls),
        "cpu": statistics.median(cpu),
        "p90": percentile(cpu, 0.9),
        "fake": statistics.median(fake),
    }


def number(value: int | None, width: int) -> str:
    return f"{value:>{width}}" if value is not None else f"{'var':>{width}}"


def report(
    args: argparse.Namespace,
    implementations: list[Any],
    results: dict[tuple[str, str], list[Flow]],
    counted: dict[tuple[str, str], list[Flow]],
    versions: str,
    allauth: bool,
) -> None:
    print()
    print("Complete flows through Django's test client against the in-process FakeTwitter")
    print(f"CPU: {cpu_model()} x {os.cpu_count()}")
    print(f"{versions}; database sessions")
    print(
        f"{args.flows} measured flows per case and implementation after {args.warmup} "
        f"warm-up flows; statements counted over {args.query_runs} more"
    )
    if args.compare_allauth and not allauth:
        print("allauth not installed: comparison skipped")
    header = (
        f"{'case':<8} {'impl':<8} {'phase':<8} {'SQL':>4} {'no tx':>5} {'calls':>5} "
        f"{'CPU ms':>7} {'p90':>6} {'fake ms':>7} {'no tx/fl':>8} {'CPU/fl':>6}"
    )
    print()
    print(header)
    print("-" * len(header))
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    for case in args.cases:
        for phase in (*PHASES, "total"):
            phases = PHASES if phase == "total" else (phase,)
            rows = {
                impl.name: summarise(results[(case, impl.name)], counted[(case, impl.name)], phases)
                for impl in implementations
            }
            floor = rows["floor"]
            for name, row in rows.items():
                if phase == "total":
                    totals[(case, name)] = row
                versus = ""
                if name != "floor":
                    extra = row["no_tx_max"] - floor["no_tx_max"]
                    versus = f" {extra:>+8} {row['cpu'] / floor['cpu']:>6.2f}"
                print(
                    f"{case:<8} {name:<8} {phase:<8} {number(row['sql'], 4)} "
                    f"{number(row['no_tx'], 5)} {row['calls']:>5g} {row['cpu']:>7.2f} "
                    f"{row['p90']:>6.2f} {row['fake']:>7.2f}{versus}"
                )
        if allauth:
            ours, theirs = (totals[(case, n)]["cpu"] for n in ("ours", "allauth"))
            print(f"{case:<8} ours / allauth CPU (medians of complete flows): {ours / theirs:.2f}")
    print(
        "SQL: statements (var: they differed between the counted flows); no tx: without "
        "BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE; calls: calls to Twitter (median); "
        "CPU ms: median and p90 of the thread's CPU time per client call, the fake's taken "
        "out; fake ms: the fake's own CPU (median); no tx/fl: statements without "
        "transaction control beyond the floor's; CPU/fl: median CPU over the floor's"
    )
    goals(args.cases, totals)
    if args.show_sql:
        for (case, name), flows in counted.items():
            print(f"\n-- {case}, {name}")
            for phase in PHASES:
                print(f"   {phase}:")
                for statement in flows[-1][phase].sql:
                    print(f"     {statement[:160]}")


def goals(cases: Sequence[str], totals: dict[tuple[str, str], dict[str, Any]]) -> None:
    """This app's complete flows against the floor's: MET or MISSED per goal and case."""
    print()
    print(
        f"Goals (this app's complete flows against the floor's): statements without "
        f"transaction control <= floor + {GOAL_EXTRA_STATEMENTS}; median CPU <= "
        f"{GOAL_CPU_RATIO} x floor"
    )
    header = (
        f"{'case':<8} {'no tx':>5} {'floor':>5} {'limit':>5} {'result':<7}  "
        f"{'CPU ms':>7} {'floor':>6} {'ratio':>5} result"
    )
    print(header)
    print("-" * len(header))
    for case in cases:
        ours, floor = totals[(case, "ours")], totals[(case, "floor")]
        limit = floor["no_tx_max"] + GOAL_EXTRA_STATEMENTS
        statements = "MET" if ours["no_tx_max"] <= limit else "MISSED"
        ratio = ours["cpu"] / floor["cpu"]
        cpu = "MET" if ratio <= GOAL_CPU_RATIO else "MISSED"
        print(
            f"{case:<8} {ours['no_tx_max']:>5} {floor['no_tx_max']:>5} {limit:>5} "
            f"{statements:<7}  {ours['cpu']:>7.2f} {floor['cpu']:>6.2f} {ratio:>5.2f} {cpu}"
        )


if __name__ == "__main__":
    main()
