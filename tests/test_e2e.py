"""End to end in a real browser: Debian's Chromium, driven by Playwright, clicking
through the example project and its sandbox, served once by ``manage.py runserver``
(WSGI) and once by uvicorn (ASGI, ``example.asgi``): the tests using ``site`` run
against each.

Chromium missing on a developer's machine skips these tests with a message naming the
package; ``.ci/run`` sets REQUIRE_BROWSER=1, which turns that skip into a failure.
Each test saves screenshots into E2E_SCREENSHOTS (default build/e2e-screenshots).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Browsers and server subprocesses: not in the fast lane (-m "not slow").
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# axe-core from the npm registry (`make axe` installs it); injected into the pages.
AXE = Path(
    os.environ.get("AXE_JS", ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js")
)
SCREENSHOTS = Path(os.environ.get("E2E_SCREENSHOTS", ROOT / "build" / "e2e-screenshots"))
# Screenshots and the layout checks at a common laptop width.
VIEWPORT = {"width": 1400, "height": 900}
# As the probe of this machine kind starts it: no sandbox (root), no background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser() -> None:
    if shutil.which(CHROMIUM) is None:
        message = f"Chromium not found at {CHROMIUM}: install Debian's 'chromium' package."
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def require_axe() -> None:
    if not AXE.is_file():
        message = f"axe-core not found at {AXE}: run `make axe` (npm install axe-core@4)."
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    page.add_script_tag(path=str(AXE))
    found: list[str] = page.evaluate(
        """async () => (await axe.run(document)).violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => `${v.impact} ${v.id}: ${v.help} at `
                + v.nodes.map((n) => n.target).join(", "))"""
    )
    return [f"{page.url}: {line}" for line in found]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


#: How each server is started, and the line it prints once it serves.
SERVERS = {
    "wsgi": (["manage.py", "runserver", "127.0.0.1:{port}", "--noreload"], "Quit the server"),
    "asgi": (
        ["-m", "uvicorn", "example.asgi:application", "--host", "127.0.0.1", "--port", "{port}"],
        "Uvicorn running on",
    ),
}


class Site:
    """The example project in a server subprocess, on its own SQLite database."""

    def __init__(self, tmp: Path, server: str = "wsgi", **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TWITTER_OAUTH_", "DJANGO_", "DATABASE_URL"))
        }
        self.env.update(
            DATABASE_URL=f"sqlite:///{tmp / 'e2e.sqlite3'}",
            SANDBOX_URL=f"{self.url}/sandbox",
            PYTHONUNBUFFERED="1",
            **env,
        )
        self.manage("migrate", "--noinput")
        self.manage("demo_setup")
        command, ready = SERVERS[server]
        self.server = subprocess.Popen(
            [sys.executable, *(arg.format(port=self.port) for arg in command)],
            cwd=EXAMPLE,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        watchdog = threading.Timer(60, self.server.kill)
        watchdog.start()
        assert self.server.stdout is not None
        started = ""
        while ready not in started:
            started = self.server.stdout.readline()
            assert started, f"the {server} server exited before serving"
        watchdog.cancel()
        # Keep reading its log, so that a full pipe never blocks the server.
        threading.Thread(target=self.server.stdout.read, daemon=True).start()

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=EXAMPLE,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def stop(self) -> None:
        self.server.terminate()
        self.server.communicate(timeout=10)


@pytest.fixture(scope="module", params=sorted(SERVERS))
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    require_browser()
    served = Site(tmp_path_factory.mktemp(f"site-{request.param}"), server=request.param)
    yield served
    served.stop()


@pytest.fixture(scope="module")
def pin_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_browser()
    served = Site(tmp_path_factory.mktemp("pin_site"), TWITTER_OAUTH_CALLBACK_URL="oob")
    yield served
    served.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright

    # Started per test: Playwright's event loop must not outlive the test, or Django's
    # async-safety check would refuse the ORM in the tests that follow.
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def expect(locator: Any) -> Any:
    """Playwright's auto-waiting assertions (imported late: the package is optional)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in_as(browser: Any, site: Site, screen_name: str, *, name: str = "") -> Any:
    """A new browser context that signs in with Twitter through the sandbox."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{site.url}/")
    if name:
        shot(page, f"{name}-home")
    page.get_by_role("button", name="Sign in with Twitter").click()
    page.wait_for_url(re.compile(r".*/sandbox/oauth/authenticate\?.*"))
    existing = page.get_by_label(f"@{screen_name}")
    if existing.count():
        existing.check()
    else:  # a new fake user, so that each test starts from an account of its own
        page.get_by_label("or a new fake user:").fill(screen_name)
    if name:
        shot(page, f"{name}-sandbox-authorize")
    page.get_by_role("button", name="Authorize app").click()
    page.wait_for_url(f"{site.url}/profile/")
    return page


def run_action(page: Any) -> None:
    """The action bar's submit button: "Go" up to Django 6.0, "Run" from 6.1."""
    page.locator(".actions button[type=submit]").click()


def admin_login(browser: Any, site: Site, username: str, password: str) -> Any:
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{site.url}/admin/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site.url}/admin/")
    return page


def test_sign_in_through_the_sandbox(browser: Any, site: Site) -> None:
    page = sign_in_as(browser, site, "alice", name="sign-in")
    text = page.inner_text("body")
    # alice's first sign-in here (a sign-up); other tests use accounts of their own.
    assert "Connected @alice" in text
    assert "@alice" in page.inner_text("table")
    assert "Log out alice" in text
    # alice is not staff: no link to the admin, which would only ask her to log in.
    assert page.get_by_role("link", name="Admin").count() == 0
    shot(page, "sign-in-profile")
    page.get_by_role("button", name="Log out alice").click()
    page.wait_for_url(f"{site.url}/")
    expect(page.locator(".messages")).to_have_text("You are signed out.")


def test_cancel_on_the_authorize_page(browser: Any, site: Site) -> None:
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{site.url}/")
    page.get_by_role("button", name="Sign in with Twitter").click()
    page.wait_for_url(re.compile(r".*/sandbox/oauth/authenticate\?.*"))
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url(re.compile(r".*/twitter/denied/.*"))
    expect(page.locator("body")).to_contain_text("You cancelled at Twitter")
    # Said once: the page, not also the site's message for the same event.
    assert page.inner_text("body").count("cancelled") == 1
    shot(page, "cancel")
    # A logged-out visitor goes back to a public page, not to the admin's login.
    page.get_by_role("link", name="Back to the site").click()
    page.wait_for_load_state()
    assert "/admin/" not in page.url
    expect(page.get_by_role("button", name="Sign in with Twitter")).to_be_visible()


def test_connect_while_logged_in_then_disconnect(browser: Any, site: Site) -> None:
    page = admin_login(browser, site, "demo", "demo")
    page.goto(f"{site.url}/")
    page.get_by_role("button", name="Connect with full consent").click()
    # authorize (full consent) with force_login: the screen-name box has the focus.
    page.wait_for_url(re.compile(r".*/sandbox/oauth/authorize\?.*force_login=true.*"))
    page.get_by_label("@bob").check()
    page.get_by_role("button", name="Authorize app").click()
    page.wait_for_url(f"{site.url}/profile/")
    assert "@bob" in page.inner_text("table")
    shot(page, "connect-profile")
    page.get_by_role("button", name="Verify credentials").click()
    expect(page.locator("body")).to_contain_text("x-access-level: read-write")
    shot(page, "verify-credentials")
    page.goto(f"{site.url}/profile/")
    # Disconnecting asks first; keeping it changes nothing.
    page.get_by_role("link", name="Disconnect…").click()
    expect(page.locator("h1")).to_have_text("Disconnect @bob?")
    shot(page, "disconnect-confirm")
    page.get_by_role("link", name="Keep it connected").click()
    assert "@bob" in page.inner_text("table")
    page.get_by_role("link", name="Disconnect…").click()
    page.get_by_role("button", name="Disconnect @bob").click()
    expect(page.locator("h1")).to_have_text("@bob is disconnected")
    expect(page.locator("body")).to_contain_text("Twitter revoked this site's access")
    shot(page, "disconnect")
    page.goto(f"{site.url}/profile/")
    expect(page.locator("body")).to_contain_text("No Twitter account connected")


def test_pin_flow(browser: Any, pin_site: Site) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    page = admin_login(browser, pin_site, "demo", "demo")
    page.goto(f"{pin_site.url}/")
    page.get_by_role("button", name="Connect with full consent").click()
    page.wait_for_url(re.compile(r".*/twitter/pin/\?.*"))
    shot(page, "pin-page")
    with page.context.expect_page() as twitter_tab:
        page.get_by_role("link", name="Open Twitter and authorize this site").click()
    twitter = twitter_tab.value
    twitter.wait_for_load_state()
    assert "/sandbox/oauth/authorize?" in twitter.url
    twitter.get_by_label("@carol").check()
    twitter.get_by_role("button", name="Authorize app").click()
    pin = twitter.inner_text("#pin").strip()
    assert re.fullmatch(r"\d{7}", pin)
    shot(twitter, "pin-sandbox-pin")
    page.get_by_label("PIN").fill(pin)
    page.get_by_role("button", name="Complete").click()
    page.wait_for_url(f"{pin_site.url}/profile/")
    assert "@carol" in page.inner_text("table")
    context.close()


def test_staff_revoke_and_discard_in_the_admin(browser: Any, site: Site) -> None:
    sign_in_as(browser, site, "grace").context.close()
    sign_in_as(browser, site, "heidi").context.close()
    page = admin_login(browser, site, "demo", "demo")
    page.goto(f"{site.url}/admin/twitter_oauth/accesstoken/")
    shot(page, "admin-changelist")
    # The whole changelist fits a 1400 px window: no scrolling sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    row = page.locator("tr", has_text="grace")
    row.locator("input[type=checkbox]").check()
    page.select_option("select[name=action]", "revoke_selected")
    run_action(page)
    expect(page.locator("body")).to_contain_text("Twitter will invalidate these tokens")
    shot(page, "admin-revoke-confirmation")
    page.get_by_role("button", name="Yes, I’m sure").click()
    expect(page.locator("body")).to_contain_text("1 token revoked at Twitter and deleted.")
    assert page.locator("tr", has_text="grace").count() == 0
    page.locator("tr", has_text="heidi").locator("input[type=checkbox]").check()
    page.select_option("select[name=action]", "discard_selected")
    run_action(page)
    expect(page.locator("body")).to_contain_text("without telling Twitter")
    page.get_by_role("button", name="Yes, I’m sure").click()
    expect(page.locator("body")).to_contain_text("1 token discarded.")
    shot(page, "admin-after-discard")
    page.goto(f"{site.url}/admin/twitter_oauth/tokenevent/")
    expect(page.locator("#result_list")).to_contain_text("revoked")
    expect(page.locator("#result_list")).to_contain_text("discarded")


def test_staff_without_the_permission_does_not_see_revoke(browser: Any, site: Site) -> None:
    site.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import Permission, User;"
        "u, _ = User.objects.get_or_create(username='viewer', defaults={'is_staff': True});"
        "u.set_password('viewer'); u.save();"
        "u.user_permissions.set(Permission.objects.filter("
        "content_type__app_label='twitter_oauth', codename__in=["
        "'view_accesstoken', 'delete_accesstoken']))",
    )
    sign_in_as(browser, site, "frank").context.close()
    page = admin_login(browser, site, "viewer", "viewer")
    page.goto(f"{site.url}/admin/twitter_oauth/accesstoken/")
    options = page.locator("select[name=action] option").all_inner_texts()
    assert "Discard selected tokens" in options
    assert "Revoke selected tokens at Twitter" not in options
    assert "Verify selected tokens" not in options
    shot(page, "admin-without-revoke-permission")


def test_the_pages_pass_axe(browser: Any, site: Site) -> None:
    """No serious or critical axe-core violation on the example site's pages, the app's
    pages (begin confirmation, cancelled, error, disconnect, disconnected) and the
    sandbox's (index, authorize)."""
    require_axe()
    found: list[str] = []
    page = browser.new_context(viewport=VIEWPORT).new_page()
    for path in ("/", "/twitter/begin/", "/twitter/callback/", "/sandbox/"):
        page.goto(f"{site.url}{path}")
        found += serious_violations(page)
    page.goto(f"{site.url}/")
    page.get_by_role("button", name="Sign in with Twitter").click()
    page.wait_for_url(re.compile(r".*/sandbox/oauth/authenticate\?.*"))
    found += serious_violations(page)
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url(re.compile(r".*/twitter/denied/.*"))
    found += serious_violations(page)
    page.context.close()
    page = sign_in_as(browser, site, "ivan")
    found += serious_violations(page)
    page.get_by_role("link", name="Disconnect…").click()
    found += serious_violations(page)
    page.get_by_role("button", name="Disconnect @ivan").click()
    expect(page.locator("h1")).to_have_text("@ivan is disconnected")
    found += serious_violations(page)
    assert found == []


def test_the_pin_pages_pass_axe(browser: Any, pin_site: Site) -> None:
    """The app's PIN page and the sandbox's PIN page."""
    require_axe()
    page = admin_login(browser, pin_site, "demo", "demo")
    page.goto(f"{pin_site.url}/")
    page.get_by_role("button", name="Connect Twitter").click()
    page.wait_for_url(re.compile(r".*/twitter/pin/\?.*"))
    found = serious_violations(page)
    with page.context.expect_page() as twitter_tab:
        page.get_by_role("link", name="Open Twitter and authorize this site").click()
    twitter = twitter_tab.value
    twitter.wait_for_load_state()
    twitter.get_by_label("@alice").check()
    twitter.get_by_role("button", name="Authorize app").click()
    twitter.locator("#pin").wait_for()
    found += serious_violations(twitter)
    assert found == []
