"""Settings for the test suite: a mini-project around the app.

SQLite in memory by default; set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)
to run the same suite on PostgreSQL.
"""

from __future__ import annotations

import os
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
        else {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
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
