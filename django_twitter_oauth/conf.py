"""The one place the app reads its settings.

Every value is read from ``django.conf.settings`` on each access, never cached,
so ``override_settings`` in tests and settings changed at run time just work.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

__all__ = ["Settings", "app_settings"]

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


def _get(name: str, default: Any) -> Any:
    return getattr(settings, f"TWITTER_OAUTH_{name}", default)


class Settings:
    """Typed accessors for the ``TWITTER_OAUTH_*`` settings, with their defaults."""

    @property
    def CONSUMER_KEY(self) -> str:
        return _get("CONSUMER_KEY", "")  # type: ignore[no-any-return]

    @property
    def CONSUMER_SECRET(self) -> str:
        return _get("CONSUMER_SECRET", "")  # type: ignore[no-any-return]

    @property
    def API_URL(self) -> str:
        return _get("API_URL", DEFAULT_API_URL)  # type: ignore[no-any-return]

    @property
    def CALLBACK_URL(self) -> str | None:
        return _get("CALLBACK_URL", None)  # type: ignore[no-any-return]

    @property
    def ACCESS_TYPE(self) -> str | None:
        return _get("ACCESS_TYPE", None)  # type: ignore[no-any-return]

    @property
    def APP_PERMISSION(self) -> str:
        return _get("APP_PERMISSION", "read-write")  # type: ignore[no-any-return]

    @property
    def SIGN_IN(self) -> bool:
        return _get("SIGN_IN", True)  # type: ignore[no-any-return]

    @property
    def ALLOW_SIGNUP(self) -> bool:
        return _get("ALLOW_SIGNUP", False)  # type: ignore[no-any-return]

    @property
    def LOGIN_ON_GET(self) -> bool:
        return _get("LOGIN_ON_GET", False)  # type: ignore[no-any-return]

    @property
    def REDIRECT_URL(self) -> str:
        return _get("REDIRECT_URL", settings.LOGIN_REDIRECT_URL)  # type: ignore[no-any-return]

    @property
    def TIMEOUT(self) -> float:
        return _get("TIMEOUT", 10)  # type: ignore[no-any-return]

    @property
    def REQUEST_TOKEN_TTL(self) -> int:
        return _get("REQUEST_TOKEN_TTL", 900)  # type: ignore[no-any-return]

    @property
    def RATE_LIMIT_MAX_WAIT(self) -> float:
        return _get("RATE_LIMIT_MAX_WAIT", 900)  # type: ignore[no-any-return]

    @property
    def VERIFY_ENDPOINT(self) -> str:
        """How a token's user is identified: ``"2/users/me"`` (every tier) or
        ``"1.1/account/verify_credentials.json"`` (not on X's Free tier: error 453)."""
        return _get("VERIFY_ENDPOINT", VERIFY_V2)  # type: ignore[no-any-return]

    @property
    def REQUEST_EMAIL(self) -> bool:
        """Ask Twitter for the user's email address once per authorization."""
        return _get("REQUEST_EMAIL", False)  # type: ignore[no-any-return]

    @property
    def SIGNUP(self) -> str:
        """Dotted path to the callable that creates (or refuses) a user at sign-up."""
        return _get("SIGNUP", DEFAULT_SIGNUP)  # type: ignore[no-any-return]

    @property
    def SANDBOX_ALLOWED(self) -> bool:
        """Serve django_twitter_oauth.sandbox even with DEBUG off (test servers, CI)."""
        return _get("SANDBOX_ALLOWED", False)  # type: ignore[no-any-return]

    @property
    def SANDBOX_CACHE(self) -> str | None:
        """None: the sandbox keeps its state in the database (kept across restarts);
        a cache alias: in that cache instead."""
        return _get("SANDBOX_CACHE", None)  # type: ignore[no-any-return]

    @property
    def SANDBOX_TIER(self) -> str:
        """The X API access tier the sandbox plays: ``"free"``, ``"basic"`` or ``"pro"``."""
        return _get("SANDBOX_TIER", "basic")  # type: ignore[no-any-return]

    @property
    def SANDBOX_LATENCY(self) -> float:
        """Seconds the sandbox waits before answering each API call (0: none)."""
        return _get("SANDBOX_LATENCY", 0)  # type: ignore[no-any-return]


app_settings = Settings()
