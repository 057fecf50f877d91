"""Check the shipped translations: complete, current, and compiled.

Usage: python .ci/check_translations.py
Runs ``makemessages`` (as ``make messages`` does) on a temporary copy of the package, so
the working tree is left alone, then fails when, for any language in
django_twitter_oauth/locale/:

- a message of the code or templates is untranslated or fuzzy in that language;
- the committed django.po differs from what makemessages makes of it (a message added,
  changed or removed in the code and not in the catalog);
- the committed django.mo is not the compiled django.po (compared as catalogs, so the
  byte layout of another gettext version does not matter).

Needs GNU gettext (xgettext, msgmerge, msgattrib, msgfmt: Debian's ``gettext``).
"""

from __future__ import annotations

import gettext
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "django_twitter_oauth"
# Also in the Makefile's `messages` target: the same options, or the catalogs differ.
MAKEMESSAGES = ["makemessages", "--add-location=file", "--no-obsolete"]
TOOLS = ("xgettext", "msgmerge", "msgattrib", "msgfmt")


def run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(  # noqa: S603
        [str(arg) for arg in args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{done.stderr}")
    return done.stdout


def catalog(mo: Path) -> dict[object, str]:
    with mo.open("rb") as file:
        messages = dict(gettext.GNUTranslations(file)._catalog)  # type: ignore[attr-defined]
    messages.pop("", None)  # The header: its dates differ between two runs.
    return messages


def compiled(po: Path, into: Path) -> dict[object, str]:
    run("msgfmt", "--check", "-o", into, po)
    return catalog(into)


def check_language(language: str, committed: Path, fresh: Path, scratch: Path) -> list[str]:
    problems = []
    for option, what in (("--untranslated", "untranslated"), ("--only-fuzzy", "fuzzy")):
        found = run("msgattrib", option, "--no-wrap", fresh)
        msgids = [
            line for line in found.splitlines() if line.startswith("msgid ") and line != 'msgid ""'
        ]
        problems += [f"{language}: {what}: {line[6:]}" for line in msgids]
    expected = compiled(fresh, scratch / f"{language}-fresh.mo")
    if compiled(committed / "django.po", scratch / f"{language}-committed.mo") != expected:
        problems.append(
            f"{language}: django.po is not what makemessages makes of it: run `make messages`"
        )
    mo = committed / "django.mo"
    if not mo.exists() or catalog(mo) != expected:
        problems.append(f"{language}: django.mo is not the compiled django.po: run `make messages`")
    return problems


def main() -> int:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        print(f"GNU gettext is needed ({', '.join(missing)} not found)", file=sys.stderr)
        return 1
    languages = sorted(path.name for path in (PACKAGE / "locale").iterdir() if path.is_dir())
    if not languages:
        print("no language in django_twitter_oauth/locale/", file=sys.stderr)
        return 1
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        copy = scratch / "django_twitter_oauth"
        shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
        args = [arg for language in languages for arg in ("-l", language)]
        run(sys.executable, "-m", "django", *MAKEMESSAGES, *args, cwd=copy)
        for language in languages:
            problems += check_language(
                language,
                PACKAGE / "locale" / language / "LC_MESSAGES",
                copy / "locale" / language / "LC_MESSAGES" / "django.po",
                scratch,
            )
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"translations complete and compiled: {', '.join(languages)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
