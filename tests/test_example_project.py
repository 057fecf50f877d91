"""`make demo` keeps working: the example project checks, migrates and sets up twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
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
