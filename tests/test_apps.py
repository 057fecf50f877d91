from __future__ import annotations

from django.apps import apps
from django.core import checks

from django_twitter_oauth import checks as app_checks


def test_app_config() -> None:
    config = apps.get_app_config("twitter_oauth")
    assert config.name == "django_twitter_oauth"
    assert type(config).__name__ == "TwitterOAuthConfig"
    assert config.default_auto_field == "django.db.models.BigAutoField"


def test_checks_are_registered() -> None:
    registered = {getattr(check, "__name__", "") for check in checks.registry.registry.get_checks()}
    names = {
        "check_settings",
        "check_encryption",
        "check_sessions",
        "check_sandbox",
        "check_backend",
    }
    assert names <= registered
    for name in names:
        assert getattr(app_checks, name).__name__ == name
