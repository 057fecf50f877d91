"""Settings for the benchmarks: a minimal site around the app, its admin and its sandbox.

The benchmark scripts set BENCH_DATABASE (an SQLite file) or BENCH_DATABASE_URL (a
PostgreSQL database, as a URL), BENCH_FERNET_KEYS (comma-separated, newest first),
BENCH_API_URL (where the sandbox listens) and BENCH_LATENCY (seconds the sandbox waits
before each answer).
"""

from __future__ import annotations

import os
from typing import Any

import dj_database_url

SECRET_KEY = "benchmarks-secret-key-not-for-production"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

DATABASES: dict[str, Any] = {
    "default": (
        dj_database_url.parse(os.environ["BENCH_DATABASE_URL"])
        if os.environ.get("BENCH_DATABASE_URL")
        else {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("BENCH_DATABASE", "benchmarks.sqlite3"),
            # As a site running the command next to its web server would: writers wait
            # for each other instead of failing to upgrade a read lock.
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30},
        }
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.sessions",
    "django_twitter_oauth",
    "django_twitter_oauth.sandbox",
]
# What the app's checks ask of a site; both are lazy, so the sandbox's API calls do
# not touch the session or user tables. CommonMiddleware, as on most sites, sets
# Content-Length, without which Django's server closes every connection after one answer.
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "django_twitter_oauth.backends.TwitterBackend",
]
ROOT_URLCONF = "benchmarks.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
USE_TZ = True
TIME_ZONE = "UTC"

# The sandbox keeps its state (tokens, nonces, counters) in this cache; locmem's default
# of 300 entries would evict tokens of any real run.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "benchmarks",
        "OPTIONS": {"MAX_ENTRIES": 10_000_000},
    }
}

FERNET_KEYS = os.environ.get("BENCH_FERNET_KEYS", "benchmarks-fernet-key").split(",")

TWITTER_OAUTH_CONSUMER_KEY = "benchmarks-consumer-key"
TWITTER_OAUTH_CONSUMER_SECRET = "benchmarks-consumer-secret"  # noqa: S105
TWITTER_OAUTH_API_URL = os.environ.get("BENCH_API_URL", "http://127.0.0.1:8000/sandbox")
TWITTER_OAUTH_SANDBOX_ALLOWED = True
# The sandbox's state in the cache, not in the SQLite file the command writes to.
TWITTER_OAUTH_SANDBOX_CACHE = "default"
TWITTER_OAUTH_SANDBOX_LATENCY = float(os.environ.get("BENCH_LATENCY", "0"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
