"""Bulk revocation against the sandbox over real HTTP: throughput and peak memory.

    .venv/bin/python benchmarks/revoke.py --tokens 1000 --workers 8 --latency 0.05

For each token count and worker count: builds a fresh SQLite database (a file in a
temporary directory) holding N access tokens, which the sandbox (served by a threaded
WSGI server in this process, on 127.0.0.1, waiting ``--latency`` seconds before each
answer) also knows; then runs ``twitter_oauth_revoke --all --noinput --workers W`` as a
subprocess, timing it and sampling its peak RSS (VmHWM in /proc). Afterwards it checks that
every token was revoked exactly once (the sandbox counted N calls and holds none of the
tokens, the database holds no row). Prints median and p90 over ``--repeat`` runs.

The limit is workers / latency: each worker has at most one call in flight, and each
call takes at least the latency. The command's start-up (Django setup, system checks)
is measured apart, with an empty selection, and reported both in and out of the figures.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SETTINGS = "benchmarks.settings"


@dataclass
class Run:
    seconds: float
    peak_rss_mib: float
    #: CPU seconds (user + system) of the command, and of this process (the sandbox).
    command_cpu: float = 0.0
    sandbox_cpu: float = 0.0
    #: Share of the machine's CPU time that was busy during the run (any process).
    machine_busy: float = 0.0

    @property
    def own_share(self) -> float:
        """Share of the machine's CPU time used by the command and the sandbox."""
        return (self.command_cpu + self.sandbox_cpu) / (self.seconds * (os.cpu_count() or 1))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[1000], help="token counts")
    parser.add_argument("--workers", type=int, nargs="+", default=[8], help="worker counts")
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds added to each sandbox answer"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (default 3)")
    parser.add_argument(
        "--batch-size", type=int, default=500, help="the command's --batch-size (default 500)"
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="also run each row once more, unmeasured, under py-spy (pip install py-spy), "
        "sampling the thread holding the GIL; write a flame graph (FILE.svg) or "
        "collapsed stacks (any other name)",
    )
    args = parser.parse_args(argv)
    if min(args.tokens) < 1 or min(args.workers) < 1 or args.repeat < 1 or args.latency < 0:
        parser.error("--tokens, --workers and --repeat must be positive, --latency >= 0")
    return args


def setup_django(database: Path, latency: float) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    os.environ["BENCH_DATABASE"] = str(database)
    os.environ["BENCH_LATENCY"] = str(latency)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def start_sandbox() -> tuple[Any, str]:
    """The sandbox on 127.0.0.1 (a free port), served from threads of this process."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadedWSGIServer):
        # Room for every worker's connection at once (Django's default backlog is 10).
        request_queue_size = 1024

        def get_request(self) -> tuple[socket.socket, Any]:
            connection, address = super().get_request()
            # The handler writes the headers and the body apart: with Nagle's algorithm the
            # body waits for the client's delayed ACK (40 ms) on a kept-alive connection.
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return connection, address

    server = Server(("127.0.0.1", 0), QuietHandler, allow_reuse_address=True)
    server.set_app(WSGIHandler())
    threading.Thread(target=server.serve_forever, name="sandbox", daemon=True).start()
    host, port = server.server_address[:2]
    return server, f"http://{host!s}:{port}/sandbox"


def provider(api_url: str) -> Any:
    from django.conf import settings

    from django_twitter_oauth.testing.provider import FakeProvider
    from django_twitter_oauth.testing.store import CacheStore

    return FakeProvider(
        settings.TWITTER_OAUTH_CONSUMER_KEY,
        settings.TWITTER_OAUTH_CONSUMER_SECRET,
        api_url=api_url,
        store=CacheStore(),
    )


def credentials(number: int) -> tuple[str, str]:
    return f"{number}-benchTOKENbenchTOKEN{number:08d}", f"benchSECRET{number:08d}benchSECRET"


def seed(count: int, sandbox: Any) -> None:
    """``count`` tokens in the database (bulk) and at the sandbox; nothing else."""
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.db import connection

    from django_twitter_oauth.models import AccessToken, TokenEvent

    cache.clear()
    AccessToken.objects.all().delete()
    TokenEvent.objects.all().delete()
    user, _ = User.objects.get_or_create(username="bench")
    batch: list[AccessToken] = []
    for number in range(1, count + 1):
        key, secret = credentials(number)
        sandbox.add_access_token(key, secret, user_id=str(number), screen_name=f"u{number}")
        batch.append(
            AccessToken(
                user=user,
                twitter_user_id=str(number),
                screen_name=f"u{number}",
                token=key,
                secret=secret,
                access_level="read-write",
                app_permission="read-write",
            )
        )
        if len(batch) == 1000:
            AccessToken.objects.bulk_create(batch)
            batch = []
    AccessToken.objects.bulk_create(batch)
    connection.close()  # hold no lock while the command runs


def check(count: int, sandbox: Any, output: str) -> None:
    """Every token revoked exactly once: fail loudly otherwise."""
    from django.db import connection

    from django_twitter_oauth.models import AccessToken, TokenEvent
    from django_twitter_oauth.testing.provider import INVALIDATE_TOKEN

    problems = []
    left = AccessToken.objects.count()
    if left:
        problems.append(f"{left} token(s) left in the database")
    calls = sandbox.store.get("count", INVALIDATE_TOKEN) or 0
    if calls != count:
        problems.append(f"the sandbox got {calls} invalidate_token calls for {count} tokens")
    valid = sum(sandbox.access_token_valid(credentials(n)[0]) for n in range(1, count + 1))
    if valid:
        problems.append(f"{valid} token(s) still valid at the sandbox")
    events = TokenEvent.objects.filter(action="revoked").count()
    if events != count:
        problems.append(f"{events} revoked events for {count} tokens")
    connection.close()
    if problems:
        raise SystemExit("Revocation incomplete: " + "; ".join(problems) + "\n" + output)


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat (zeros elsewhere)."""
    try:
        fields = [int(value) for value in Path("/proc/stat").read_text().split()[1:9]]
    except OSError:
        return 0, 0
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


class PeakRSS(threading.Thread):
    """Samples VmHWM (the peak resident set) of a running process from /proc.

    Not ``ru_maxrss`` from ``wait4``: Linux counts in a child's ru_maxrss the memory of
    the process it was spawned from (its mm before exec), so a child of this script, whose
    sandbox holds every token in memory, would seem to grow with the token count."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.status = Path(f"/proc/{pid}/status")
        self.peak_kib = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                for line in self.status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_kib = max(self.peak_kib, int(line.split()[1]))
            except (OSError, ValueError, IndexError):
                pass
            self.done.wait(0.02)


def run_command(
    argv: list[str], env: dict[str, str], timeout: float, profile: str | None = None
) -> tuple[Run, str]:
    """Run ``python -m django ARGV``; its wall time, its own peak RSS and its output."""
    command = [sys.executable, "-m", "django", *argv, "--settings", SETTINGS]
    if profile:
        py_spy = Path(sys.executable).with_name("py-spy")
        spy = str(py_spy) if py_spy.exists() else "py-spy"
        # A flame graph (.svg), or collapsed stacks (any other name) to read as text.
        style = "flamegraph" if profile.endswith(".svg") else "raw"
        command = [spy, "record", "--gil", "-f", style, "-o", profile, "--", *command]
    with tempfile.TemporaryFile() as log:
        own_start = resource.getrusage(resource.RUSAGE_SELF)
        busy_start, total_start = cpu_times()
        start = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        peak = PeakRSS(process.pid)
        peak.start()
        try:
            # wait4, not wait: the CPU time of this child alone.
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
            peak.done.set()
            peak.join()
        seconds = time.perf_counter() - start
        own = resource.getrusage(resource.RUSAGE_SELF)
        busy, total = cpu_times()
        process.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read().decode(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited with {process.returncode}:\n{output}")
    sandbox_cpu = own.ru_utime + own.ru_stime - own_start.ru_utime - own_start.ru_stime
    run = Run(
        seconds,
        peak.peak_kib / 1024,
        usage.ru_utime + usage.ru_stime,
        sandbox_cpu,
        (busy - busy_start) / max(total - total_start, 1),
    )
    return run, output


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (the p90 of three runs is the slowest)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    import django

    with tempfile.TemporaryDirectory(prefix="bench-revoke-") as tmp:
        database = Path(tmp) / "revoke.sqlite3"
        setup_django(database, args.latency)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        server, api_url = start_sandbox()
        sandbox = provider(api_url)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                path for path in (str(REPO), os.environ.get("PYTHONPATH")) if path
            ),
            "BENCH_API_URL": api_url,
        }
        try:
            # The fixed cost of every run: interpreter, Django setup, system checks.
            startup = [
                run_command(["twitter_oauth_revoke", "--all", "--noinput"], env, 60)[0]
                for _ in range(args.repeat)
            ]
            startup_s = statistics.median(run.seconds for run in startup)
            idle_rss = statistics.median(run.peak_rss_mib for run in startup)
            rows = []
            for tokens, workers in itertools.product(args.tokens, args.workers):
                ideal = tokens * args.latency / workers
                argv = ["twitter_oauth_revoke", "--all", "--noinput", "--workers", str(workers)]
                argv += ["--batch-size", str(args.batch_size)]
                runs = []
                for repeat in range(args.repeat):
                    seed(tokens, sandbox)
                    # Generous: 20 tokens/s at the very least, on top of the ideal time.
                    timeout = 120 + 10 * ideal + tokens / 20
                    run, output = run_command(argv, env, timeout)
                    check(tokens, sandbox, output)
                    runs.append(run)
                    print(
                        f"  {tokens} tokens, {workers} workers, run {repeat + 1}: "
                        f"{run.seconds:.2f} s, {run.peak_rss_mib:.1f} MiB, CPU "
                        f"{run.command_cpu:.2f} s (command) {run.sandbox_cpu:.2f} s (sandbox)",
                        file=sys.stderr,
                    )
                if args.profile:
                    profile = Path(args.profile)
                    if len(args.tokens) * len(args.workers) > 1:
                        profile = profile.with_stem(f"{profile.stem}-{tokens}x{workers}")
                    seed(tokens, sandbox)
                    _, output = run_command(argv, env, 2 * timeout, str(profile.resolve()))
                    check(tokens, sandbox, output)
                    print(f"  profile: {profile}", file=sys.stderr)
                rows.append((tokens, workers, runs))
        finally:
            server.shutdown()
            server.server_close()

    limit_note = "limit = workers / latency" if args.latency else "no latency: no limit"
    print()
    print("twitter_oauth_revoke --all against the sandbox over HTTP on 127.0.0.1")
    print(f"CPU: {cpu_model()} x {os.cpu_count()}")
    print(
        f"Python {platform.python_version()}, Django {django.get_version()}, SQLite "
        f"{sqlite3.sqlite_version}; latency {args.latency * 1000:g} ms; "
        f"{args.repeat} run(s) per row; {limit_note}"
    )
    print(
        f"Command start-up (empty selection): median {startup_s:.2f} s, peak RSS {idle_rss:.1f} MiB"
    )
    header = (
        f"{'tokens':>7} {'workers':>7} {'lat ms':>6} {'median s':>8} {'p90 s':>6} "
        f"{'tok/s':>6} {'limit':>6} {'% lim':>5} {'tok/s*':>6} {'% lim*':>6} "
        f"{'RSS MiB':>7} {'p90 RSS':>7} {'cmd ms/tok':>10} {'sbx ms/tok':>10} "
        f"{'busy %':>6} {'ours %':>6}"
    )
    print(header)
    print("-" * len(header))
    for tokens, workers, runs in rows:
        seconds = [run.seconds for run in runs]
        rss = [run.peak_rss_mib for run in runs]
        median = statistics.median(seconds)
        rate = tokens / median
        steady = tokens / max(median - startup_s, 1e-9)
        limit = workers / args.latency if args.latency else float("inf")
        print(
            f"{tokens:>7} {workers:>7} {args.latency * 1000:>6g} {median:>8.2f} "
            f"{percentile(seconds, 0.9):>6.2f} {rate:>6.0f} {limit:>6.0f} "
            f"{100 * rate / limit:>5.0f} {steady:>6.0f} {100 * steady / limit:>6.0f} "
            f"{statistics.median(rss):>7.1f} {percentile(rss, 0.9):>7.1f} "
            f"{1000 * statistics.median(run.command_cpu for run in runs) / tokens:>10.2f} "
            f"{1000 * statistics.median(run.sandbox_cpu for run in runs) / tokens:>10.2f} "
            f"{100 * statistics.median(run.machine_busy for run in runs):>6.0f} "
            f"{100 * statistics.median(run.own_share for run in runs):>6.0f}"
        )
    print("* without the command's start-up (median of the empty-selection runs)")
    print(
        "cmd/sbx ms/tok: CPU (user + system) per token of the command (start-up included) "
        "and of the sandbox server; busy %: the machine's CPU busy during the runs, any "
        "process; ours %: the share the command and the sandbox used"
    )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(this script, with the sandbox server: peak RSS {own:.1f} MiB)")


if __name__ == "__main__":
    main()
