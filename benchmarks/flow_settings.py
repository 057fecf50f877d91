"""Settings for benchmarks/flow.py: a small site signing users in with Twitter.

Database-backed sessions. SQLite (a file whose path the script passes in
BENCH_DATABASE) unless BENCH_DATABASE_URL names a PostgreSQL database
(``postgres://user:password@host:port/name``). With BENCH_ALLAUTH=1 (the script sets it
for ``--compare-allauth``) django-allauth and its Twitter provider are installed next to
the app, under ``/accounts/``; allauth itself is never a dependency of this project.
The floor (``benchmarks/floor``, a hand-written minimum) is always installed, under
``/floor/``.

Twitter is the in-process FakeTwitter at ``https://api.x.com``: the URL allauth's
provider has built in, so one fake answers both.
"""

from __future__ import annotations

import os
from typing import Any

import dj_database_url

SECRET_KEY = "benchmarks-secret-key-not-for-production"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["testserver"]

ALLAUTH = os.environ.get("BENCH_ALLAUTH") == "1"


_sqlite = os.environ.get("BENCH_DATABASE", "flow.sqlite3")
DATABASES: dict[str, Any] = {
    "default": (
        # The script creates and drops the test database; it never touches NAME itself.
        {
            **dj_database_url.parse(os.environ["BENCH_DATABASE_URL"]),
            "TEST": {"NAME": os.environ.get("BENCH_TEST_DATABASE", "bench_flow")},
        }
        if os.environ.get("BENCH_DATABASE_URL")
        else {"ENGINE": "django.db.backends.sqlite3", "NAME": _sqlite, "TEST": {"NAME": _sqlite}}
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.sessions",
    "django_twitter_oauth",
    "benchmarks.floor",  # the hand-written minimum, measured next to the app
]
if ALLAUTH:
    INSTALLED_APPS += [
        "allauth",
        "allauth.account",
        "allauth.socialaccount",
        "allauth.socialaccount.providers.twitter",
    ]

SESSION_ENGINE = "django.contrib.sessions.backends.db"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
if ALLAUTH:
    # Required by allauth; cheap on other requests (a SimpleNamespace, a context variable).
    MIDDLEWARE.append("allauth.account.middleware.AccountMiddleware")

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "django_twitter_oauth.backends.TwitterBackend",
    *(["allauth.account.auth_backends.AuthenticationBackend"] if ALLAUTH else []),
]
ROOT_URLCONF = "benchmarks.flow_urls"
LOGIN_REDIRECT_URL = "/"
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

FERNET_KEYS = ["benchmarks-fernet-key"]

TWITTER_OAUTH_CONSUMER_KEY = "benchmarks-consumer-key"
TWITTER_OAUTH_CONSUMER_SECRET = "benchmarks-consumer-secret"  # noqa: S105
TWITTER_OAUTH_API_URL = "https://api.x.com"
TWITTER_OAUTH_ALLOW_SIGNUP = True

# allauth: sign-up completes without a form (no e-mail asked, none verified), and the
# access token is kept, as this app keeps it.
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*"]
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_REQUIRED = False
SOCIALACCOUNT_QUERY_EMAIL = False
SOCIALACCOUNT_STORE_TOKENS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
