"""Complete sign-ins per second under load, over real HTTP, against a slow sandbox.

    .venv/bin/python benchmarks/load.py
    .venv/bin/python benchmarks/load.py --browsers 8 32 --duration 20 --servers gunicorn

Serves the example project (settings: benchmarks/load_settings.py, which adds the floor
site under ``/floor/``) with gunicorn (gthread workers, WSGI) and, in turn, with uvicorn
(ASGI, benchmarks/load_asgi.py), on 127.0.0.1. Twitter is the sandbox
(django_twitter_oauth.sandbox), served by a second process (gunicorn, one gthread worker,
a database of its own) and answering every API call after ``--latency`` seconds.

N simulated browsers (threads of this script, each a ``requests.Session`` whose cookies
are cleared between sign-ins) sign in over and over: ``GET`` the home page (the CSRF
token), ``POST`` begin, ``GET`` the sandbox's authorize page, ``POST`` the approval (as
the browser's own fake Twitter user), ``GET`` the callback, ``GET`` the logged-in page.
Every account was signed up beforehand, so each measured flow is the sign-in of a linked
account. For each server, site (this app, the floor) and N: complete sign-ins per
second, p50/p99 of each request, errors (any unexpected answer), and the CPU the
servers used per sign-in. Bounded: each row runs ``--ramp`` + ``--duration`` seconds
and at most ``--max-signins`` sign-ins; every request times out after ``--timeout``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from revoke import cpu_model, percentile

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SERVERS = ("gunicorn", "uvicorn")
SITES = {
    # site: (home page, begin URL, extra begin fields, logged-in page)
    "ours": ("/", "/twitter/begin/", {"next": "/profile/"}, "/profile/"),
    "floor": ("/floor/", "/floor/begin/", {}, "/floor/"),
}
REQUESTS = ("home", "begin", "authorize", "approve", "callback", "landing")
#: Seconds a server keeps an idle connection open: nginx's default. At 128 browsers a
#: browser's connection to a server can idle for seconds between two of its requests;
#: with gunicorn's and uvicorn's default (2 and 5 s) the server closes it meanwhile,
#: and a close racing the browser's next request on it resets that request.
KEEP_ALIVE = "75"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--browsers", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=list(SERVERS))
    parser.add_argument("--sites", nargs="+", choices=list(SITES), default=list(SITES))
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per row")
    parser.add_argument("--ramp", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--max-signins", type=int, default=20_000, help="per row, at most")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    parser.add_argument("--latency", type=float, default=0.15, help="per Twitter call, seconds")
    parser.add_argument(
        "--twitter-timeout",
        type=float,
        default=30.0,
        help="the site's TWITTER_OAUTH_TIMEOUT, seconds: as long as a browser waits "
        "(--timeout), since the sandbox shares the machine's cores and slows down with the "
        "load, which Twitter would not; the floor's calls have no deadline at all",
    )
    parser.add_argument("--workers", type=int, default=2, help="server processes (both servers)")
    parser.add_argument("--threads", type=int, default=32, help="gunicorn threads per worker")
    parser.add_argument(
        "--database-url",
        default="",
        help="postgres://user@host:port/name: the site's database on PostgreSQL (a scratch "
        "database bench_load_<pid> created on that server and dropped at the end) "
        "instead of a SQLite file; the sandbox keeps its own SQLite file",
    )
    args = parser.parse_args(argv)
    if min(args.browsers) < 1 or args.duration <= 0 or args.ramp < 0 or args.workers < 1:
        parser.error("--browsers, --duration and --workers must be positive, --ramp >= 0")
    return args


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 (held open together, so they differ)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def server_env(
    database_url: str, api_url: str, latency: float, twitter_timeout: float
) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TWITTER_OAUTH_", "DJANGO_", "DATABASE_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="benchmarks.load_settings",
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "example_project")]),
        BENCH_LOAD_DATABASE_URL=database_url,
        BENCH_LOAD_API_URL=api_url,
        BENCH_LOAD_LATENCY=str(latency),
        BENCH_LOAD_TWITTER_TIMEOUT=str(twitter_timeout),
    )
    return env


def django_admin(env: dict[str, str], *command: str) -> None:
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "django", *command], env=env, cwd=REPO, check=True
    )


class Server:
    """A server process on 127.0.0.1 (and its workers), its log in a file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603
                command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_ready(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(url, timeout=2).status_code < 500:
                    return
            time.sleep(0.2)
        raise SystemExit(
            f"{self.name} not ready after {timeout} s:\n{self.log.read_text()[-3000:]}"
        )

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the server process and its direct children."""
        return tree_cpu(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def tree_cpu(pid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state (field 3); ppid is field 4, utime 14, stime 15.
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def app_server(
    kind: str, port: int, env: dict[str, str], args: argparse.Namespace, log: Path
) -> Server:
    bind = f"127.0.0.1:{port}"
    if kind == "gunicorn":
        command = [
            str(BIN / "gunicorn"),
            "--worker-class", "gthread",
            "--workers", str(args.workers),
            "--threads", str(args.threads),
            "--bind", bind,
            "--backlog", "2048",
            "--keep-alive", KEEP_ALIVE,
            "--log-level", "warning",
            "django.core.wsgi:get_wsgi_application()",
        ]  # fmt: skip
    else:
        command = [
            str(BIN / "uvicorn"),
            "--host", "127.0.0.1",
            "--port", str(port),
            "--workers", str(args.workers),
            "--backlog", "2048",
            "--timeout-keep-alive", KEEP_ALIVE,
            "--no-access-log",
            "--log-level", "warning",
            "benchmarks.load_asgi:application",
        ]  # fmt: skip
    return Server(kind, command, env, log)


def sandbox_server(port: int, env: dict[str, str], log: Path) -> Server:
    """One process (the sandbox keeps its tokens in a local-memory cache), many threads:
    one per request in flight, at most a browser's and an app thread's per browser."""
    command = [
        str(BIN / "gunicorn"),
        "--worker-class", "gthread",
        "--workers", "1",
        "--threads", "300",
        "--bind", f"127.0.0.1:{port}",
        "--backlog", "2048",
        "--keep-alive", KEEP_ALIVE,
        "--log-level", "warning",
        "django.core.wsgi:get_wsgi_application()",
    ]  # fmt: skip
    return Server("sandbox", command, env, log)


@dataclass
class Row:
    """What the browsers saw in one row."""

    requests: list[tuple[str, float, float]] = field(default_factory=list)  # type, end, seconds
    signins: list[float] = field(default_factory=list)  # end times
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: int = 0


class Browser:
    def __init__(self, number: int, site: str, app_url: str, timeout: float, row: Row) -> None:
        self.screen_name = f"{site}{number}"  # the floor and this app share auth_user
        self.site = site
        self.app_url = app_url
        self.timeout = timeout
        self.row = row
        self.session = requests.Session()

    def request(self, kind: str, method: str, url: str, expect: int, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            response = self.session.request(
                method, url, timeout=self.timeout, allow_redirects=False, **kwargs
            )
        except requests.RequestException as exc:
            raise AssertionError(f"{kind}: {type(exc).__name__}: {exc}") from exc
        end = time.monotonic()
        self.row.requests.append((kind, end, end - start))
        if response.status_code != expect:
            raise AssertionError(f"{kind}: {response.status_code} {response.text[:200]!r}")
        return response

    def sign_in(self) -> None:
        home, begin, extra, landing = SITES[self.site]
        self.session.cookies.clear()
        page = self.request("home", "GET", self.app_url + home, 200)
        (csrf,) = CSRF_FIELD.findall(page.text)[:1]
        answer = self.request(
            "begin", "POST", self.app_url + begin, 302, data={"csrfmiddlewaretoken": csrf, **extra}
        )
        authorize_url = answer.headers["Location"]
        page = self.request("authorize", "GET", authorize_url, 200)
        (csrf,) = CSRF_FIELD.findall(page.text)[:1]
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(authorize_url).query)["oauth_token"][0]
        decide = urllib.parse.urljoin(authorize_url, "decide")
        data = {
            "csrfmiddlewaretoken": csrf,
            "oauth_token": token,
            "screen_name": self.screen_name,
            "authorize": "1",
        }
        answer = self.request("approve", "POST", decide, 302, data=data)
        answer = self.request("callback", "GET", answer.headers["Location"], 302)
        target = urllib.parse.urljoin(self.app_url + begin, answer.headers["Location"])
        if urllib.parse.urlsplit(target).path != landing:
            raise AssertionError(f"callback sent the browser to {target}")
        page = self.request("landing", "GET", target, 200)
        if self.screen_name not in page.text:
            raise AssertionError("the landing page does not show the signed-in user")

    def run(self, stop_at: float, limit: int, once: bool) -> None:
        while time.monotonic() < stop_at:
            with self.row.lock:
                if self.row.started >= limit:
                    return
                self.row.started += 1
            try:
                self.sign_in()
            except (requests.RequestException, AssertionError, KeyError, ValueError) as exc:
                self.row.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            else:
                self.row.signins.append(time.monotonic())
            if once:
                return


def drive(
    site: str, app_url: str, browsers: int, seconds: float, limit: int, timeout: float, once: bool
) -> Row:
    """``browsers`` threads sign in until ``seconds`` have passed (or each once)."""
    row = Row()
    stop_at = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=Browser(number, site, app_url, timeout, row).run,
            args=(stop_at, limit, once),
            daemon=True,
        )
        for number in range(browsers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        # A sign-in is six requests; none waits more than ``timeout``.
        thread.join(max(0.0, stop_at - time.monotonic()) + 6 * timeout + 5)
        if thread.is_alive():
            row.errors.append("a browser was still running after its time was up")
    return row


def measure(
    site: str,
    app_url: str,
    browsers: int,
    args: argparse.Namespace,
    servers: Sequence[Server],
) -> dict[str, Any]:
    cpu_before = [server.cpu_seconds() for server in servers]
    busy_before = machine_busy()
    client_before = time.process_time()
    start = time.monotonic()
    row = drive(
        site,
        app_url,
        browsers,
        args.ramp + args.duration,
        args.max_signins,
        args.timeout,
        once=False,
    )
    elapsed = time.monotonic() - start
    busy_after = machine_busy()
    client_cpu = time.process_time() - client_before
    pairs = zip(servers, cpu_before, strict=True)
    cpu = [server.cpu_seconds() - before for server, before in pairs]
    window = (start + args.ramp, start + args.ramp + args.duration)
    done = [end for end in row.signins if window[0] <= end <= window[1]]
    total = len(row.signins) or 1
    latencies = {
        kind: [s * 1000 for k, end, s in row.requests if k == kind and window[0] <= end]
        for kind in REQUESTS
    }
    return {
        "rate": len(done) / args.duration,
        "signins": len(row.signins),
        "errors": row.errors,
        "latency": {
            kind: (statistics.median(v), percentile(v, 0.99)) if v else (0.0, 0.0)
            for kind, v in latencies.items()
        },
        "app_ms": cpu[0] * 1000 / total,
        "sandbox_ms": cpu[1] * 1000 / total,
        "client_ms": client_cpu * 1000 / total,
        "busy": 100 * (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1]),
        "elapsed": elapsed,
    }


@contextlib.contextmanager
def site_database(database_url: str, tmp: Path) -> Iterator[str]:
    """The site's database: a SQLite file, or a scratch PostgreSQL database."""
    if not database_url:
        yield f"sqlite:///{tmp / 'site.sqlite3'}"
        return
    import psycopg

    parts = urllib.parse.urlsplit(database_url)
    name = f"bench_load_{os.getpid()}"
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    try:
        yield parts._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def versions(database_url: str) -> str:
    import django

    database = f"SQLite {sqlite3.sqlite_version}"
    if database_url:
        import psycopg

        with psycopg.connect(database_url) as connection:
            version = connection.info.server_version
            database = f"PostgreSQL {version // 10000}.{version % 10000}"
    return (
        f"Python {platform.python_version()}, Django {django.get_version()}, {database}, "
        f"gunicorn {importlib.metadata.version('gunicorn')}, "
        f"uvicorn {importlib.metadata.version('uvicorn')}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    for tool in ("gunicorn", "uvicorn"):
        if not (BIN / tool).exists() and not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed in {BIN} (pip install -e '.[test]')")
    accounts = max(args.browsers)
    results: list[tuple[str, str, int, dict[str, Any]]] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-load-") as tmp_name,
        site_database(args.database_url, Path(tmp_name)) as site_url,
    ):
        tmp = Path(tmp_name)
        # Before the run: a venv changed meanwhile must not lose the figures at the end.
        about = versions(site_url if args.database_url else "")
        sandbox_port, app_port = free_ports(2)
        sandbox_url = f"http://127.0.0.1:{sandbox_port}/sandbox/"
        app_url = f"http://127.0.0.1:{app_port}"
        env = server_env(site_url, sandbox_url, args.latency, args.twitter_timeout)
        sandbox_env = server_env(
            f"sqlite:///{tmp / 'sandbox.sqlite3'}", sandbox_url, args.latency, args.twitter_timeout
        )
        django_admin(env, "migrate", "--noinput", "-v", "0")
        django_admin(sandbox_env, "migrate", "--noinput", "-v", "0")
        sandbox = sandbox_server(sandbox_port, sandbox_env, tmp / "sandbox.log")
        try:
            sandbox.wait_ready(sandbox_url)
            signed_up = False
            for kind in args.servers:
                server = app_server(kind, app_port, env, args, tmp / f"{kind}.log")
                try:
                    server.wait_ready(app_url + "/")
                    if not signed_up:
                        # Sign every account up once, so each measured flow is a sign-in.
                        for site in args.sites:
                            row = drive(
                                site, app_url, accounts, 600, accounts, args.timeout, once=True
                            )
                            if row.errors or len(row.signins) != accounts:
                                raise SystemExit(
                                    f"sign-up of the accounts failed: {row.errors[:3]}\n"
                                    + server.log.read_text()[-3000:]
                                    + sandbox.log.read_text()[-3000:]
                                )
                        signed_up = True
                    for site in args.sites:  # warm the workers up
                        drive(
                            site, app_url, min(args.browsers), 2, 10_000, args.timeout, once=False
                        )
                    for site in args.sites:
                        for browsers in args.browsers:
                            figures = measure(site, app_url, browsers, args, (server, sandbox))
                            results.append((kind, site, browsers, figures))
                            print(
                                f"  {kind} {site} {browsers}: {figures['rate']:.1f}/s, "
                                f"{len(figures['errors'])} errors",
                                file=sys.stderr,
                            )
                finally:
                    server.stop()
                errors = [line for line in server.log.read_text().splitlines() if line.strip()]
                if any(figures["errors"] for k, _, _, figures in results if k == kind):
                    print(f"\n{kind} log (tail):\n" + "\n".join(errors[-20:]), file=sys.stderr)
        finally:
            sandbox.stop()
    report(args, results, about)


def report(
    args: argparse.Namespace, results: list[tuple[str, str, int, dict[str, Any]]], about: str
) -> None:
    print()
    print("Complete sign-ins over HTTP on 127.0.0.1 against the sandbox")
    print(f"CPU: {cpu_model()} x {os.cpu_count()}")
    print(about)
    print(
        f"Sandbox latency {args.latency * 1000:.0f} ms per Twitter call, the site's "
        f"deadline {args.twitter_timeout:g} s (TWITTER_OAUTH_TIMEOUT); {args.workers} "
        f"server workers (gunicorn: gthread, {args.threads} threads each); sandbox: a "
        f"second process (gunicorn, one gthread worker); {args.duration:g} s measured per "
        f"row after {args.ramp:g} s; the site's database: "
        f"{'PostgreSQL' if args.database_url else 'SQLite (WAL, BEGIN IMMEDIATE)'}"
    )
    header = (
        f"{'server':<9} {'site':<6} {'N':>4} {'sign-ins/s':>10} {'errors':>6} "
        f"{'app ms':>6} {'sbx ms':>6} {'cli ms':>6} {'busy %':>6}"
    )
    print()
    print(header)
    print("-" * len(header))
    for kind, site, browsers, figures in results:
        print(
            f"{kind:<9} {site:<6} {browsers:>4} {figures['rate']:>10.1f} "
            f"{len(figures['errors']):>6} {figures['app_ms']:>6.1f} "
            f"{figures['sandbox_ms']:>6.1f} {figures['client_ms']:>6.1f} {figures['busy']:>6.0f}"
        )
    print(
        "sign-ins/s: complete sign-ins ending in the measured window, per second; errors: "
        "failed sign-ins (any unexpected answer; must be 0); app ms, sbx ms, cli ms: CPU "
        "time per sign-in of the site's server, the sandbox's and the browsers' (this "
        "script); busy %: all CPUs of the machine, any process"
    )
    print()
    header = f"{'server':<9} {'site':<6} {'N':>4} " + " ".join(f"{k:>13}" for k in REQUESTS)
    print(header)
    print("-" * len(header))
    for kind, site, browsers, figures in results:
        cells = " ".join(f"{'{:.0f}/{:.0f}'.format(*figures['latency'][k]):>13}" for k in REQUESTS)
        print(f"{kind:<9} {site:<6} {browsers:>4} {cells}")
    print(
        "p50/p99 of each request in milliseconds, as the browsers saw it: home (the CSRF "
        "token), begin (one Twitter call), authorize and approve (the sandbox's pages), "
        "callback (one Twitter call, the sign-in), landing (the logged-in page)"
    )
    errors = [error for _, _, _, figures in results for error in figures["errors"]]
    if errors:
        print(f"\n{len(errors)} errors; the first ones:")
        for error in errors[:10]:
            print(f"  {error}")


if __name__ == "__main__":
    main()
