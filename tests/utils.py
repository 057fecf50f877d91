"""Helpers shared by the tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.backends.db import SessionStore
from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest
from django.test import RequestFactory

from django_twitter_oauth import signals
from django_twitter_oauth.conf import app_settings
from django_twitter_oauth.fields import EncryptedTextField
from django_twitter_oauth.models import AccessToken
from django_twitter_oauth.signup import TwitterIdentity
from django_twitter_oauth.testing.provider import FakeProvider
from django_twitter_oauth.testing.store import CacheStore

#: The repository: what a ``manage.py`` subprocess needs on its PYTHONPATH.
ROOT = Path(__file__).resolve().parent.parent

# Secrets that look like Twitter's, so a leak is easy to spot in any output.
TOKEN = "6253282-eWudHldSbIaelX7swmsiHImEL4KinwaGloHANdrY"
SECRET = "2EEfA6BG5ly3sR3XjE0IBSnlQu4ZrUzPiYTmrkVU"


def username_for(name: str) -> str:
    """What the user model's ``USERNAME_FIELD`` holds for the user called ``name``: the
    name itself, or ``<name>@example.com`` when that field is an email field (the custom
    user model of tests/settings_custom_user.py)."""
    user_model = get_user_model()
    field = user_model._meta.get_field(user_model.USERNAME_FIELD)
    return f"{name}@example.com" if isinstance(field, models.EmailField) else name


def email_is_username() -> bool:
    """Whether the user model's ``USERNAME_FIELD`` is its email field (the custom user
    model of tests/settings_custom_user.py): the built-in sign-up then makes no username
    from the screen name, it needs an email address or refuses."""
    user_model = get_user_model()
    return bool(user_model.get_email_field_name() == user_model.USERNAME_FIELD)


#: For tests of the usernames the built-in sign-up makes: they do not exist for a user
#: model whose USERNAME_FIELD is its email field (test_signup.py tests its refusal there).
makes_usernames = pytest.mark.skipif(
    email_is_username(),
    reason="the custom user model shape (tests/settings_custom_user.py): USERNAME_FIELD "
    "is the email field, so the built-in sign-up makes no username",
)


def signed_up_username(screen_name: str, user_id: str) -> str:
    """The username a sign-up of this run gives a new Twitter account: the screen name
    (the built-in sign-up) or, with the custom user model's TWITTER_OAUTH_SIGNUP
    (tests/settings_custom_user.py), the address it makes when Twitter gives none."""
    if app_settings.SIGNUP == "tests.custom_user.signup.signup":
        # Not importable where tests.custom_user is not installed.
        from tests.custom_user.signup import placeholder_email

        return placeholder_email(TwitterIdentity(user_id, screen_name))
    return screen_name


def make_user(name: str = "alice", **extra: Any) -> User:
    """A user called ``name`` (see :func:`username_for`) of whichever user model the
    settings use. ``User`` in annotations is the default model mypy checks with."""
    user_model = get_user_model()
    values = {user_model.USERNAME_FIELD: username_for(name), **extra}
    # A test may make the default model sign in by email (USERNAME_FIELD patched): its
    # manager still wants a username.
    if user_model.USERNAME_FIELD != "username" and hasattr(user_model, "username"):
        values.setdefault("username", name)
    return user_model.objects.create_user(**values)


def make_superuser(name: str = "admin", password: str = "password") -> User:
    """A superuser called ``name`` of whichever user model the settings use."""
    user_model = get_user_model()
    return user_model.objects.create_superuser(
        **{user_model.USERNAME_FIELD: username_for(name)}, password=password
    )


def make_token(
    user: User | None = None,
    *,
    twitter_user_id: str = "6253282",
    screen_name: str = "twitterapi",
    token: str = TOKEN,
    secret: str = SECRET,
    access_level: str = "read-write",
    app_permission: str = "read-write",
) -> AccessToken:
    return AccessToken.objects.create(
        user=user or make_user(),
        twitter_user_id=twitter_user_id,
        screen_name=screen_name,
        token=token,
        secret=secret,
        access_level=access_level,
        app_permission=app_permission,
    )


def make_request(
    user: Any = None,
    *,
    session: SessionBase | None = None,
    path: str = "/",
    secure: bool = False,
    cookies: dict[str, str] | None = None,
) -> HttpRequest:
    """A GET request with a session (a new one unless given), ``user`` (anonymous
    unless given) and ``cookies`` (a browser's, see :func:`browser`), for calling the
    flow directly."""
    request = RequestFactory().get(path, secure=secure)
    request.COOKIES.update(cookies or {})
    request.session = session if session is not None else SessionStore()
    request.user = user if user is not None else AnonymousUser()
    return request


def browser(flow_key: str) -> dict[str, str]:
    """The cookies of a browser holding ``flow_key`` (``Begun.flow_key``) in its signed
    flow cookie, for :func:`make_request`."""
    from django.http import HttpResponse

    from django_twitter_oauth import flow

    response = HttpResponse()
    flow.set_flow_cookie(response, make_request(), flow_key)
    return {flow.FLOW_COOKIE: response.cookies[flow.FLOW_COOKIE].value}


SIGNAL_NAMES = (
    "authorization_completed",
    "authorization_denied",
    "authorization_failed",
    "token_revoked",
    "token_discarded",
)


class SignalRecorder:
    """Records the app's signals sent while in the ``with`` block (from any thread):
    ``sent`` holds (signal name, keyword arguments) pairs."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self._receivers = {name: self._receiver(name) for name in SIGNAL_NAMES}

    def _receiver(self, name: str) -> Callable[..., None]:
        def receive(**kwargs: Any) -> None:
            kwargs.pop("signal")
            self.sent.append((name, kwargs))

        return receive

    def __enter__(self) -> SignalRecorder:
        for name, receiver in self._receivers.items():
            getattr(signals, name).connect(receiver)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for name, receiver in self._receivers.items():
            getattr(signals, name).disconnect(receiver)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.sent]

    def only(self, name: str) -> dict[str, Any]:
        """The arguments of the one signal sent, which must be ``name``."""
        assert self.names == [name]
        return self.sent[0][1]


# -- management commands as subprocesses --------------------------------------------------
# A subprocess cannot use the in-process FakeTwitter: it talks to the sandbox served by
# pytest-django's live_server (same process as the test, so the test reads and seeds the
# sandbox's state through CacheStore), and to the test database, which the test must
# commit to (``django_db(transaction=True)``).

_SCHEMES = {"sqlite": "sqlite", "postgresql": "postgres"}


def database_url(alias: str = "default") -> str:
    """DATABASE_URL for the test database (on SQLite a file, see tests/settings.py)."""
    db = connections[alias].settings_dict
    auth = ":".join(str(db[key]) for key in ("USER", "PASSWORD") if db[key])
    host = ":".join(str(db[key]) for key in ("HOST", "PORT") if db[key])
    netloc = "@".join(part for part in (auth, host) if part)
    return f"{_SCHEMES[connections[alias].vendor]}://{netloc}/{db['NAME']}"


def sandbox_caches(location: str) -> dict[str, Any]:
    """CACHES for the sandbox of one test (``override_settings``): a fresh cache, roomy
    enough for its tokens and nonces. The default local-memory cache holds 300 entries
    and would silently forget tokens; it is also shared by the whole run."""
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": location,
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }


def sandbox_provider(live_server_url: str) -> FakeProvider:
    """The sandbox's fake Twitter as the live server serves it: tokens added or
    approved here are the ones a subprocess meets over HTTP."""
    return FakeProvider(
        settings.TWITTER_OAUTH_CONSUMER_KEY,
        settings.TWITTER_OAUTH_CONSUMER_SECRET,
        api_url=f"{live_server_url}/sandbox",
        store=CacheStore(),
    )


def manage_env(live_server_url: str = "", *, pythonpath: str = "") -> dict[str, str]:
    """The environment of a ``manage.py`` subprocess: the test database and, given the
    live server's URL, its sandbox as Twitter."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        # tests/settings_second_db.py: the app's own database.
        "TOKENS_DATABASE_URL": database_url("tokens") if "tokens" in settings.DATABASES else "",
        "PYTHONPATH": os.pathsep.join(path for path in (str(ROOT), pythonpath) if path),
        "PYTHONUNBUFFERED": "1",
        "TEST_TWITTER_OAUTH_API_URL": f"{live_server_url}/sandbox" if live_server_url else "",
    }


def this_settings_module() -> str:
    """The settings module of this run, for subprocesses (pytest-django puts it in the
    environment; ``settings.SETTINGS_MODULE`` is None under ``override_settings``)."""
    return os.environ["DJANGO_SETTINGS_MODULE"]


def manage_args(*args: str, settings_module: str = "") -> list[str]:
    """The command line of ``manage.py <args>``, as ``python -m django``, with the
    settings of this run unless ``settings_module`` is given."""
    return [
        sys.executable,
        "-m",
        "django",
        *args,
        "--settings",
        settings_module or this_settings_module(),
    ]


def manage(
    *args: str,
    env: dict[str, str],
    settings_module: str = "",
    stdin: str = "",
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py <args>`` to the end (killed after ``timeout`` seconds)."""
    return subprocess.run(
        manage_args(*args, settings_module=settings_module),
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def credentials(number: int) -> tuple[str, str]:
    """An access token and secret that look like Twitter's and are easy to spot."""
    return (
        f"{number}-tokenTOKENtokenTOKENtoken{number:05d}",
        f"secretSECRET{number:05d}secretSECRETsecret",
    )


def hold_tokens(
    count: int,
    *,
    twitter: Any = None,
    user: User | None = None,
    start: int = 1,
    **extra: Any,
) -> list[AccessToken]:
    """``count`` tokens the site holds (Twitter ids ``start``...), with
    :func:`credentials`; ``twitter`` (a FakeTwitter or FakeProvider) knows them too."""
    user = user or make_user(f"holder{start}")
    tokens = []
    for number in range(start, start + count):
        key, secret = credentials(number)
        if twitter is not None:
            twitter.add_access_token(key, secret, user_id=str(number), screen_name=f"user{number}")
        tokens.append(
            make_token(
                user,
                twitter_user_id=str(number),
                screen_name=f"user{number}",
                token=key,
                secret=secret,
                **extra,
            )
        )
    return tokens


def held(fake: Any, count: int = 1, **extra: Any) -> list[AccessToken]:
    """``count`` tokens the site holds; Twitter (a FakeTwitter) knows them too unless
    ``fake`` is None."""
    return hold_tokens(count, twitter=fake, **extra)


def secrets_of(tokens: list[AccessToken]) -> list[str]:
    """The token and secret :func:`hold_tokens` gave each of ``tokens``."""
    return [value for token in tokens for value in credentials(int(token.twitter_user_id))]


def bulk_hold_tokens(count: int, twitter: Any) -> None:
    """Like :func:`hold_tokens` for hundreds, in one bulk INSERT: Twitter ids 1...,
    screen names ``u1``..., all of the user "many"; ``twitter`` knows them too."""
    user = make_user("many")
    rows = []
    for number in range(1, count + 1):
        key, secret = credentials(number)
        twitter.add_access_token(key, secret, user_id=str(number), screen_name=f"u{number}")
        rows.append(
            AccessToken(
                user=user,
                twitter_user_id=str(number),
                screen_name=f"u{number}",
                token=key,
                secret=secret,
                access_level="read-write",
                app_permission="read-write",
            )
        )
    AccessToken.objects.bulk_create(rows)


# -- key rotation -------------------------------------------------------------------------

OLD = "tests-fernet-key-1"  # tests/settings.py's FERNET_KEYS
NEW = "rotation-new-key"


def tokens_alias() -> str:
    """The database of the app's tables ("tokens" in tests/settings_second_db.py)."""
    return router.db_for_write(AccessToken)


def tokens_connection() -> BaseDatabaseWrapper:
    """The connection to the app's tables: raw SQL and query counts of the app's work."""
    return connections[tokens_alias()]


def users_apart() -> int:
    """1 when a router keeps the users in another database than the app's tables (one
    more statement wherever users are loaded with tokens: no join), else 0."""
    return int(tokens_alias() != router.db_for_read(get_user_model()))


def ciphertexts(model: type[models.Model]) -> dict[Any, tuple[bytes, ...]]:
    """The raw encrypted columns of each row, by primary key."""
    columns = [
        str(f.column) for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)
    ]
    with tokens_connection().cursor() as cursor:
        cursor.execute(
            f"SELECT id, {', '.join(columns)} FROM {model._meta.db_table}"  # noqa: S608
        )
        return {pk: tuple(bytes(value) for value in values) for pk, *values in cursor.fetchall()}


def summary(label: str, rotated: int, current: int, unreadable: int = 0, meanwhile: int = 0) -> str:
    """The rotate command's line for one model."""
    return (
        f"{label}: {rotated} re-encrypted, {current} already current, {unreadable} unreadable, "
        f"{meanwhile} changed meanwhile (already written with the new key).\n"
    )


# -- Redis --------------------------------------------------------------------------------

#: The key a test run sets in the Redis database it uses (:func:`claim_redis_database`).
REDIS_CLAIM = "django-twitter-oauth-tests:claimed-by"
#: Redis's default number of databases (``databases`` in redis.conf).
REDIS_DATABASES = 16


def redis_connection(url: str) -> redis.Redis:
    """A client for the RQ tests' Redis; fails the test (no skip) when it is down."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.fail(
            f"Redis is not reachable at {url} ({exc}). Start Redis (make test expects it "
            "at REDIS_URL, default redis://127.0.0.1:6379/15) to run the RQ worker test."
        )
    return client


def claim_redis_database(
    url: str, connect: Callable[[str], redis.Redis] = redis_connection
) -> tuple[str, redis.Redis]:
    """A Redis database of its own for this test run: the first one, from ``url``'s on
    (then from 0), that holds no key, claimed by setting :data:`REDIS_CLAIM` in it. So two
    runs sharing a REDIS_URL (a contributor's and make test's, or two worktrees) never run
    each other's jobs nor empty each other's queues, and the database the run empties at
    the end held nothing of anyone else. Returns its URL and a client."""
    parts = urlsplit(url)
    first = int(parts.path.strip("/") or 0)
    run = f"{os.getpid()}-{uuid.uuid4().hex}"
    for number in [*range(first, REDIS_DATABASES), *range(first)]:
        candidate = urlunsplit(parts._replace(path=f"/{number}"))
        client = connect(candidate)
        try:
            # The claim first, then the count: of two runs racing for an empty database,
            # one sets the key, the other finds it taken (or counts two keys and moves on).
            if client.set(REDIS_CLAIM, run, nx=True, ex=3600):
                if client.dbsize() == 1:
                    return candidate, client
                client.delete(REDIS_CLAIM)
        except redis.ResponseError:  # a server configured with fewer databases
            pass
        client.close()
    pytest.fail(
        f"No empty Redis database on the server of {url} for the RQ worker test: every "
        "database holds keys. Empty one (redis-cli -n N flushdb) or point REDIS_URL at "
        "another server."
    )


def remaining() -> set[str]:
    """The Twitter user ids of the access tokens still stored."""
    return set(AccessToken.objects.values_list("twitter_user_id", flat=True))


def tokens_to_rotate(count: int, *, start: int = 1) -> list[AccessToken]:
    """``count`` stored tokens of one new user, with recognisable credentials."""
    user = make_user(f"owner{start}")
    return [
        make_token(
            user,
            twitter_user_id=str(number),
            screen_name=f"user{number}",
            token=f"{number}-rotateTOKEN{number:04d}",
            secret=f"rotateSECRET{number:04d}",
        )
        for number in range(start, start + count)
    ]


@contextlib.contextmanager
def runserver(project: Path, port: int, env: dict[str, str]) -> Iterator[str]:
    """``manage.py runserver`` of ``project`` on 127.0.0.1:``port`` until the block ends:
    its base URL once it listens (its banner printed). Should the banner never come, the
    server is killed, so the test fails instead of hanging."""
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=project,
        env={**env, "PYTHONUNBUFFERED": "1"},  # the banner must reach the pipe at once
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    watchdog = threading.Timer(60, server.kill)
    watchdog.start()
    try:
        assert server.stdout is not None
        line = "x"
        while line and "Quit the server" not in line:  # printed once it listens
            line = server.stdout.readline()
        assert line, "runserver exited before serving"
        watchdog.cancel()
        yield f"http://127.0.0.1:{port}"
    finally:
        watchdog.cancel()
        server.terminate()
        server.communicate(timeout=10)  # reaps it and closes the pipe
