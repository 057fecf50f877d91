"""The quickstart, verbatim: a fresh ``startproject``, the snippets of
docs/quickstart.rst applied as the page says (each appended to the file its caption
names), ``migrate``, ``runserver``, and a new visitor signing in through the sandbox.

The snippets are read from the page (code blocks whose ``:name:`` starts with
``quickstart-``), never copied here. The one change made to them: the sandbox's URL
names port 8000, and the server listens on a free port instead.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.utils import runserver

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "docs" / "quickstart.rst"
DIRECTIVE = re.compile(r"^( *)\.\. code-block:: \S+\n((?:\1   :\w+:.*\n)*)\n", re.MULTILINE)


def snippets(text: str) -> list[tuple[str, str]]:
    """(caption, code) of each ``quickstart-*`` named code block, in page order."""
    found = []
    for match in DIRECTIVE.finditer(text):
        indent, options = match.group(1), dict(re.findall(r":(\w+): *(.*)", match.group(2)))
        if not options.get("name", "").startswith("quickstart-"):
            continue
        body = []
        for line in text[match.end() :].splitlines():
            if line.strip() and not line.startswith(indent + "   "):
                break
            body.append(line[len(indent) + 3 :])
        found.append((options["caption"], "\n".join(body).strip() + "\n"))
    return found


def test_snippets_are_found_in_page_order() -> None:
    text = (
        "1. Step:\n\n   .. code-block:: python\n      :caption: a.py\n      :name: quickstart-a\n\n"
        "      x = 1\n\n      y = 2\n   more prose\n\n"
        ".. code-block:: python\n   :name: other\n\n   z = 3\n\n"
        ".. code-block:: html\n   :caption: b.html\n   :name: quickstart-b\n\n   <p>\n"
    )
    assert snippets(text) == [("a.py", "x = 1\n\ny = 2\n"), ("b.html", "<p>\n")]


def test_the_page_has_every_snippet_the_project_needs() -> None:
    code = snippets(QUICKSTART.read_text())
    assert [caption for caption, _ in code] == [
        "mysite/settings.py",
        "mysite/urls.py",
        "templates/home.html",
        "mysite/settings.py",
        "mysite/urls.py",
    ]
    settings = code[0][1]
    for needed in (
        "import os",
        "TWITTER_OAUTH_ALLOW_SIGNUP = True",
        "django_twitter_oauth.backends.TwitterBackend",
        "FERNET_KEYS",
    ):
        assert needed in settings
    assert 'include("django_twitter_oauth.urls")' in code[1][1]
    assert "{% load twitter_oauth %}" in code[2][1]
    assert "{% twitter_oauth_button %}" in code[2][1]
    assert "django_twitter_oauth.sandbox" in code[3][1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def quickstart_site(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TWITTER_OAUTH_", "DJANGO_", "DATABASE_URL", "FERNET"))
    }
    env.update(
        TWITTER_OAUTH_CONSUMER_KEY="sandbox",
        TWITTER_OAUTH_CONSUMER_SECRET="sandbox",
        FERNET_KEY="quickstart-test-fernet-key-0123456789",
        PYTHONUNBUFFERED="1",
        # The checkout's package, as `pip install -e` would give it.
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )

    def run(*args: str) -> None:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=tmp_path / "mysite",
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite"],
        cwd=tmp_path,
        env=env,
        check=True,
        timeout=60,
    )
    project = tmp_path / "mysite"
    for caption, code in snippets(QUICKSTART.read_text()):
        target = project / caption
        target.parent.mkdir(parents=True, exist_ok=True)
        code = code.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        with target.open("a") as file:
            file.write("\n" + code)
    run("manage.py", "check", "--fail-level", "WARNING")
    run("manage.py", "migrate", "--noinput")
    with runserver(project, port, env) as base_url:
        yield base_url


def form(html: str, action: str) -> dict[str, str]:
    """The hidden inputs of the form posting to ``action``."""
    (body,) = re.findall(rf'<form[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', html, re.S)
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', body))


@pytest.mark.slow
def test_a_new_visitor_signs_in_on_the_quickstart_project(quickstart_site: str) -> None:
    browser = requests.Session()
    home = browser.get(f"{quickstart_site}/", timeout=30)
    assert home.status_code == 200
    assert "Sign in with Twitter" in home.text
    assert "Signed in as" not in home.text
    authorize = browser.post(
        f"{quickstart_site}/twitter/begin/",
        data=form(home.text, "/twitter/begin/"),
        headers={"Referer": f"{quickstart_site}/"},
        timeout=30,
    )
    assert authorize.status_code == 200
    assert "/sandbox/oauth/authenticate?" in authorize.url
    decision = form(authorize.text, "/sandbox/oauth/decide")
    signed_in = browser.post(
        f"{quickstart_site}/sandbox/oauth/decide",
        data={**decision, "screen_name": "quickstarter", "authorize": "1"},
        timeout=30,
    )
    assert signed_in.status_code == 200
    assert signed_in.url == f"{quickstart_site}/"
    assert "Signed in as quickstarter." in signed_in.text
    assert "Connect Twitter" in signed_in.text
