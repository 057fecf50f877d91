"""Check built distributions: twine's metadata check, and the wheel's contents.

Usage: python .ci/check_wheel.py DIST_DIR
Fails unless the wheel ships the migrations, templates, compiled translations and
py.typed a reusable Django app needs at run time, and leaves the tests and the example project out.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REQUIRED = {
    "migrations": "django_twitter_oauth/migrations/0001_initial.py",
    "templates": "django_twitter_oauth/templates/twitter_oauth/",
    "sandbox migrations": "django_twitter_oauth/sandbox/migrations/0001_initial.py",
    "sandbox templates": "django_twitter_oauth/sandbox/templates/twitter_oauth_sandbox/",
    "py.typed": "django_twitter_oauth/py.typed",
    "German catalog": "django_twitter_oauth/locale/de/LC_MESSAGES/django.po",
    "compiled German translation": "django_twitter_oauth/locale/de/LC_MESSAGES/django.mo",
}
FORBIDDEN = ("tests/", "example_project/", "docs/")


def check_wheel(path: Path) -> list[str]:
    names = zipfile.ZipFile(path).namelist()
    problems = [
        f"missing {what} ({prefix})"
        for what, prefix in REQUIRED.items()
        if not any(name.startswith(prefix) for name in names)
    ]
    problems += [f"ships {name}" for name in names if name.startswith(FORBIDDEN)]
    return problems


def main(dist: Path) -> int:
    dists = sorted(dist.glob("*.whl")) + sorted(dist.glob("*.tar.gz"))
    wheels = [path for path in dists if path.suffix == ".whl"]
    if not wheels or len(dists) < 2:
        print(f"{dist}: expected a wheel and an sdist, found {dists}", file=sys.stderr)
        return 1
    twine = [sys.executable, "-m", "twine", "check", "--strict", *map(str, dists)]
    if subprocess.run(twine, check=False).returncode:  # noqa: S603
        return 1
    status = 0
    for wheel in wheels:
        problems = check_wheel(wheel)
        for problem in problems:
            print(f"{wheel.name}: {problem}", file=sys.stderr)
        if problems:
            status = 1
        else:
            print(
                f"{wheel.name}: migrations, templates, translations and py.typed present; no tests"
            )
    return status


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
