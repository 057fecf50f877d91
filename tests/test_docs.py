"""Docs and code cannot drift: every setting and check ID is documented."""

from __future__ import annotations

import inspect
import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from django_twitter_oauth import checks
from django_twitter_oauth.conf import Settings
from tests.utils import make_token, make_user, tokens_connection, username_for

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


# -- upgrading.rst: the data migrations from django-allauth and social-auth-app-django --


class FakeRows:
    """Just enough of a queryset for the migrations: ``filter`` on exact values, and
    ``values`` giving dictionaries."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def filter(self, **lookups: Any) -> FakeRows:
        return FakeRows([r for r in self.rows if all(r[k] == v for k, v in lookups.items())])

    def values(self, *fields: str) -> list[dict[str, Any]]:
        return [{name: row[name] for name in fields} for row in self.rows]


class FakeApps:
    """The ``apps`` a data migration gets: the old package's models are fakes holding
    rows shaped like theirs; ``twitter_oauth`` models are the real historical ones."""

    def __init__(self, fakes: dict[str, list[dict[str, Any]]]) -> None:
        from django.db import connection
        from django.db.migrations.loader import MigrationLoader

        self.state_apps = MigrationLoader(connection).project_state().apps
        self.fakes = {
            name: type(name, (), {"objects": FakeRows(rows)}) for name, rows in fakes.items()
        }

    def get_model(self, app_label: str, model_name: str) -> Any:
        if app_label == "twitter_oauth":
            return self.state_apps.get_model(app_label, model_name)
        return self.fakes[f"{app_label}.{model_name}"]


def upgrading_namespace(migration_marker: str) -> dict[str, Any]:
    """The page's copying functions, then the migration containing ``migration_marker``,
    executed as one module (the page says to put them in one file)."""
    blocks = code_blocks("upgrading.rst")
    (functions,) = [block for block in blocks if "def copy_tokens" in block]
    (migration,) = [block for block in blocks if migration_marker in block]
    namespace: dict[str, Any] = {}
    exec(compile(functions + "\n\n" + migration, "docs/upgrading.rst", "exec"), namespace)  # noqa: S102
    return namespace


def stored(twitter_user_id: str) -> tuple[str, str, str, str, str, bytes]:
    """The copied token, decrypted, and its raw ``token`` column."""
    from django_twitter_oauth.models import AccessToken

    token = AccessToken.objects.get(twitter_user_id=twitter_user_id)
    with tokens_connection().cursor() as cursor:
        cursor.execute(
            "SELECT token FROM twitter_oauth_accesstoken WHERE twitter_user_id = %s",
            [twitter_user_id],
        )
        (raw,) = cursor.fetchone()
    return (
        token.user.get_username(),
        token.screen_name,
        token.token,
        token.secret,
        f"{token.app_permission}/{token.access_level}",
        bytes(raw),
    )


def assert_dependencies_exist(migration: Any) -> None:
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    ours = [dep for dep in migration.dependencies if dep[0] == "twitter_oauth"]
    assert ours == [("twitter_oauth", "0002_tokenevent")]
    assert ours[0] in MigrationLoader(connection).disk_migrations


@pytest.mark.django_db
def test_the_upgrading_page_copies_allauth_tokens() -> None:
    from django_twitter_oauth.models import AccessToken

    alice, bob, carol, dave = (make_user(name) for name in ("alice", "bob", "carol", "dave"))
    make_token(dave, twitter_user_id="4", token="4-already-here")
    namespace = upgrading_namespace("def copy_from_allauth")
    assert_dependencies_exist(namespace["Migration"])
    account = {"provider": "twitter", "extra_data": {"screen_name": "alice_tw", "id": 1}}
    apps = FakeApps(
        {
            "socialaccount.SocialAccount": [
                {**account, "id": 10, "user_id": alice.pk, "uid": "1"},
                # No SocialToken (SOCIALACCOUNT_STORE_TOKENS off): a link only.
                {**account, "id": 11, "user_id": bob.pk, "uid": "2"},
                {"provider": "github", "id": 12, "user_id": carol.pk, "uid": "3", "extra_data": {}},
                # Authorized through this app since: its token is newer and is kept.
                {**account, "id": 13, "user_id": dave.pk, "uid": "4", "extra_data": None},
            ],
            "socialaccount.SocialToken": [
                {
                    "account__provider": "twitter",
                    "account_id": 10,
                    "token": "1-tok",
                    "token_secret": "s1",
                },
                {
                    "account__provider": "github",
                    "account_id": 12,
                    "token": "gh",
                    "token_secret": "x",
                },
                {
                    "account__provider": "twitter",
                    "account_id": 13,
                    "token": "4-old",
                    "token_secret": "s4",
                },
            ],
        }
    )

    namespace["copy_from_allauth"](apps, None)
    namespace["copy_from_allauth"](apps, None)  # safe to run again

    assert sorted(AccessToken.objects.values_list("twitter_user_id", flat=True)) == ["1", "4"]
    *values, raw = stored("1")
    assert values == [username_for("alice"), "alice_tw", "1-tok", "s1", "read-write/read-write"]
    assert raw.startswith(b"gAAAAA")  # Fernet ciphertext, not the token
    assert AccessToken.objects.get(twitter_user_id="4").token == "4-already-here"


@pytest.mark.django_db
def test_the_upgrading_page_copies_social_auth_tokens() -> None:
    from django_twitter_oauth.models import AccessToken

    alice, bob, carol, dave = (make_user(name) for name in ("alice", "bob", "carol", "dave"))
    namespace = upgrading_namespace("def copy_from_social_auth")
    assert_dependencies_exist(namespace["Migration"])
    answer = {
        "oauth_token": "1-tok",
        "oauth_token_secret": "s1",
        "user_id": "1",
        "screen_name": "alice_tw",
    }
    apps = FakeApps(
        {
            "social_django.UserSocialAuth": [
                {
                    "provider": "twitter",
                    "user_id": alice.pk,
                    "uid": "1",
                    "extra_data": {"id": 1, "access_token": answer},
                },
                # Old versions: the answer's query string.
                {
                    "provider": "twitter",
                    "user_id": bob.pk,
                    "uid": "2",
                    "extra_data": {
                        "access_token": "oauth_token=2-tok&oauth_token_secret=s2&screen_name=bob_tw"
                    },
                },
                {"provider": "twitter", "user_id": carol.pk, "uid": "3", "extra_data": {}},
                {
                    "provider": "github",
                    "user_id": dave.pk,
                    "uid": "4",
                    "extra_data": {"access_token": answer},
                },
            ]
        }
    )
    namespace["APP_PERMISSION"] = "read-write-directmessages"

    namespace["copy_from_social_auth"](apps, None)

    assert sorted(AccessToken.objects.values_list("twitter_user_id", flat=True)) == ["1", "2"]
    *values, raw = stored("1")
    assert values == [
        username_for("alice"),
        "alice_tw",
        "1-tok",
        "s1",
        "read-write-directmessages/read-write-directmessages",
    ]
    assert raw.startswith(b"gAAAAA")
    assert stored("2")[:4] == (username_for("bob"), "bob_tw", "2-tok", "s2")


# -- models.rst: when a key is lost -----------------------------------------------------


@pytest.mark.django_db
def test_the_models_page_lost_key_procedure(fake_twitter: Any, capsys: Any) -> None:
    import urllib.parse

    from django.core.management import call_command
    from django.test import Client, override_settings

    from django_twitter_oauth.models import AccessToken, RequestToken

    make_token(make_user("alice"), twitter_user_id="1", screen_name="alice")
    with override_settings(FERNET_KEYS=["the-lost-key"]):
        make_token(make_user("bob"), twitter_user_id="2", screen_name="bob")
        make_token(make_user("carol"), twitter_user_id="3", screen_name="carol")
        RequestToken.objects.create(token_hash="old", secret="s", flow_key_hash="h")
    RequestToken.objects.filter(token_hash="old").update(created_at="2020-01-01T00:00:00Z")

    # 2. Find them: the page's function, as run in `manage.py shell`.
    (example,) = [block for block in code_blocks("models.rst") if "def unreadable_tokens" in block]
    exec(compile(example, "docs/models.rst", "exec"), {})  # noqa: S102
    printed = capsys.readouterr().out.split()
    assert printed[::2] == ["--twitter-id", "--twitter-id"]
    assert sorted(printed[1::2]) == ["2", "3"]

    # A user whose token is unreadable can authorize again: the new token replaces it.
    client = Client()
    begun = client.post("/twitter/begin/")
    (oauth_token,) = urllib.parse.parse_qs(urllib.parse.urlsplit(begun["Location"]).query)[
        "oauth_token"
    ]
    back = client.get(fake_twitter.authorize(oauth_token, user_id="3", screen_name="carol"))
    assert back.status_code == 302
    assert AccessToken.objects.get(twitter_user_id="3").secret  # readable again

    # 3. Discard what is still unreadable, with the printed arguments; 4. rotate: clean.
    exec(compile(example, "docs/models.rst", "exec"), {})  # noqa: S102
    printed = capsys.readouterr().out.split()
    assert printed == ["--twitter-id", "2"]
    call_command("twitter_oauth_revoke", "--discard", *printed, "--noinput", stdout=StringIO())
    call_command("twitter_oauth_cleanup", stdout=StringIO())
    rotated = StringIO()
    call_command("twitter_oauth_rotate_keys", stdout=rotated, stderr=StringIO())
    assert "0 unreadable" in rotated.getvalue()
    assert sorted(AccessToken.objects.values_list("twitter_user_id", flat=True)) == ["1", "3"]
    assert not RequestToken.objects.exists()
