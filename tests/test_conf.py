from __future__ import annotations

from pathlib import Path

import pytest
from django.test import override_settings
from pytest_django import Settings

from django_twitter_oauth import conf
from django_twitter_oauth.conf import app_settings

DEFAULTS = {
    "API_URL": "https://api.twitter.com",
    "CALLBACK_URL": None,
    "ACCESS_TYPE": None,
    "APP_PERMISSION": "read-write",
    "SIGN_IN": True,
    "ALLOW_SIGNUP": False,
    "LOGIN_ON_GET": False,
    "TIMEOUT": 10,
    "REQUEST_TOKEN_TTL": 900,
    "RATE_LIMIT_MAX_WAIT": 900,
    "SANDBOX_CACHE": "default",
    "SANDBOX_LATENCY": 0,
    "VERIFY_ENDPOINT": "2/users/me",
    "REQUEST_EMAIL": False,
    "SANDBOX_TIER": "basic",
}


@pytest.mark.parametrize(("name", "default"), DEFAULTS.items())
def test_defaults(name: str, default: object) -> None:
    assert getattr(app_settings, name) == default


def test_signup_defaults_to_the_built_in(settings: Settings) -> None:
    # Unset here: the custom user model's project shape sets its own.
    del settings.TWITTER_OAUTH_SIGNUP
    assert app_settings.SIGNUP == "django_twitter_oauth.signup.default_signup"


def test_consumer_settings_default_to_empty(settings: object) -> None:
    del settings.TWITTER_OAUTH_CONSUMER_KEY  # type: ignore[attr-defined]
    del settings.TWITTER_OAUTH_CONSUMER_SECRET  # type: ignore[attr-defined]
    assert app_settings.CONSUMER_KEY == ""
    assert app_settings.CONSUMER_SECRET == ""


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CONSUMER_KEY", "key"),
        ("CONSUMER_SECRET", "secret"),
        ("API_URL", "https://api.x.com"),
        ("CALLBACK_URL", "oob"),
        ("ACCESS_TYPE", "read"),
        ("APP_PERMISSION", "read"),
        ("SIGN_IN", False),
        ("ALLOW_SIGNUP", True),
        ("LOGIN_ON_GET", True),
        ("REDIRECT_URL", "/profile/"),
        ("TIMEOUT", 2.5),
        ("REQUEST_TOKEN_TTL", 60),
        ("RATE_LIMIT_MAX_WAIT", 0),
        ("SANDBOX_ALLOWED", False),
        ("SANDBOX_CACHE", "sandbox"),
        ("SANDBOX_LATENCY", 0.05),
    ],
)
def test_settings_are_read_on_every_access(name: str, value: object) -> None:
    with override_settings(**{f"TWITTER_OAUTH_{name}": value}):
        assert getattr(app_settings, name) == value


def test_redirect_url_follows_login_redirect_url() -> None:
    with override_settings(LOGIN_REDIRECT_URL="/welcome/"):
        assert app_settings.REDIRECT_URL == "/welcome/"


def test_sandbox_allowed_defaults_to_false(settings: object) -> None:
    del settings.TWITTER_OAUTH_SANDBOX_ALLOWED  # type: ignore[attr-defined]
    assert app_settings.SANDBOX_ALLOWED is False


def test_every_setting_is_read_on_each_access() -> None:
    # Never cached: override_settings (and settings changed at run time) just work.
    for name in (*DEFAULTS, "CONSUMER_KEY", "CONSUMER_SECRET", "REDIRECT_URL"):
        with override_settings(**{f"TWITTER_OAUTH_{name}": "changed"}):
            assert getattr(app_settings, name) == "changed"


def test_conf_needs_no_type_ignores() -> None:
    source = Path(conf.__file__).read_text()
    assert "type: " + "ignore" not in source
