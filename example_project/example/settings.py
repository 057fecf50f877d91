"""Settings of the example site.

Defaults are embedded so that `make demo` runs on a fresh machine: SQLite next to
this file, DEBUG on, a development-only secret. DATABASE_URL switches the database;
TWITTER_OAUTH_CONSUMER_KEY / _SECRET in the environment switch to real Twitter.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-project-development-only")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

DATABASES: dict[str, Any] = {
    "default": dj_database_url.config(default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    # Before the app, so that example/templates/twitter_oauth/base.html overrides its
    # base template: the app's pages (PIN, errors, cancelled) get the site's layout.
    "example",
    "django_twitter_oauth",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example.urls"
WSGI_APPLICATION = "example.wsgi.application"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "django_twitter_oauth.backends.TwitterBackend",
]
# Pages that need a signed-in user send visitors to the home page, where the "Sign in
# with Twitter" button is (staff use /admin/login/ directly). After signing in: the
# profile; after cancelling at Twitter or logging out: a public page.
LOGIN_URL = "home"
LOGIN_REDIRECT_URL = "profile"
LOGOUT_REDIRECT_URL = "home"
# Visitors who sign in with an unlinked Twitter account get a user of their own.
TWITTER_OAUTH_ALLOW_SIGNUP = True
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
                "example.context_processors.twitter_mode",
            ]
        },
    }
]
STATIC_URL = "static/"
# One time zone everywhere (the admin, the pages, the audit trail): UTC, stored and shown.
USE_TZ = True
TIME_ZONE = "UTC"

FERNET_KEYS = [os.environ.get("FERNET_KEY", "example-project-fernet-key-development-only")]

# Real Twitter when both keys are in the environment; otherwise the offline sandbox
# (a fake Twitter served by this site at /sandbox/) with placeholder keys.
USES_REAL_TWITTER = bool(
    os.environ.get("TWITTER_OAUTH_CONSUMER_KEY") and os.environ.get("TWITTER_OAUTH_CONSUMER_SECRET")
)
if USES_REAL_TWITTER:
    TWITTER_OAUTH_CONSUMER_KEY = os.environ["TWITTER_OAUTH_CONSUMER_KEY"]
    TWITTER_OAUTH_CONSUMER_SECRET = os.environ["TWITTER_OAUTH_CONSUMER_SECRET"]
else:
    INSTALLED_APPS.append("django_twitter_oauth.sandbox")
    TWITTER_OAUTH_CONSUMER_KEY = "example-consumer-key"
    TWITTER_OAUTH_CONSUMER_SECRET = "example-consumer-secret"  # noqa: S105
    TWITTER_OAUTH_API_URL = os.environ.get("SANDBOX_URL", "http://127.0.0.1:8000/sandbox")
    # The sandbox keeps its tokens in the database (its migrations), so runserver's
    # autoreload forgets none of them.
# "oob" switches the site to the PIN flow (the begin view then leads to a PIN page).
if os.environ.get("TWITTER_OAUTH_CALLBACK_URL"):
    TWITTER_OAUTH_CALLBACK_URL = os.environ["TWITTER_OAUTH_CALLBACK_URL"]
