"""Settings for the test suite: a mini-project around the app.

SQLite by default; set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)
to run the same suite on PostgreSQL.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from typing import Any

import dj_database_url

SECRET_KEY = "tests-secret-key-not-for-production"
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
# Runs side by side on one PostgreSQL server need test databases of their own.
DATABASES["default"].setdefault("TEST", {}).update(
    {"NAME": os.environ["TEST_DATABASE_NAME"]} if os.environ.get("TEST_DATABASE_NAME") else {}
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.sessions",
    "django_twitter_oauth",
    "django_twitter_oauth.sandbox",
    # Task backends the enqueue path is proven on, with real workers (test_tasks.py).
    "django_tasks_db",
    "django_rq",
    "django_tasks_rq",
    # Django 5.2: the django-tasks backport (Django 6 has django.tasks built in).
    *(["django_tasks"] if importlib.util.find_spec("django.tasks") is None else []),
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
TWITTER_OAUTH_CONSUMER_SECRET = "tests-consumer-secret"
# The sandbox is served by tests/urls.py; DEBUG is off here, as in production.
TWITTER_OAUTH_SANDBOX_ALLOWED = True
# The suite serves the sandbox while subprocesses (commands, task workers) write to the
# same SQLite file, where the sandbox's own writes would make theirs fail with "database
# is locked": it keeps its state in the cache. Its tests (test_sandbox_*.py) use the
# default, the database.
TWITTER_OAUTH_SANDBOX_CACHE = "default"

# Tasks: run in-process by default. The worker subprocesses of test_tasks.py get
# TEST_TASKS_BACKEND=db|rq (the test process switches with override_settings).
# Conditional expressions, not if statements: this file is measured for coverage, and
# only one side of a version or environment switch can run in one process.
_TASKS_MODULE = "django.tasks" if importlib.util.find_spec("django.tasks") else "django_tasks"
TASK_BACKENDS = {
    "immediate": f"{_TASKS_MODULE}.backends.immediate.ImmediateBackend",
    "dummy": f"{_TASKS_MODULE}.backends.dummy.DummyBackend",
    "db": "django_tasks_db.DatabaseBackend",
    "rq": "django_tasks_rq.RQBackend",
}
TASKS = {"default": {"BACKEND": TASK_BACKENDS[os.environ.get("TEST_TASKS_BACKEND", "immediate")]}}
RQ_QUEUES = {"default": {"URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")}}
# Worker subprocesses reach the sandbox served by the test's live server; the test
# process keeps the setting's default (test_conf.py checks it).
globals().update(
    {"TWITTER_OAUTH_API_URL": os.environ["TEST_TWITTER_OAUTH_API_URL"]}
    if os.environ.get("TEST_TWITTER_OAUTH_API_URL")
    else {}
)
