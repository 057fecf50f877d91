"""Settings for the test suite: a mini-project around the app.

SQLite by default; set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)
to run the same suite on PostgreSQL.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import dj_database_url

SECRET_KEY = "tests-secret-key-not-for-production"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]

_database_url = os.environ.get("DATABASE_URL", "")
DATABASES: dict[str, Any] = {
    "default": (
        dj_database_url.parse(_database_url)
        if _database_url
        else {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": ":memory:",
            # The test database is a file rather than SQLite's shared in-memory database,
            # where a second writer fails at once with "table is locked": threads in
            # transactional tests (two callbacks racing) then wait for each other as on a
            # real site. One file per run, removed at the end.
            "TEST": {
                "NAME": os.path.join(
                    tempfile.gettempdir(), f"django-twitter-oauth-tests-{os.getpid()}.sqlite3"
                )
            },
            # BEGIN IMMEDIATE: a transaction takes the write lock first, so it waits
            # for another writer instead of failing to upgrade its read lock.
            "OPTIONS": {"transaction_mode": "IMMEDIATE"},
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

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "django_twitter_oauth.backends.TwitterBackend",
]
LOGIN_REDIRECT_URL = "/profile/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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
STATIC_URL = "static/"
TIME_ZONE = "UTC"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

FERNET_KEYS = ["tests-fernet-key-1"]

TWITTER_OAUTH_CONSUMER_KEY = "tests-consumer-key"
TWITTER_OAUTH_CONSUMER_SECRET = "tests-consumer-secret"  # noqa: S105
# The sandbox is served by tests/urls.py; DEBUG is off here, as in production.
TWITTER_OAUTH_SANDBOX_ALLOWED = True
