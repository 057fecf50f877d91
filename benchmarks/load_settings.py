"""Settings for benchmarks/load.py: the example project, served as a test server.

The example's own settings (example_project/example/settings.py), with what a load test
on loopback needs changed, and the floor (``benchmarks/floor``) added under ``/floor/``
so that both sites are served by the same server, with the same middleware:

* DEBUG off (DEBUG keeps every statement in memory), the sandbox allowed
  (``TWITTER_OAUTH_SANDBOX_ALLOWED``) and slowed by ``BENCH_LOAD_LATENCY`` seconds per
  API call (``TWITTER_OAUTH_SANDBOX_LATENCY``);
* the database from ``BENCH_LOAD_DATABASE_URL``. SQLite is opened as Django recommends
  for concurrent writers: ``BEGIN IMMEDIATE`` transactions, a 30 s busy timeout, WAL;
* Twitter at ``BENCH_LOAD_API_URL``: the sandbox, served by a second server process
  with a database of its own (it is Twitter's, not the site's); each call's deadline
  (``TWITTER_OAUTH_TIMEOUT``) from ``BENCH_LOAD_TWITTER_TIMEOUT``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import dj_database_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "example_project"))

from example.settings import *  # noqa: F403
from example.settings import INSTALLED_APPS

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = [*INSTALLED_APPS, "benchmarks.floor"]
ROOT_URLCONF = "benchmarks.load_urls"

DATABASES: dict[str, Any] = {
    "default": dj_database_url.parse(os.environ["BENCH_LOAD_DATABASE_URL"])
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

TWITTER_OAUTH_API_URL = os.environ["BENCH_LOAD_API_URL"]
TWITTER_OAUTH_SANDBOX_ALLOWED = True
TWITTER_OAUTH_SANDBOX_LATENCY = float(os.environ.get("BENCH_LOAD_LATENCY", "0"))
# The deadline of each call to Twitter (benchmarks/load.py --twitter-timeout).
TWITTER_OAUTH_TIMEOUT = float(os.environ.get("BENCH_LOAD_TWITTER_TIMEOUT", "10"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    # Why a call to Twitter failed (a deadline, a refused connection) goes into the log
    # that load.py prints when a row has errors.
    "loggers": {"django_twitter_oauth.client": {"level": "INFO"}},
}
