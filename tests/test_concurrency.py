"""Concurrent work on one database: real threads, each with its own database connection.

Every race is forced rather than left to luck: a barrier or an :class:`Interleaving`
holds each side at the point where the other must act, and each test asserts that the
interleaving it aimed at was the one that ran. Each race runs :data:`ROUNDS` rounds;
the revocation racing a re-authorization also runs unforced.
Runs on PostgreSQL and on SQLite (the test database is then a file with IMMEDIATE
transactions, see tests/settings.py). docs/_reliability/concurrency.inc describes them.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import io
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from django.db import connections
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from django_twitter_oauth import fields, flow, revocation, rotation, views
from django_twitter_oauth.client import AccessTokenResult, TwitterClient
from django_twitter_oauth.exceptions import AuthorizationError
from django_twitter_oauth.models import (
    AccessToken,
    RequestToken,
    RequestTokenQuerySet,
    TokenEvent,
    with_users,
)
from django_twitter_oauth.revocation import iterate
from django_twitter_oauth.testing import FakeTwitter
from django_twitter_oauth.testing.provider import (
    ACCESS_TOKEN,
    INVALIDATE_TOKEN,
    USERS_ME,
)
from tests.utils import (
    SignalRecorder,
    browser,
    credentials,
    hold_tokens,
    make_request,
    make_user,
    signed_up_username,
    tokens_connection,
)

pytestmark = pytest.mark.django_db(transaction=True)

#: Rounds of each race.
ROUNDS = 4
#: Rounds of the race between a revocation and a re-authorization left to the threads.
UNFORCED_ROUNDS = 12
#: Threads completing one callback at once.
CALLBACKS = 6
#: Seconds a thread waits for its turn (or at a barrier) before the test fails.
WAIT = 20


def run_concurrently(*targets: Callable[[], Any]) -> list[Any]:
    """Run each target in its own thread, with its own database connection (closed when
    the thread ends); return what each returned, or the exception it raised."""
    outcomes: list[Any] = [None] * len(targets)

    def run(index: int, target: Callable[[], Any]) -> None:
        try:
            outcomes[index] = target()
        except Exception as exc:
            outcomes[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=3 * WAIT)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


class Interleaving:
    """Named steps of several threads run one at a time, in the given order: a step
    waits for its turn, and its end lets the next one go. ``done`` lists the steps that
    ran, in order, to assert that the interleaving aimed at was hit. Without an order
    the steps run as the threads reach them; ``done`` says in which order they ended."""

    def __init__(self, *order: str) -> None:
        self.order = order
        self.done: list[str] = []
        self._turn = threading.Condition()

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        if self.order:
            with self._turn:
                assert self._turn.wait_for(
                    lambda: self.order[len(self.done)] == name, timeout=WAIT
                ), f"{name} never got its turn after {self.done}"
        try:
            yield
        finally:
            with self._turn:
                self.done.append(name)
                self._turn.notify_all()


def come_back(url: str, cookies: dict[str, str], user: Any) -> HttpResponse:
    """The browser comes back from Twitter to ``url``, with its cookies and user."""
    request = RequestFactory().get(url)
    request.COOKIES.update(cookies)
    request.session, request.user = SessionStore(), user
    return views.callback(request)


# -- a) racing callbacks for one request token ------------------------------------------


@pytest.mark.parametrize("mode", ["connect", "sign-up"])
def test_racing_callbacks_for_one_request_token(
    fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """:data:`CALLBACKS` threads complete the same callback of the same browser at once.

    All of them reach the claim of the pending authorization together (the barrier), so
    only the claim decides (a DELETE: the database lets one of them delete the row).
    Exactly one links the account (or signs up a user), the others get a 400; Twitter
    is asked once; nothing is left over."""
    alice = make_user("alice")
    claim = RequestTokenQuerySet.claim
    barrier = threading.Barrier(CALLBACKS, timeout=WAIT)

    def wait_then_claim(self: RequestTokenQuerySet, *args: Any) -> RequestToken | None:
        barrier.wait()
        return claim(self, *args)

    monkeypatch.setattr(RequestTokenQuerySet, "claim", wait_then_claim)
    user = alice if mode == "connect" else AnonymousUser()
    for round_ in range(ROUNDS):
        account = str(1000 + round_)
        users_before = get_user_model().objects.count()
        with override_settings(TWITTER_OAUTH_ALLOW_SIGNUP=True):
            begun = flow.begin(make_request(user))
            oauth_token, cookies = begun.oauth_token, browser(begun.flow_key)
            callback = fake_twitter.authorize(
                oauth_token, user_id=account, screen_name=f"racer{account}"
            )
            with SignalRecorder() as sent:
                tab = functools.partial(come_back, callback, cookies, user)
                responses: list[HttpResponse] = run_concurrently(*[tab] * CALLBACKS)
        # A thread that never got through the barrier comes back as BrokenBarrierError.
        assert all(isinstance(response, HttpResponse) for response in responses), responses
        assert sorted(response.status_code for response in responses) == [302] + [400] * (
            CALLBACKS - 1
        )
        for response in responses:
            assert response.status_code == 302 or "already completed" in response.content.decode()
        token = AccessToken.objects.get(twitter_user_id=account)
        assert fake_twitter.access_token_valid(token.token)
        assert fake_twitter.count(ACCESS_TOKEN) == round_ + 1
        assert sorted(sent.names) == ["authorization_completed"] + ["authorization_failed"] * (
            CALLBACKS - 1
        )
        completed = [kwargs for name, kwargs in sent.sent if name == "authorization_completed"]
        assert completed[0]["token"] == token
        assert list(
            TokenEvent.objects.filter(twitter_user_id=account).values_list("action", flat=True)
        ) == [TokenEvent.Action.AUTHORIZED]
        assert not RequestToken.objects.exists()
        if mode == "connect":
            assert token.user == alice
            assert get_user_model().objects.count() == users_before
        else:
            assert token.user.get_username() == signed_up_username(f"racer{account}", account)
            assert get_user_model().objects.count() == users_before + 1
    assert AccessToken.objects.count() == ROUNDS


# -- b) a bulk revocation racing a re-authorization of the same account -----------------

#: Each order of the two sides' steps, once the revocation has read its selection
#: ("read"): the re-authorization asks Twitter for the access token ("exchange") and
#: stores it ("store"); the revocation invalidates the old token at Twitter
#: ("invalidate") and deletes what it revoked ("delete"). Twitter hands a user who
#: re-authorizes at the same level the token they already have while it is valid, and a
#: new one once it is invalidated: the re-authorization that asks Twitter first gets the
#: very token being revoked, which must not be kept; the one that asks after gets a new
#: token, which must be kept.
#:
#: With each order: what is left (the new token, or nothing), what the re-authorization
#: comes to, what the revocation reports, and whether the flow asks Twitter whether the
#: token it got is still valid (when a revocation of the account finished meanwhile;
#: None: it may).
REAUTHORIZATION_RACES: dict[str, tuple[tuple[str, ...], str, str, str, bool | None]] = {
    "same-token-stored-then-revoked": (
        ("read", "exchange", "store", "invalidate", "delete"),
        "nothing",
        "completed",
        "revoked",
        False,
    ),
    "same-token-stored-between-invalidate-and-delete": (
        ("read", "exchange", "invalidate", "store", "delete"),
        "nothing",
        "completed",
        "revoked",
        False,
    ),
    "same-token-stored-after-delete": (
        ("read", "exchange", "invalidate", "delete", "store"),
        "nothing",
        "refused",
        "revoked",
        True,
    ),
    "new-token-stored-before-delete": (
        ("read", "invalidate", "exchange", "store", "delete"),
        "new token",
        "completed",
        "kept",
        False,
    ),
    "new-token-stored-after-delete": (
        ("read", "invalidate", "exchange", "delete", "store"),
        "new token",
        "created",
        "revoked",
        True,
    ),
    # The flow notes the time before it calls Twitter and waits for its turn inside the
    # call: whether the revocation finished after that time (then the flow checks) is
    # left to the threads.
    "new-token-after-the-revocation": (
        ("read", "invalidate", "delete", "exchange", "store"),
        "new token",
        "created",
        "revoked",
        None,
    ),
}


def assert_consistent(fake: FakeTwitter, account: str, issued: str) -> None:
    """No row whose token Twitter no longer honours; no token Twitter issued and
    honours that the site lost."""
    rows = list(AccessToken.objects.filter(twitter_user_id=account))
    for row in rows:
        assert fake.access_token_valid(row.token)
    if fake.access_token_valid(issued):
        assert [row.token for row in rows] == [issued]


@dataclass
class Reauthorization:
    """One round of a bulk revocation racing a re-authorization: what came of it."""

    old: AccessToken  # the token held before
    issued: str  # the token Twitter returned to the re-authorization
    left: list[str]  # the tokens held for the account afterwards
    report: revocation.Report
    completed: Any  # flow.Completed, or what flow.complete raised
    steps: list[str]  # in the order they ended
    revoked_events: int
    asked_again: int  # calls to verify_credentials


@pytest.fixture
def race_reauthorization(
    fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch
) -> Callable[[tuple[str, ...], int], Reauthorization]:
    """Runs a bulk revocation (over a selection read as the command reads it) and a
    re-authorization of the same Twitter account at once, their steps in the order
    given (or as they come with none), and checks that the end is consistent (see
    :func:`assert_consistent`)."""
    state: dict[str, Any] = {}

    def in_turn(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            with state["interleaving"].step(name):
                return function(*args, **kwargs)

        return step

    fetch_access_token = TwitterClient.fetch_access_token

    def exchange(*args: Any, **kwargs: Any) -> AccessTokenResult:
        result = fetch_access_token(*args, **kwargs)
        state["issued"] = result.token
        return result

    monkeypatch.setattr(TwitterClient, "fetch_access_token", in_turn("exchange", exchange))
    monkeypatch.setattr(
        TwitterClient, "invalidate_token", in_turn("invalidate", TwitterClient.invalidate_token)
    )
    monkeypatch.setattr(flow, "_store", in_turn("store", flow._store))
    monkeypatch.setattr(
        revocation, "_delete_revoked", in_turn("delete", revocation._delete_revoked)
    )
    alice = make_user("alice")

    def race(order: tuple[str, ...], number: int) -> Reauthorization:
        account = str(2000 + number)
        (old,) = hold_tokens(1, twitter=fake_twitter, user=alice, start=int(account))
        begun = flow.begin(make_request(alice))
        oauth_token = begun.oauth_token
        request = make_request(alice, cookies=browser(begun.flow_key))
        verifier = fake_twitter.approve(oauth_token, user_id=account, screen_name="again")
        interleaving = state["interleaving"] = Interleaving(*order)
        verified_before = fake_twitter.count(USERS_ME)

        def selection() -> Iterator[AccessToken]:
            # The revocation command's own reading of its selection.
            with interleaving.step("read"):
                tokens = list(iterate(AccessToken.objects.filter(twitter_user_id=account), 500))
            yield from tokens

        report, completed = run_concurrently(
            lambda: revocation.revoke(selection(), reason="bulk", workers=2),
            functools.partial(flow.complete, request, oauth_token, verifier),
        )
        assert isinstance(report, revocation.Report), report
        assert not fake_twitter.access_token_valid(old.token)
        assert_consistent(fake_twitter, account, state["issued"])
        return Reauthorization(
            old=old,
            issued=state["issued"],
            left=[row.token for row in AccessToken.objects.filter(twitter_user_id=account)],
            report=report,
            completed=completed,
            steps=interleaving.done,
            revoked_events=TokenEvent.objects.filter(
                twitter_user_id=account, action="revoked"
            ).count(),
            asked_again=fake_twitter.count(USERS_ME) - verified_before,
        )

    return race


@pytest.mark.parametrize("race", REAUTHORIZATION_RACES)
def test_bulk_revocation_racing_a_reauthorization(
    race_reauthorization: Callable[[tuple[str, ...], int], Reauthorization], race: str
) -> None:
    """Each order of the two sides' steps ends as expected (and consistent)."""
    order, left, flow_outcome, revocation_outcome, asks_again = REAUTHORIZATION_RACES[race]
    for round_ in range(ROUNDS):
        result = race_reauthorization(order, round_)
        assert result.steps == list(order)  # the race aimed at is the one that ran
        if left == "nothing":
            assert result.issued == result.old.token  # Twitter handed back the same token
            assert result.left == []
        else:
            assert result.issued != result.old.token
            assert result.left == [result.issued]
        if flow_outcome == "refused":
            assert isinstance(result.completed, AuthorizationError), result.completed
            assert str(result.completed) == str(flow.REVOKED_MEANWHILE)
        else:
            assert isinstance(result.completed, flow.Completed), result.completed
            assert (result.completed.token.token, result.completed.created) == (
                result.issued,
                flow_outcome == "created",
            )
        if revocation_outcome == "revoked":
            assert result.report == revocation.Report(revoked=1)
            assert result.revoked_events == 1
        else:
            old = result.old
            assert result.report.failed == [
                revocation.Failure(
                    old.pk, old.twitter_user_id, old.screen_name, revocation.CHANGED_MEANWHILE
                )
            ]
            assert result.revoked_events == 0
        assert result.asked_again in ({0, 1} if asks_again is None else {int(asks_again)})


def test_bulk_revocation_racing_a_reauthorization_unforced(
    race_reauthorization: Callable[[tuple[str, ...], int], Reauthorization],
) -> None:
    """The same race left to the threads, :data:`UNFORCED_ROUNDS` rounds: whatever the
    order (or overlap) of the steps, the end is consistent and one of the expected."""
    for round_ in range(UNFORCED_ROUNDS):
        result = race_reauthorization((), round_)
        assert sorted(result.steps) == ["delete", "exchange", "invalidate", "read", "store"]
        # Everything revoked and gone, or the new token stored (and valid: see
        # assert_consistent).
        assert result.left in ([], [result.issued])
        assert result.report.done + len(result.report.failed) == 1
        assert result.revoked_events == result.report.done
        assert isinstance(result.completed, flow.Completed) or (
            str(result.completed) == str(flow.REVOKED_MEANWHILE)
        ), result.completed


# -- c) key rotation while the flow writes new tokens -----------------------------------


#: How every Fernet token starts (version byte 0x80, base64): a value decrypted to this
#: was encrypted twice.
FERNET_PREFIX = "gAAAAA"


def decrypted_with(key: str, value: bytes) -> str:
    """``value`` decrypted with ``key`` alone (InvalidToken if it was not written with it)."""
    with override_settings(FERNET_KEYS=[key]):
        return fields.build_fernet(primary_only=True).decrypt(value).decode()


def stored() -> dict[str, tuple[bytes, bytes]]:
    """The raw token and secret columns of every access token, by Twitter id."""
    with tokens_connection().cursor() as cursor:
        cursor.execute("SELECT twitter_user_id, token, secret FROM twitter_oauth_accesstoken")
        return {account: (bytes(key), bytes(secret)) for account, key, secret in cursor}


def changed_meanwhile(output: str) -> int:
    """The access tokens the rotation found rewritten between its read and its write."""
    found = re.search(r"Access tokens: .* (\d+) changed meanwhile", output)
    assert found is not None, output
    return int(found.group(1))


def test_key_rotation_while_the_flow_writes(
    fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rotation reads its first batch; before it writes it back, the flow
    re-authorizes an account of that batch (a new token, written with the new key), a
    site still configured with the old key alone re-authorizes another one, and new
    accounts are authorized. The rotation keeps both rewritten rows (compare-and-set)
    and picks up the new ones. Afterwards every row decrypts with the new key alone
    (the one written with the old key only after a second pass: the command guarantees
    one pass only when every writer already encrypts with the new key)."""
    readable_by = rotation._readable_by
    first_read = threading.Event()
    written = threading.Event()

    def hold_first_batch(key: Any, value: bytes) -> bool:
        if not first_read.is_set():
            # The first batch is read, nothing written back yet: the flow writes now.
            first_read.set()
            assert written.wait(WAIT)
        return readable_by(key, value)

    monkeypatch.setattr(rotation, "_readable_by", hold_first_batch)
    owner = make_user("owner")
    old = "tests-fernet-key-1"
    for round_ in range(ROUNDS):
        first_read.clear()
        written.clear()
        # The rows of the round alone: the first batch the rotation reads is theirs.
        AccessToken.objects.all().delete()
        new = f"rotation-key-{round_ + 1}"
        base = 3000 + 100 * round_
        with override_settings(FERNET_KEYS=[old]):
            held = hold_tokens(12, twitter=fake_twitter, user=owner, start=base + 1)
            expected = {token.twitter_user_id: token.token for token in held}
            accounts = {
                "current": str(base + 2),  # in the first batch, re-authorized
                "stale": str(base + 3),  # in the first batch, re-authorized by the old site
                "new": str(base + 50),
            }
            flows = {}
            for role, account in accounts.items():
                begun = flow.begin(make_request(owner))
                oauth_token = begun.oauth_token
                request = make_request(owner, cookies=browser(begun.flow_key))
                # Another access level: Twitter issues a new token (a lost write shows).
                verifier = fake_twitter.approve(oauth_token, user_id=account, access_level="read")
                flows[role] = functools.partial(flow.complete, request, oauth_token, verifier)

        def write(flows: dict[str, Any] = flows, old: str = old) -> dict[str, str]:
            assert first_read.wait(WAIT)
            try:
                issued = {"current": flows["current"]().token.token}
                with override_settings(FERNET_KEYS=[old]):
                    issued["stale"] = flows["stale"]().token.token
                issued["new"] = flows["new"]().token.token
            finally:
                written.set()
            return issued

        out = io.StringIO()
        with override_settings(FERNET_KEYS=[new, old]):
            # Smaller batches than the tokens held: the rotation reads several.
            rotate = functools.partial(
                call_command,
                "twitter_oauth_rotate_keys",
                batch_size=5,
                stdout=out,
                stderr=io.StringIO(),
            )
            rotated, issued = run_concurrently(rotate, write)
        assert rotated is None
        assert isinstance(issued, dict), issued
        expected.update((accounts[role], key) for role, key in issued.items())
        assert changed_meanwhile(out.getvalue()) == 2  # the interleaving was hit
        rows = stored()
        assert set(rows) == set(expected)  # none lost, none duplicated
        stale = rows.pop(accounts["stale"])
        for account, (raw_key, raw_secret) in rows.items():
            assert decrypted_with(new, raw_key) == expected[account]
            assert not decrypted_with(new, raw_secret).startswith(FERNET_PREFIX)
        # Written with the old key alone while the rotation ran: the next pass takes it.
        assert decrypted_with(old, stale[0]) == expected[accounts["stale"]]
        second = io.StringIO()
        with override_settings(FERNET_KEYS=[new, old]):
            call_command("twitter_oauth_rotate_keys", stdout=second, stderr=io.StringIO())
        assert "Access tokens: 1 re-encrypted" in second.getvalue()
        for account, (raw_key, raw_secret) in stored().items():
            assert decrypted_with(new, raw_key) == expected[account]
            assert not decrypted_with(new, raw_secret).startswith(FERNET_PREFIX)
        for account, key in expected.items():
            assert fake_twitter.access_token_valid(key), account
        old = new
    assert not RequestToken.objects.exists()


# -- d) two bulk revocations of overlapping selections ----------------------------------


def test_two_bulk_revocations_of_overlapping_selections(fake_twitter: FakeTwitter) -> None:
    """Two revocations over selections sharing five tokens, read in batches as the
    command reads them. Neither deletes anything before both have called Twitter for
    every token they selected (the barrier), so both call it for the shared ones and
    both then race to delete them. Twitter invalidates each token once (the second call
    finds it already invalid, which counts as done); each token gets one 'revoked'
    event and one signal; nothing is left."""
    owner = make_user("owner")
    for round_ in range(ROUNDS):
        base = 4000 + 100 * round_
        hold_tokens(15, twitter=fake_twitter, user=owner, start=base + 1)
        selections = (
            [str(base + number) for number in range(1, 11)],
            [str(base + number) for number in range(6, 16)],
        )
        all_called = threading.Barrier(2, timeout=WAIT)

        def revoke(accounts: list[str], all_called: threading.Barrier = all_called) -> Any:
            def progress(so_far: revocation.Report) -> None:
                if so_far.done + len(so_far.failed) + so_far.not_attempted == len(accounts):
                    all_called.wait()  # before this revocation deletes anything

            queryset = with_users(AccessToken.objects.all()).filter(twitter_user_id__in=accounts)
            return revocation.revoke(
                iterate(queryset, 4), reason="overlap", workers=3, progress=progress
            )

        calls_before = fake_twitter.count(INVALIDATE_TOKEN)
        with SignalRecorder() as sent:
            reports = run_concurrently(*(functools.partial(revoke, ids) for ids in selections))
        for report in reports:
            assert isinstance(report, revocation.Report), report
            assert report.ok
            assert report.revoked + report.already_invalid == 10
        # Both called Twitter for the five shared tokens: the second call found each
        # already invalid.
        assert sum(report.already_invalid for report in reports) == 5
        assert fake_twitter.count(INVALIDATE_TOKEN) - calls_before == 20
        every = {str(base + number) for number in range(1, 16)}
        assert not AccessToken.objects.filter(twitter_user_id__in=every).exists()
        for number in every:
            assert not fake_twitter.access_token_valid(credentials(int(number))[0])
        events = TokenEvent.objects.filter(twitter_user_id__in=every, action="revoked")
        assert collections.Counter(
            events.values_list("twitter_user_id", flat=True)
        ) == dict.fromkeys(every, 1)
        assert collections.Counter(
            kwargs["token"].twitter_user_id for _, kwargs in sent.sent
        ) == dict.fromkeys(every, 1)
        assert set(sent.names) == {"token_revoked"}
    assert not AccessToken.objects.exists()
