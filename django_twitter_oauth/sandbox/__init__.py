"""An offline Twitter for local development: the fake provider served over HTTP.

Add ``"django_twitter_oauth.sandbox"`` to INSTALLED_APPS, include its URLs at a
prefix and point TWITTER_OAUTH_API_URL there::

    path("sandbox/", include("django_twitter_oauth.sandbox.urls")),
    TWITTER_OAUTH_API_URL = "http://127.0.0.1:8000/sandbox"

Never in production: system check ``twitter_oauth.E014`` refuses it when DEBUG is
off, unless TWITTER_OAUTH_SANDBOX_ALLOWED is True.
"""
