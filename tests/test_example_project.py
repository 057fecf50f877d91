"""`make demo` keeps working: the example project checks, migrates and sets up twice."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from django_twitter_oauth.client import TwitterClient
from tests.utils import runserver

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"
# Subprocesses (manage.py, runserver): not in the fast lane (-m "not slow").
pytestmark = pytest.mark.slow


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_example_project_checks_migrates_and_sets_up_twice(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TWITTER_OAUTH_", "DJANGO_"))
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    check = manage("check", "--fail-level", "WARNING", env=env)
    assert check.returncode == 0, check.stderr
    migrate = manage("migrate", "--noinput", env=env)
    assert migrate.returncode == 0, migrate.stderr
    assert "Applying twitter_oauth.0001_initial... OK" in migrate.stdout
    first = manage("demo_setup", env=env)
    second = manage("demo_setup", env=env)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "demo / demo (created)" in first.stdout
    assert "demo / demo (already there)" in second.stdout
    assert "Fake Twitter users in the sandbox: @alice, @bob, @carol" in second.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_demo_serves_the_site_and_its_sandbox(tmp_path: Path) -> None:
    """What `make demo` runs: migrate, demo_setup, then runserver; the site answers and
    its sandbox issues a request token to a correctly signed request."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TWITTER_OAUTH_", "DJANGO_"))
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        SANDBOX_URL=f"{base}/sandbox",
        PYTHONUNBUFFERED="1",  # runserver's banner must reach the pipe at once
    )
    assert manage("migrate", "--noinput", env=env).returncode == 0
    assert manage("demo_setup", env=env).returncode == 0
    with runserver(EXAMPLE, port, env):
        home = requests.get(f"{base}/", timeout=5)
        assert home.status_code == 200
        assert "Offline mode" in home.text
        assert "Sign in with Twitter" in home.text
        sandbox = requests.get(f"{base}/sandbox/", timeout=5)
        assert "@alice" in sandbox.text and "@carol" in sandbox.text
        twitter = TwitterClient(
            consumer_key="example-consumer-key",
            consumer_secret="example-consumer-secret",
            api_url=f"{base}/sandbox",
        )
        request_token = twitter.fetch_request_token(f"{base}/callback/")
        page = requests.get(twitter.authorization_url(request_token.token), timeout=5)
        assert page.status_code == 200 and "Authorize app" in page.text


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TWITTER_OAUTH_", "DJANGO_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="example.settings_production",
        # Long and random-looking enough for security.W009; a test value, not a secret.
        DJANGO_SECRET_KEY="t" * 20 + "-x7Qm2vR9kLp4sWz8nB3cF6hJ1dG5yT0uA",
        DJANGO_ALLOWED_HOSTS="example.com",
        FERNET_KEYS="production-test-key",
        TWITTER_OAUTH_CONSUMER_KEY="production-consumer-key",
        TWITTER_OAUTH_CONSUMER_SECRET="production-consumer-secret",
        DATABASE_URL=f"sqlite:///{tmp_path / 'production.sqlite3'}",
    )
    env.update(overrides)
    return env


def test_production_settings_pass_check_deploy_without_a_warning(tmp_path: Path) -> None:
    check = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path))
    assert check.returncode == 0, check.stderr
    assert "System check identified no issues (0 silenced)." in check.stdout
    # Real Twitter: the sandbox is not installed in production.
    apps = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.INSTALLED_APPS)",
        env=production_env(tmp_path),
    )
    assert "django_twitter_oauth" in apps.stdout
    assert "sandbox" not in apps.stdout


def test_development_settings_fail_check_deploy(tmp_path: Path) -> None:
    # The gate can fail: the demo's settings (DEBUG, an embedded key) do not deploy.
    env = production_env(tmp_path, DJANGO_SETTINGS_MODULE="example.settings")
    check = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert check.returncode == 1
    assert "security.W018" in check.stderr  # DEBUG on


def test_production_settings_name_a_missing_secret(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    del env["FERNET_KEYS"]
    check = manage("check", env=env)
    assert check.returncode == 1
    assert "KeyError: 'FERNET_KEYS'" in check.stderr
