from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.checks import CheckMessage, Error, Warning
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_twitter_oauth import checks
from django_twitter_oauth.backends import TwitterBackend

ROOT = Path(__file__).resolve().parent.parent


def ids(messages: list[CheckMessage]) -> list[str]:
    return [str(message.id) for message in messages]


def test_good_settings_have_no_messages() -> None:
    assert checks.check_settings() == []
    assert checks.check_encryption() == []
    assert checks.check_sessions() == []
    assert checks.check_sandbox() == []


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("TWITTER_OAUTH_VERIFY_ENDPOINT", "1.1/account/verify_credentials.json"),
        ("TWITTER_OAUTH_REQUEST_EMAIL", True),
        ("TWITTER_OAUTH_SIGNUP", "django.contrib.auth.get_user_model"),
        ("TWITTER_OAUTH_SANDBOX_TIER", "free"),
        ("TWITTER_OAUTH_SANDBOX_TIER", "pro"),
    ],
)
def test_good_identity_settings(setting: str, value: object) -> None:
    with override_settings(**{setting: value}):
        assert checks.check_settings() == []


def test_manage_py_check_passes_on_good_settings() -> None:
    call_command("check", fail_level="WARNING")


@pytest.mark.slow
def test_manage_py_check_subprocess(tmp_path: Path) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    good = subprocess.run(
        [sys.executable, "-m", "django", "check", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    assert "no issues" in good.stdout

    # A settings module of the site's, with the consumer key left empty.
    (tmp_path / "bad_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\nTWITTER_OAUTH_CONSUMER_KEY = ''\n"
    )
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{tmp_path}"
    env["DJANGO_SETTINGS_MODULE"] = "bad_settings"
    bad = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "twitter_oauth.E001" in bad.stderr
    assert "TWITTER_OAUTH_CONSUMER_KEY is missing or empty" in bad.stderr


@pytest.mark.parametrize(
    ("setting", "value", "check_id"),
    [
        ("TWITTER_OAUTH_CONSUMER_KEY", "", "twitter_oauth.E001"),
        ("TWITTER_OAUTH_VERIFY_ENDPOINT", "2/users/me/", "twitter_oauth.E018"),
        ("TWITTER_OAUTH_VERIFY_ENDPOINT", None, "twitter_oauth.E018"),
        ("TWITTER_OAUTH_REQUEST_EMAIL", "yes", "twitter_oauth.E019"),
        ("TWITTER_OAUTH_REQUEST_EMAIL", 1, "twitter_oauth.E019"),
        ("TWITTER_OAUTH_SIGNUP", "tests.nowhere.signup", "twitter_oauth.E020"),
        ("TWITTER_OAUTH_SIGNUP", "nodots", "twitter_oauth.E020"),
        ("TWITTER_OAUTH_SIGNUP", "django_twitter_oauth.conf.OOB", "twitter_oauth.E020"),
        ("TWITTER_OAUTH_SIGNUP", 42, "twitter_oauth.E020"),
        ("TWITTER_OAUTH_SANDBOX_TIER", "enterprise", "twitter_oauth.E021"),
        ("TWITTER_OAUTH_SANDBOX_TIER", "Free", "twitter_oauth.E021"),
        ("TWITTER_OAUTH_CONSUMER_KEY", "   ", "twitter_oauth.E001"),
        ("TWITTER_OAUTH_CONSUMER_KEY", None, "twitter_oauth.E001"),
        ("TWITTER_OAUTH_CONSUMER_SECRET", "", "twitter_oauth.E002"),
        ("TWITTER_OAUTH_CONSUMER_SECRET", 42, "twitter_oauth.E002"),
        ("TWITTER_OAUTH_ACCESS_TYPE", "read-write", "twitter_oauth.E003"),
        ("TWITTER_OAUTH_ACCESS_TYPE", "", "twitter_oauth.E003"),
        ("TWITTER_OAUTH_APP_PERMISSION", "write", "twitter_oauth.E004"),
        ("TWITTER_OAUTH_APP_PERMISSION", None, "twitter_oauth.E004"),
        ("TWITTER_OAUTH_CALLBACK_URL", "/twitter/callback/", "twitter_oauth.E005"),
        ("TWITTER_OAUTH_CALLBACK_URL", "OOB", "twitter_oauth.E005"),
        ("TWITTER_OAUTH_CALLBACK_URL", "javascript:alert(1)", "twitter_oauth.E005"),
        ("TWITTER_OAUTH_CALLBACK_URL", "ftp://example.com/cb", "twitter_oauth.E005"),
        ("TWITTER_OAUTH_CALLBACK_URL", "https:///no-host", "twitter_oauth.E005"),
        ("TWITTER_OAUTH_CALLBACK_URL", "https://example.com/cb#frag", "twitter_oauth.E005"),
        ("TWITTER_OAUTH_CALLBACK_URL", ["https://example.com/cb"], "twitter_oauth.E005"),
        ("TWITTER_OAUTH_API_URL", "api.twitter.com", "twitter_oauth.E006"),
        ("TWITTER_OAUTH_API_URL", "https://api.twitter.com?x=1", "twitter_oauth.E006"),
        ("TWITTER_OAUTH_API_URL", None, "twitter_oauth.E006"),
        ("TWITTER_OAUTH_TIMEOUT", 0, "twitter_oauth.E007"),
        ("TWITTER_OAUTH_TIMEOUT", -1.5, "twitter_oauth.E007"),
        ("TWITTER_OAUTH_TIMEOUT", "10", "twitter_oauth.E007"),
        ("TWITTER_OAUTH_TIMEOUT", True, "twitter_oauth.E007"),
        ("TWITTER_OAUTH_REQUEST_TOKEN_TTL", 0, "twitter_oauth.E008"),
        ("TWITTER_OAUTH_RATE_LIMIT_MAX_WAIT", -1, "twitter_oauth.E009"),
        ("TWITTER_OAUTH_RATE_LIMIT_MAX_WAIT", None, "twitter_oauth.E009"),
        ("TWITTER_OAUTH_SIGN_IN", "yes", "twitter_oauth.E010"),
        ("TWITTER_OAUTH_ALLOW_SIGNUP", 1, "twitter_oauth.E010"),
        ("TWITTER_OAUTH_LOGIN_ON_GET", None, "twitter_oauth.E010"),
        ("TWITTER_OAUTH_SANDBOX_ALLOWED", "yes", "twitter_oauth.E010"),
        ("TWITTER_OAUTH_SANDBOX_LATENCY", -0.1, "twitter_oauth.E015"),
        ("TWITTER_OAUTH_SANDBOX_LATENCY", "1", "twitter_oauth.E015"),
    ],
)
def test_bad_setting_fires_its_check(setting: str, value: object, check_id: str) -> None:
    with override_settings(**{setting: value}):
        messages = checks.check_settings()
        assert ids(messages) == [check_id]
        assert all(isinstance(message, Error) for message in messages)
        assert setting in messages[0].msg
        assert messages[0].hint
        with pytest.raises(SystemCheckError, match=check_id.replace(".", r"\.")):
            call_command("check")


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("TWITTER_OAUTH_ACCESS_TYPE", "read"),
        ("TWITTER_OAUTH_ACCESS_TYPE", "write"),
        ("TWITTER_OAUTH_APP_PERMISSION", "read"),
        ("TWITTER_OAUTH_APP_PERMISSION", "read-write-directmessages"),
        ("TWITTER_OAUTH_CALLBACK_URL", "oob"),
        ("TWITTER_OAUTH_CALLBACK_URL", "https://example.com/twitter/callback/"),
        ("TWITTER_OAUTH_CALLBACK_URL", "http://127.0.0.1:8000/twitter/callback/"),
        ("TWITTER_OAUTH_API_URL", "https://api.x.com"),
        ("TWITTER_OAUTH_API_URL", "http://127.0.0.1:8000/sandbox/"),
        ("TWITTER_OAUTH_TIMEOUT", 2.5),
        ("TWITTER_OAUTH_RATE_LIMIT_MAX_WAIT", 0),
        ("TWITTER_OAUTH_SIGN_IN", False),
    ],
)
def test_good_values_pass(setting: str, value: object) -> None:
    with override_settings(**{setting: value}):
        assert checks.check_settings() == []


def test_missing_consumer_settings_fire_both_checks(settings: object) -> None:
    del settings.TWITTER_OAUTH_CONSUMER_KEY  # type: ignore[attr-defined]
    del settings.TWITTER_OAUTH_CONSUMER_SECRET  # type: ignore[attr-defined]
    assert ids(checks.check_settings()) == ["twitter_oauth.E001", "twitter_oauth.E002"]


def test_callback_with_query_string_warns() -> None:
    with override_settings(TWITTER_OAUTH_CALLBACK_URL="https://example.com/cb?site=1"):
        messages = checks.check_settings()
    assert ids(messages) == ["twitter_oauth.W001"]
    assert isinstance(messages[0], Warning)


def test_fernet_keys_unset_warns(settings: object) -> None:
    del settings.FERNET_KEYS  # type: ignore[attr-defined]
    messages = checks.check_encryption()
    assert ids(messages) == ["twitter_oauth.W002"]
    assert isinstance(messages[0], Warning)
    assert "SECRET_KEY" in messages[0].msg


@pytest.mark.parametrize(
    ("keys", "use_hkdf"),
    [([], True), (["not-a-fernet-key"], False), ("not-a-fernet-key", True)],
)
def test_unusable_fernet_keys_error(keys: object, use_hkdf: bool) -> None:
    with override_settings(FERNET_KEYS=keys, FERNET_USE_HKDF=use_hkdf):
        messages = checks.check_encryption()
    assert ids(messages) == ["twitter_oauth.E011"]
    # Never echo the keys back.
    assert "not-a-fernet-key" not in messages[0].msg


def test_sessions_app_missing() -> None:
    from django.conf import settings

    apps = [app for app in settings.INSTALLED_APPS if app != "django.contrib.sessions"]
    with override_settings(INSTALLED_APPS=apps):
        assert ids(checks.check_sessions()) == ["twitter_oauth.E012"]


@pytest.mark.parametrize(
    "middleware",
    [
        [],
        ["django.middleware.common.CommonMiddleware"],
        ["no.such.Middleware"],
        ["django.contrib.sessions.middleware.SessionStore"],
        ["tests.test_checks.not_a_class"],
    ],
)
def test_session_middleware_missing(middleware: list[str]) -> None:
    with override_settings(MIDDLEWARE=middleware):
        assert ids(checks.check_sessions()) == ["twitter_oauth.E013"]


def test_session_middleware_subclass_counts() -> None:
    with override_settings(MIDDLEWARE=["tests.test_checks.CustomSessionMiddleware"]):
        assert checks.check_sessions() == []


class CustomSessionMiddleware(SessionMiddleware):
    pass


not_a_class = object()


@override_settings(DEBUG=False, TWITTER_OAUTH_SANDBOX_ALLOWED=False)
def test_sandbox_refused_without_debug() -> None:
    messages = checks.check_sandbox()
    assert ids(messages) == ["twitter_oauth.E014"]
    assert "TWITTER_OAUTH_SANDBOX_ALLOWED" in str(messages[0].hint)
    with pytest.raises(SystemCheckError, match=r"twitter_oauth\.E014"):
        call_command("check")


@override_settings(DEBUG=True, TWITTER_OAUTH_SANDBOX_ALLOWED=False)
def test_sandbox_allowed_with_debug() -> None:
    assert checks.check_sandbox() == []


def test_sandbox_cache_must_exist() -> None:
    with override_settings(TWITTER_OAUTH_SANDBOX_CACHE="nope"):
        assert ids(checks.check_sandbox()) == ["twitter_oauth.E016"]


def test_sandbox_checks_only_when_installed() -> None:
    from django.conf import settings

    apps = [app for app in settings.INSTALLED_APPS if app != "django_twitter_oauth.sandbox"]
    with override_settings(INSTALLED_APPS=apps, DEBUG=False, TWITTER_OAUTH_SANDBOX_ALLOWED=False):
        assert checks.check_sandbox() == []


def test_sign_in_needs_the_twitter_backend() -> None:
    with override_settings(AUTHENTICATION_BACKENDS=["django.contrib.auth.backends.ModelBackend"]):
        messages = checks.check_backend()
        assert ids(messages) == ["twitter_oauth.E017"]
        assert "AUTHENTICATION_BACKENDS" in messages[0].msg
        with override_settings(TWITTER_OAUTH_SIGN_IN=False):
            assert checks.check_backend() == []


@pytest.mark.parametrize(
    "backends",
    [
        ["django_twitter_oauth.backends.TwitterBackend"],
        ["tests.test_checks.CustomTwitterBackend"],
    ],
)
def test_twitter_backend_or_subclass_satisfies_the_check(backends: list[str]) -> None:
    with override_settings(AUTHENTICATION_BACKENDS=backends):
        assert checks.check_backend() == []


def test_unimportable_backend_does_not_count() -> None:
    with override_settings(AUTHENTICATION_BACKENDS=["no.such.Backend"]):
        assert ids(checks.check_backend()) == ["twitter_oauth.E017"]


class CustomTwitterBackend(TwitterBackend):
    pass


# -- deploy checks (manage.py check --deploy) -----------------------------------------------


def deploy_ids(**overrides: object) -> list[str]:
    with override_settings(**overrides):
        return ids(checks.check_deploy())


def test_deploy_checks_on_good_production_settings() -> None:
    assert deploy_ids(TWITTER_OAUTH_SANDBOX_ALLOWED=False) == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"TWITTER_OAUTH_SANDBOX_ALLOWED": True}, ["twitter_oauth.W003"]),
        ({"TWITTER_OAUTH_SANDBOX_ALLOWED": True, "DEBUG": True}, []),
        ({"TWITTER_OAUTH_SANDBOX_ALLOWED": "yes"}, []),  # E010's business, and not allowed
        ({"TWITTER_OAUTH_API_URL": "http://api.twitter.com"}, ["twitter_oauth.W004"]),
        ({"TWITTER_OAUTH_API_URL": "HTTPS://api.twitter.com"}, []),
        ({"TWITTER_OAUTH_API_URL": 42}, []),  # E006's business
        ({"FERNET_KEYS": [""]}, ["twitter_oauth.E022"]),
        ({"FERNET_KEYS": ["good-key", "  "]}, ["twitter_oauth.E022"]),
        ({"FERNET_KEYS": (b"",)}, ["twitter_oauth.E022"]),
        ({"FERNET_KEYS": [b"good-key"]}, []),
        ({"FERNET_KEYS": None}, []),  # W002's business
        ({"FERNET_KEYS": ""}, []),  # E011's business
        ({"FERNET_KEYS": [None]}, []),  # E011's business
    ],
)
def test_deploy_check(overrides: dict[str, object], expected: list[str]) -> None:
    assert deploy_ids(**{"TWITTER_OAUTH_SANDBOX_ALLOWED": False, **overrides}) == expected


def test_deploy_check_needs_the_sandbox_installed() -> None:
    apps = [app for app in settings.INSTALLED_APPS if app != "django_twitter_oauth.sandbox"]
    with override_settings(INSTALLED_APPS=apps):
        assert deploy_ids(TWITTER_OAUTH_SANDBOX_ALLOWED=True) == []


def run_check(*args: str) -> str:
    """What ``manage.py check`` reports: its output, or its error (for an Error)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("check", *args, stdout=out, stderr=err)
    except SystemCheckError as exc:
        return str(exc)
    return out.getvalue() + err.getvalue()


def test_check_deploy_shows_them_and_check_does_not() -> None:
    overrides = {
        "TWITTER_OAUTH_SANDBOX_ALLOWED": True,
        "TWITTER_OAUTH_API_URL": "http://api.twitter.com",
        "FERNET_KEYS": ["tests-fernet-key-1", ""],
    }
    with override_settings(**overrides):
        deploy = run_check("--deploy")
        plain = run_check()

    for check_id in ("twitter_oauth.W003", "twitter_oauth.W004", "twitter_oauth.E022"):
        assert check_id in deploy
        assert check_id not in plain
