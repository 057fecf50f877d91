"""System checks: refuse bad configuration at start-up, with a fix in every message.

IDs are stable and never reused; docs/checks.rst lists each one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from django.apps import apps as django_apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.utils.module_loading import import_string

from django_twitter_oauth.conf import (
    ACCESS_LEVELS,
    ACCESS_TYPES,
    DEFAULT_SIGNUP,
    OOB,
    SANDBOX_TIERS,
    VERIFY_ENDPOINTS,
    app_settings,
)
from django_twitter_oauth.fields import build_fernet

__all__ = [
    "check_backend",
    "check_deploy",
    "check_encryption",
    "check_sandbox",
    "check_sessions",
    "check_settings",
]

SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"


def check_settings(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name, check_id in (("CONSUMER_KEY", "E001"), ("CONSUMER_SECRET", "E002")):
        value = getattr(app_settings, name)
        if not isinstance(value, str) or not value.strip():
            errors.append(
                Error(
                    f"TWITTER_OAUTH_{name} is missing or empty.",
                    hint=(
                        "Set it to your app's API key or secret from Twitter's developer "
                        "portal (Keys and tokens), for example from an environment variable."
                    ),
                    id=f"twitter_oauth.{check_id}",
                )
            )
    access_type = app_settings.ACCESS_TYPE
    if access_type is not None and access_type not in ACCESS_TYPES:
        errors.append(
            Error(
                f"TWITTER_OAUTH_ACCESS_TYPE is {access_type!r}.",
                hint='Use None (the app\'s own level), "read" or "write".',
                id="twitter_oauth.E003",
            )
        )
    permission = app_settings.APP_PERMISSION
    if permission not in ACCESS_LEVELS:
        errors.append(
            Error(
                f"TWITTER_OAUTH_APP_PERMISSION is {permission!r}.",
                hint="Use the app's permission level as Twitter spells it: "
                + ", ".join(f'"{level}"' for level in ACCESS_LEVELS)
                + ".",
                id="twitter_oauth.E004",
            )
        )
    errors.extend(_check_callback_url(app_settings.CALLBACK_URL))
    if not _is_http_url(app_settings.API_URL):
        errors.append(
            Error(
                f"TWITTER_OAUTH_API_URL is {app_settings.API_URL!r}.",
                hint='Use an absolute http(s) URL without a query, e.g. "https://api.twitter.com".',
                id="twitter_oauth.E006",
            )
        )
    for name, check_id, allow_zero in (
        ("TIMEOUT", "E007", False),
        ("REQUEST_TOKEN_TTL", "E008", False),
        ("RATE_LIMIT_MAX_WAIT", "E009", True),
        ("SANDBOX_LATENCY", "E015", True),
    ):
        value = getattr(app_settings, name)
        if not _is_number(value) or value < 0 or (value == 0 and not allow_zero):
            wanted = "zero or a positive" if allow_zero else "a positive"
            errors.append(
                Error(
                    f"TWITTER_OAUTH_{name} is {value!r}.",
                    hint=f"Use {wanted} number of seconds.",
                    id=f"twitter_oauth.{check_id}",
                )
            )
    for name in ("SIGN_IN", "ALLOW_SIGNUP", "LOGIN_ON_GET", "SANDBOX_ALLOWED"):
        errors.extend(_check_bool(name, "E010"))
    errors.extend(_check_identity_settings())
    return errors


def _check_bool(name: str, check_id: str) -> list[CheckMessage]:
    """TWITTER_OAUTH_<name> is True or False: typed bool, but a settings module may hold
    anything."""
    value: object = getattr(app_settings, name)
    if isinstance(value, bool):
        return []
    return [
        Error(
            f"TWITTER_OAUTH_{name} is {value!r}.",
            hint="Use True or False.",
            id=f"twitter_oauth.{check_id}",
        )
    ]


def _check_identity_settings() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    endpoint = app_settings.VERIFY_ENDPOINT
    if endpoint not in VERIFY_ENDPOINTS:
        errors.append(
            Error(
                f"TWITTER_OAUTH_VERIFY_ENDPOINT is {endpoint!r}.",
                hint=(
                    'Use "2/users/me" (every X API access tier) or '
                    '"1.1/account/verify_credentials.json" (not on the Free tier).'
                ),
                id="twitter_oauth.E018",
            )
        )
    errors.extend(_check_bool("REQUEST_EMAIL", "E019"))
    errors.extend(_check_signup(app_settings.SIGNUP))
    tier = app_settings.SANDBOX_TIER
    if tier not in SANDBOX_TIERS:
        errors.append(
            Error(
                f"TWITTER_OAUTH_SANDBOX_TIER is {tier!r}.",
                hint="Use one of " + ", ".join(f'"{name}"' for name in SANDBOX_TIERS) + ".",
                id="twitter_oauth.E021",
            )
        )
    return errors


def _check_signup(path: object) -> list[CheckMessage]:
    # The built-in is this package's own code, covered by its tests.
    if path == DEFAULT_SIGNUP:
        return []
    problem = ""
    if not isinstance(path, str):
        problem = "is not a dotted path"
    else:
        try:
            target = import_string(path)
        except ImportError:
            problem = "cannot be imported"
        else:
            problem = "" if callable(target) else "is not callable"
    if not problem:
        return []
    return [
        Error(
            f"TWITTER_OAUTH_SIGNUP {problem}: {path!r}.",
            hint=(
                "Use the dotted path of a callable that creates (or refuses) the user at "
                f'sign-up, or leave it unset for the built-in "{DEFAULT_SIGNUP}".'
            ),
            id="twitter_oauth.E020",
        )
    ]


TWITTER_BACKEND = "django_twitter_oauth.backends.TwitterBackend"


def check_backend(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    if app_settings.SIGN_IN is not True:
        return []
    backends = getattr(settings, "AUTHENTICATION_BACKENDS", [])
    if any(_is_twitter_backend(path) for path in backends):
        return []
    return [
        Error(
            f"TWITTER_OAUTH_SIGN_IN is on but {TWITTER_BACKEND} is not in AUTHENTICATION_BACKENDS.",
            hint=(
                f'Add "{TWITTER_BACKEND}" to AUTHENTICATION_BACKENDS (after ModelBackend), '
                "or set TWITTER_OAUTH_SIGN_IN = False to only connect accounts."
            ),
            id="twitter_oauth.E017",
        )
    ]


def _is_twitter_backend(path: str) -> bool:
    from django_twitter_oauth.backends import TwitterBackend

    try:
        cls = import_string(path)
    except ImportError:
        return False
    return isinstance(cls, type) and issubclass(cls, TwitterBackend)


def check_sandbox(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    if not django_apps.is_installed("django_twitter_oauth.sandbox"):
        return []
    errors: list[CheckMessage] = []
    if not settings.DEBUG and app_settings.SANDBOX_ALLOWED is not True:
        errors.append(
            Error(
                "django_twitter_oauth.sandbox is installed and DEBUG is off.",
                hint=(
                    "The sandbox is a fake Twitter that lets anyone sign in as any fake "
                    "user: remove it from INSTALLED_APPS in production. On a test server, "
                    "set TWITTER_OAUTH_SANDBOX_ALLOWED = True."
                ),
                id="twitter_oauth.E014",
            )
        )
    alias = app_settings.SANDBOX_CACHE
    if alias is not None and alias not in settings.CACHES:
        errors.append(
            Error(
                f"TWITTER_OAUTH_SANDBOX_CACHE is {alias!r}, which is not in CACHES.",
                hint="Name a cache alias from CACHES (the sandbox keeps its tokens there).",
                id="twitter_oauth.E016",
            )
        )
    return errors


def _check_callback_url(url: object) -> list[CheckMessage]:
    if url is None or url == OOB:
        return []
    if not isinstance(url, str) or not _is_http_url(url, allow_query=True):
        return [
            Error(
                f"TWITTER_OAUTH_CALLBACK_URL is {url!r}.",
                hint=(
                    'Use None (the callback view\'s absolute URL, built per request), "oob" '
                    "for the PIN flow, or an absolute http(s) URL allow-listed in Twitter's "
                    "developer portal."
                ),
                id="twitter_oauth.E005",
            )
        ]
    if urlsplit(url).query:
        return [
            Warning(
                "TWITTER_OAUTH_CALLBACK_URL has a query string.",
                hint=(
                    "Twitter's developer portal does not accept query strings in allow-listed "
                    "callback URLs; use a URL without one."
                ),
                id="twitter_oauth.W001",
            )
        ]
    return []


def _is_http_url(url: object, *, allow_query: bool = False) -> bool:
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not parts.fragment
        and (allow_query or not parts.query)
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_encryption(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    if getattr(settings, "FERNET_KEYS", None) is None:
        return [
            Warning(
                "FERNET_KEYS is not set: Twitter tokens are encrypted with a key derived "
                "from SECRET_KEY.",
                hint=(
                    "Set FERNET_KEYS to a list of secret keys, newest first. Otherwise "
                    "rotating SECRET_KEY makes every stored token unreadable."
                ),
                id="twitter_oauth.W002",
            )
        ]
    try:
        build_fernet()
    except (TypeError, ValueError) as exc:
        # The exception says which rule the keys break, never the keys themselves.
        return [
            Error(
                f"FERNET_KEYS cannot be used: {type(exc).__name__}.",
                hint=(
                    "Use a non-empty list of key strings, newest first. With "
                    "FERNET_USE_HKDF = False each key must be a Fernet key "
                    "(cryptography.fernet.Fernet.generate_key())."
                ),
                id="twitter_oauth.E011",
            )
        ]
    return []


def check_sessions(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    if not django_apps.is_installed("django.contrib.sessions"):
        errors.append(
            Error(
                "django.contrib.sessions is not in INSTALLED_APPS.",
                hint="The authorization flow keeps its flow keys in the session: add it.",
                id="twitter_oauth.E012",
            )
        )
    if not _has_session_middleware(getattr(settings, "MIDDLEWARE", None) or []):
        errors.append(
            Error(
                f"{SESSION_MIDDLEWARE} is not in MIDDLEWARE.",
                hint="Add it (or a subclass) before AuthenticationMiddleware.",
                id="twitter_oauth.E013",
            )
        )
    return errors


def _has_session_middleware(middleware: Sequence[str]) -> bool:
    session_middleware = import_string(SESSION_MIDDLEWARE)
    for path in middleware:
        try:
            cls = import_string(path)
        except ImportError:
            # Django reports an unimportable middleware itself, at start-up.
            continue
        if isinstance(cls, type) and issubclass(cls, session_middleware):
            return True
    return False


def check_deploy(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Registered with ``deploy=True`` (``manage.py check --deploy``): settings that are
    fine on a test server and dangerous in production."""
    messages: list[CheckMessage] = []
    if (
        django_apps.is_installed("django_twitter_oauth.sandbox")
        and not settings.DEBUG
        and app_settings.SANDBOX_ALLOWED is True
    ):
        messages.append(
            Warning(
                "django_twitter_oauth.sandbox is served with DEBUG off "
                "(TWITTER_OAUTH_SANDBOX_ALLOWED = True).",
                hint=(
                    "The sandbox lets anyone sign in as any fake user. If this is production, "
                    "remove it from INSTALLED_APPS and unset TWITTER_OAUTH_SANDBOX_ALLOWED."
                ),
                id="twitter_oauth.W003",
            )
        )
    api_url = app_settings.API_URL
    if isinstance(api_url, str) and urlsplit(api_url).scheme != "https":
        messages.append(
            Warning(
                f"TWITTER_OAUTH_API_URL is not an https URL: {api_url!r}.",
                hint=(
                    "Tokens, verifiers and signed requests would cross the network in the "
                    'clear: use https, e.g. "https://api.twitter.com".'
                ),
                id="twitter_oauth.W004",
            )
        )
    keys = getattr(settings, "FERNET_KEYS", None)
    if isinstance(keys, list | tuple) and any(_is_blank(key) for key in keys):
        messages.append(
            Error(
                "FERNET_KEYS holds an empty or blank key.",
                hint=(
                    "An empty key encrypts tokens with a key anyone can guess: remove it and "
                    "use long random keys (e.g. cryptography.fernet.Fernet.generate_key())."
                ),
                id="twitter_oauth.E022",
            )
        )
    return messages


def _is_blank(key: object) -> bool:
    if isinstance(key, bytes):
        key = key.decode("utf-8", "replace")
    return isinstance(key, str) and not key.strip()
