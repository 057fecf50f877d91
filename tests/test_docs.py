"""Docs and code cannot drift: every setting and check ID is documented."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

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


def test_every_signal_url_name_and_command_is_documented() -> None:
    from django_twitter_oauth import signals, urls

    text = docs_text()
    signal_names = [
        name for name, value in vars(signals).items() if type(value).__name__ == "Signal"
    ]
    assert len(signal_names) == 5
    url_names = [pattern.name for pattern in urls.urlpatterns]
    assert url_names == ["begin", "callback", "denied", "pin", "disconnect"]
    commands = sorted(
        path.stem
        for path in (Path(signals.__file__).parent / "management" / "commands").glob("*.py")
        if not path.stem.startswith("_")
    )
    assert commands == [
        "twitter_oauth_cleanup",
        "twitter_oauth_connect",
        "twitter_oauth_revoke",
        "twitter_oauth_rotate_keys",
    ]
    # Each in literal markup (``name`` or ``name(...)``), not merely as a word.
    missing = [name for name in [*signal_names, *url_names, *commands] if f"``{name}" not in text]
    assert missing == []
    for action in ("revoke_selected", "discard_selected", "verify_selected"):
        assert f"``{action}``" in text


def code_blocks(page: str) -> list[str]:
    """The ``.. code-block:: python`` blocks of a docs page, dedented."""
    import textwrap

    blocks, lines = [], (DOCS / page).read_text().splitlines()
    for index, line in enumerate(lines):
        if line.strip() == ".. code-block:: python":
            body = []
            for following in lines[index + 2 :]:
                if following and not following.startswith(" "):
                    break
                body.append(following)
            blocks.append(textwrap.dedent("\n".join(body)))
    return blocks


def test_the_testing_page_example_runs(fake_twitter: Any) -> None:
    (example,) = [block for block in code_blocks("testing.rst") if "def test_sign_in" in block]
    namespace: dict[str, Any] = {}
    exec(compile(example, "docs/testing.rst", "exec"), namespace)  # noqa: S102
    namespace["test_sign_in"](fake_twitter)
    assert fake_twitter.count("oauth/access_token") == 1


def test_the_signals_page_receiver_runs() -> None:
    from django.test import RequestFactory

    (example,) = [block for block in code_blocks("signals.rst") if "@receiver" in block]
    namespace: dict[str, Any] = {}
    exec(compile(example, "docs/signals.rst", "exec"), namespace)  # noqa: S102
    request = RequestFactory().get("/")
    added: list[str] = []
    request._messages = type(  # type: ignore[attr-defined]
        "Messages", (), {"add": lambda self, level, message, extra_tags="": added.append(message)}
    )()

    class Token:
        screen_name = "jack"

    try:
        namespace["welcome"](sender=None, request=request, user=None, token=Token(), created=True)
    finally:
        from django_twitter_oauth.signals import authorization_completed

        authorization_completed.disconnect(namespace["welcome"])
    assert added == ["Connected @jack."]
