"""Docs and code cannot drift: every setting and check ID is documented."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from django_twitter_oauth import checks
from django_twitter_oauth.conf import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def docs_text() -> str:
    return "\n".join(path.read_text() for path in DOCS.glob("*.rst"))


def test_every_setting_is_documented() -> None:
    names = [
        name
        for name, value in vars(Settings).items()
        if isinstance(value, property) and name.isupper()
    ]
    assert len(names) >= 13
    text = docs_text()
    missing = [name for name in names if f"``TWITTER_OAUTH_{name}``" not in text]
    assert missing == []
    assert "``FERNET_KEYS``" in text


def test_every_check_id_is_documented() -> None:
    ids = set(re.findall(r"\b([EW]\d{3})\b", inspect.getsource(checks)))
    assert {"E001", "E013", "W001", "W002"} <= ids
    checks_page = (DOCS / "checks.rst").read_text()
    missing = sorted(i for i in ids if f"``twitter_oauth.{i}``" not in checks_page)
    assert missing == []
