"""The one place the app reads its settings.

Every value is read from ``django.conf.settings`` on each access, never cached,
so ``override_settings`` in tests and settings changed at run time just work.
"""

from __future__ import annotations

from typing import TypeVar, cast

from django.conf import settings

__all__ = ["Settings", "app_settings"]
T = TypeVar("T")

DEFAULT_API_URL = "https://api.twitter.com"

#: Twitter's access levels, as sent in the ``x-access-level`` header.
ACCESS_LEVELS = ("read", "read-write", "read-write-directmessages")

#: Values Twitter accepts for ``x_auth_access_type`` on ``oauth/request_token``.
ACCESS_TYPES = ("read", "write")

#: The callback value that selects the PIN (out-of-band) flow. Case-sensitive (RFC 5849).
OOB = "oob"

#: The endpoints TWITTER_OAUTH_VERIFY_ENDPOINT may name: v2 (every tier, the default) and
#: v1.1 (answered with error 453 on X's Free tier).
VERIFY_V2 = "2/users/me"
VERIFY_V1 = "1.1/account/verify_credentials.json"
VERIFY_ENDPOINTS = (VERIFY_V2, VERIFY_V1)

#: X API access tiers the fake Twitter and the sandbox can play (FakeTwitter(tier=...)).
SANDBOX_TIERS = ("free", "basic", "pro")

#: The built-in sign-up (TWITTER_OAUTH_SIGNUP's default).
DEFAULT_SIGNUP = "django_twitter_oauth.signup.default_signup"


def granted_level(app_permission: str, access_type: str | None) -> str:
    """The access level Twitter grants: the app's permission, lowered by the
    ``x_auth_access_type`` asked for (``"read"``, or ``"write"`` for a DM app)."""
    if access_type == "read":
        return "read"
    if access_type == "write" and app_permission == "read-write-directmessages":
        return "read-write"
    return app_permission


def _get(name: str, default: T) -> T:
    """``settings.TWITTER_OAUTH_<name>``, read now (never cached), else ``default``.

    Typed as the default's type: a wrong type in a settings module is the system checks'
    business (checks.py), which report it at start-up.
    """
    return cast(T, getattr(settings, f"TWITTER_OAUTH_{name}", default))


class Settings:
    """Typed accessors for the ``TWITTER_OAUTH_*`` settings, with their defaults."""

    @property
    def CONSUMER_KEY(self) -> str:
        return _get("CONSUMER_KEY", "")

    @property
    def CONSUMER_SECRET(self) -> str:
        return _get("CONSUMER_SECRET", "")

    @property
    def API_URL(self) -> str:
        return _get("API_URL", DEFAULT_API_URL)

    @property
    def CALLBACK_URL(self) -> str | None:
        return _get("CALLBACK_URL", None)

    @property
    def ACCESS_TYPE(self) -> str | None:
        return _get("ACCESS_TYPE", None)

    @property
    def APP_PERMISSION(self) -> str:
        return _get("APP_PERMISSION", "read-write")

    @property
    def SIGN_IN(self) -> bool:
        return _get("SIGN_IN", True)

    @property
    def ALLOW_SIGNUP(self) -> bool:
        return _get("ALLOW_SIGNUP", False)

    @property
    def LOGIN_ON_GET(self) -> bool:
        return _get("LOGIN_ON_GET", False)

    @property
    def REDIRECT_URL(self) -> str:
        return _get("REDIRECT_URL", settings.LOGIN_REDIRECT_URL)

    @property
    def TIMEOUT(self) -> float:
        return _get("TIMEOUT", 10)

    @property
    def REQUEST_TOKEN_TTL(self) -> int:
        return _get("REQUEST_TOKEN_TTL", 900)

    @property
    def RATE_LIMIT_MAX_WAIT(self) -> float:
        return _get("RATE_LIMIT_MAX_WAIT", 900)

    @property
    def VERIFY_ENDPOINT(self) -> str:
        """How a token's user is identified: ``"2/users/me"`` (every tier) or
        ``"1.1/account/verify_credentials.json"`` (not on X's Free tier: error 453)."""
        return _get("VERIFY_ENDPOINT", VERIFY_V2)

    @property
    def REQUEST_EMAIL(self) -> bool:
        """Ask Twitter for the user's email address once per authorization."""
        return _get("REQUEST_EMAIL", False)

    @property
    def SIGNUP(self) -> str:
        """Dotted path to the callable that creates (or refuses) a user at sign-up."""
        return _get("SIGNUP", DEFAULT_SIGNUP)

    @property
    def SANDBOX_ALLOWED(self) -> bool:
        """Serve django_twitter_oauth.sandbox even with DEBUG off (test servers, CI)."""
        return _get("SANDBOX_ALLOWED", False)

    @property
    def SANDBOX_CACHE(self) -> str | None:
        """None: the sandbox keeps its state in the database (kept across restarts);
        a cache alias: in that cache instead."""
        return _get("SANDBOX_CACHE", None)

    @property
    def SANDBOX_TIER(self) -> str:
        """The X API access tier the sandbox plays: ``"free"``, ``"basic"`` or ``"pro"``."""
        return _get("SANDBOX_TIER", "basic")

    @property
    def SANDBOX_LATENCY(self) -> float:
        """Seconds the sandbox waits before answering each API call (0: none)."""
        return _get("SANDBOX_LATENCY", 0)


app_settings = Settings()
