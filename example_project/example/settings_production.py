"""Production settings of the example site: what a real deployment changes.

``DJANGO_SETTINGS_MODULE=example.settings_production``. Nothing secret is embedded: the
Django secret key, the Fernet keys and Twitter's consumer key and secret come from the
environment, and a missing one stops the start-up with its name (a KeyError), never a
silent development default. Served over HTTPS only; the offline sandbox is not installed.
CI runs ``manage.py check --deploy --fail-level WARNING`` on this module.
"""

from __future__ import annotations

import os

from example.settings import *  # noqa: F403

DEBUG = False
SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
ALLOWED_HOSTS = os.environ["DJANGO_ALLOWED_HOSTS"].split(",")

# Comma-separated, newest first: prepend a key, run twitter_oauth_rotate_keys, then drop
# the old one (docs/models.rst).
FERNET_KEYS = os.environ["FERNET_KEYS"].split(",")
TWITTER_OAUTH_CONSUMER_KEY = os.environ["TWITTER_OAUTH_CONSUMER_KEY"]
# With both keys in the environment, example.settings already chose real Twitter and
# left the sandbox out.
TWITTER_OAUTH_CONSUMER_SECRET = os.environ["TWITTER_OAUTH_CONSUMER_SECRET"]

# HTTPS everywhere: the session holds the pending authorization's flow key.
SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
