"""The fault matrix: every call to Twitter x every way it can fail, asserted end to end.

:data:`MATRIX` holds one row per call and fault: what the user sees (the page's status
and message, or the admin's message), how often Twitter was called (the retry policy),
what is left in the database and which signals went out. The tests run every row; the
docs' tables (docs/_reliability/faults.inc) are rendered from the same rows, and a test
keeps the two identical.

The faulted call is answered by ``responses``, in front of the fake: every other call
(the request token before a callback, the credential check after a partial access-token
answer) passes through to the signature-verifying :class:`FakeTwitter`.
"""

from __future__ import annotations

import html
import io
import json
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from django.contrib.auth import SESSION_KEY
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from django_twitter_oauth import _pool, revocation
from django_twitter_oauth.models import AccessToken, RequestToken, TokenEvent
from django_twitter_oauth.testing import FakeTwitter
from django_twitter_oauth.testing.provider import (
    ACCESS_TOKEN,
    CALLBACK_NOT_APPROVED,
    DESKTOP_ONLY_XML,
    HTML,
    INVALIDATE_TOKEN,
    JSON,
    REQUEST_TOKEN,
    VERIFY_CREDENTIALS,
    twitter_error,
)
from tests.utils import SECRET, TOKEN, SignalRecorder, make_superuser, make_token, make_user

pytestmark = pytest.mark.django_db

FAULTS_INC = Path(__file__).resolve().parent.parent / "docs" / "_reliability" / "faults.inc"
API = "https://api.twitter.com"
CONSUMER_SECRET = "tests-consumer-secret"
USER_ID, SCREEN_NAME = "42", "jack"
# What a faulted request-token answer hands out (never stored: every such row fails).
REQUEST_KEY = "NPcudxy0yU5T3tBzho7iCotZ3cnetKwcTIRlX0iwRl0"
REQUEST_SECRET = "veNRnAWe6inFuo8o2u8SLLZLjolYDmDP7SzL0YfYI"
# What the user held before re-authorizing, in the access-token rows.
OLD_TOKEN = "6253282-oldTOKENoldTOKENoldTOKENoldTOKENold"
OLD_SECRET = "oldSECRETsecretOLDsecretOLDsecretOLDsecret"

# -- the calls ----------------------------------------------------------------------------

ENDPOINTS = {
    "request token": REQUEST_TOKEN,
    "access token": ACCESS_TOKEN,
    "verify": VERIFY_CREDENTIALS,
    "invalidate": INVALIDATE_TOKEN,
}
METHODS = {"verify": responses.GET}
#: What each call's table is about, in the docs.
WHERE = {
    "request token": "``POST oauth/request_token``, from the ``begin`` view",
    "access token": (
        "``POST oauth/access_token``, from the ``callback`` view (the ``pin`` form gives "
        "the same outcome in every row)"
    ),
    "verify": (
        "``GET 1.1/account/verify_credentials.json`` (``TWITTER_OAUTH_VERIFY_ENDPOINT`` "
        "set to it), from the admin's ``verify_selected`` (``revocation.verify``)"
    ),
    "invalidate": (
        "``POST 1.1/oauth/invalidate_token``, from the admin's ``revoke_selected`` "
        "(``revocation.revoke``, which ``twitter_oauth_revoke`` and the tasks use too)"
    ),
}
#: Each call's normal answer, which the body faults cut short or leave fields out of.
NORMAL: dict[str, dict[str, Any]] = {
    "request token": {
        "oauth_token": REQUEST_KEY,
        "oauth_token_secret": REQUEST_SECRET,
        "oauth_callback_confirmed": "true",
    },
    "access token": {
        "oauth_token": TOKEN,
        "oauth_token_secret": SECRET,
        "user_id": USER_ID,
        "screen_name": SCREEN_NAME,
    },
    "verify": {"id": int(USER_ID), "id_str": USER_ID, "screen_name": SCREEN_NAME},
    "invalidate": {"access_token": TOKEN},
}
JSON_CALLS = ("verify", "invalidate")


def encode(call: str, fields: dict[str, Any]) -> bytes:
    """A body as Twitter writes it for ``call``: JSON, or form-encoded (labelled HTML)."""
    if call in JSON_CALLS:
        return json.dumps(fields).encode()
    return "&".join(f"{name}={value}" for name, value in fields.items()).encode()


def ok_headers(call: str) -> dict[str, str]:
    return {"content-type": JSON if call in JSON_CALLS else HTML, "x-access-level": "read-write"}


# -- the faults ---------------------------------------------------------------------------

Answer = tuple[int, dict[str, str], Any]
Fault = Callable[[str], Answer]


class ResetSocket(io.RawIOBase):
    """Delivers ``data``, then the peer resets the connection."""

    def __init__(self, data: bytes) -> None:
        self.data: bytes | None = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.data is None:
            raise ConnectionResetError(104, "Connection reset by peer")
        data, self.data = self.data, None
        buffer[: len(data)] = data
        return len(data)


def raising(exc: Exception) -> Fault:
    def fault(call: str) -> Answer:
        raise exc

    return fault


def reset_mid_body(call: str) -> Answer:
    body = encode(call, NORMAL[call])
    return 200, ok_headers(call), io.BufferedReader(ResetSocket(body[: len(body) // 2]))


def truncated(call: str) -> Answer:
    """The connection closes before Content-Length bytes arrived."""
    body = encode(call, NORMAL[call])
    return 200, {**ok_headers(call), "content-length": str(len(body))}, body[: len(body) // 2]


def answer(status: int, body: str, kind: str = JSON) -> Fault:
    return lambda call: (status, {"content-type": kind}, body)


def changed(*without: str, **values: str) -> Fault:
    """The normal answer without some fields, or with other values."""

    def fault(call: str) -> Answer:
        fields = {k: v for k, v in NORMAL[call].items() if k not in without}
        return 200, ok_headers(call), encode(call, {**fields, **values})

    return fault


def rate_limited(*, reset: bool) -> Fault:
    def fault(call: str) -> Answer:
        headers = {"content-type": JSON, "x-rate-limit-limit": "15", "x-rate-limit-remaining": "0"}
        if reset:
            # Two minutes away: beyond what the admin waits for (10 s).
            headers["x-rate-limit-reset"] = str(int(time.time()) + 120)
        return 429, headers, twitter_error(88, "Rate limit exceeded.")

    return fault


TECHNICALLY_WRONG = (
    "<!DOCTYPE html><html><head><title>Twitter / Error</title></head><body>"
    "<h1>Something is technically wrong.</h1><p>Thanks for noticing.</p></body></html>"
)
BAD_GATEWAY = "<html><body><h1>502 Bad Gateway</h1></body></html>"
REFUSED = requests.ConnectionError(
    NewConnectionError(None, "Failed to establish a new connection: [Errno 111] refused")  # type: ignore[arg-type]
)

FAULTS: dict[str, Fault] = {
    "connection refused": raising(REFUSED),
    "connection reset mid-body": reset_mid_body,
    "connect timeout": raising(requests.ConnectTimeout("connect timed out")),
    "read timeout": raising(requests.ReadTimeout("read timed out")),
    "500 (code 131)": answer(500, twitter_error(131, "Internal error.")),
    "502 (HTML page)": answer(502, BAD_GATEWAY, HTML),
    "503 (code 130)": answer(503, twitter_error(130, "Over capacity.")),
    "429 with x-rate-limit-reset": rate_limited(reset=True),
    "429 without x-rate-limit-reset": rate_limited(reset=False),
    "401 code 32": answer(401, twitter_error(32, "Could not authenticate you.")),
    "401 code 89": answer(401, twitter_error(89, "Invalid or expired token.")),
    "403 code 89": answer(403, twitter_error(89, "Invalid or expired token.")),
    "403 code 415 (XML)": answer(
        403,
        '<?xml version="1.0" encoding="UTF-8"?><errors><error code="415">'
        f"{CALLBACK_NOT_APPROVED}</error></errors>",
        "application/xml",
    ),
    "401 code 417 (XML)": answer(401, DESKTOP_ONLY_XML, "application/xml"),
    "401 code 135": answer(
        401, json.dumps({"errors": [{"message": "Timestamp out of bounds", "code": 135}]})
    ),
    "HTML page, 200": answer(200, TECHNICALLY_WRONG, HTML),
    "HTML page, 503": answer(503, TECHNICALLY_WRONG, HTML),
    "empty body, 200": answer(200, "", HTML),
    "truncated body": truncated,
    "no oauth_token": changed("oauth_token"),
    "no oauth_token_secret": changed("oauth_token_secret"),
    "no oauth_callback_confirmed": changed("oauth_callback_confirmed"),
    "oauth_callback_confirmed=false": changed(oauth_callback_confirmed="false"),
    "no user_id": changed("user_id"),
    "no screen_name": changed("screen_name"),
    "no id_str (id given)": changed("id_str"),
    "no id_str, no id": changed("id_str", "id"),
    "no access_token": changed("access_token"),
}

# -- the matrix ---------------------------------------------------------------------------

# Outcomes: the page's status in the flow; what the admin reports for verify/invalidate.
P502, P503, P400, COMPLETED = "502", "503, Retry-After", "400", "302, completed"
FAILED, NOT_ATTEMPTED, VERIFIED = "failed", "not attempted", "verified"
FOUND_INVALID, REVOKED, ALREADY_INVALID = "found invalid", "revoked", "already invalid"

#: What is left in the database, by key (tests check each; the docs say it in words).
DB = {
    "none": "no request token stored",
    "consumed": "request token consumed; the user's access token unchanged, no event",
    "stored": "request token consumed; access token replaced, ``re-authorized`` event",
    "kept": "token kept unchanged; no event",
    "verified": "token kept, ``verified_at`` set; no event",
    "found invalid": "token kept; ``found invalid`` event",
    "revoked": "token deleted; ``revoked`` event",
}
ADMIN_DB = {
    FAILED: "kept",
    NOT_ATTEMPTED: "kept",
    VERIFIED: "verified",
    FOUND_INVALID: "found invalid",
    REVOKED: "revoked",
    ALREADY_INVALID: "revoked",
}


@dataclass(frozen=True)
class Row:
    """One cell of the matrix.

    ``outcome``: the page's status, or what the admin action reports for the token;
    ``tries``: calls made to the faulted endpoint (retries included); ``message``: part of
    what the visitor reads on the page, or the staff member in the admin's messages;
    ``error``: the ``error`` sent with ``authorization_failed`` (flow only); ``hint``:
    part of the staff-only hint on the page; ``db``: a key of :data:`DB`.
    """

    call: str
    fault: str
    outcome: str
    tries: int
    message: str
    db: str
    error: str = ""
    hint: str = ""

    @property
    def signals(self) -> str:
        if self.outcome == COMPLETED:
            return "authorization_completed"
        if self.error:
            return f"authorization_failed ({self.error})"
        return "token_revoked" if self.db == "revoked" else "none"


def flow_row(call: str, fault: str, outcome: str, message: str, error: str, hint: str = "") -> Row:
    return Row(
        call,
        fault,
        outcome,
        1,
        message,
        "none" if call == "request token" else "consumed",
        error,
        hint,
    )


def admin_row(call: str, fault: str, outcome: str, tries: int, message: str) -> Row:
    return Row(call, fault, outcome, tries, message, ADMIN_DB[outcome])


# What the visitor's page says.
UNREACHABLE = "Twitter could not be reached or gave an answer this site does not understand."
BUSY = "Twitter asked this site to slow down."
MISCONFIGURED = "This site's Twitter app settings need attention."
NOT_ACCEPTED = "The PIN or the link from Twitter was not accepted"
# The staff-only hints.
KEYS = "Check TWITTER_OAUTH_CONSUMER_KEY and TWITTER_OAUTH_CONSUMER_SECRET."
CLOCK = "Check this server's clock"
DESKTOP = "Twitter treats the app as a desktop (PIN-only) app"
APPROVE = "Add this exact URL"
SITE_FAULT = "Check the app's keys, permissions and callback URLs"
# Exceptions.
UNAVAILABLE, MALFORMED, REJECTED = "TwitterUnavailable", "MalformedResponse", "TwitterRejected"
RATE, INVALID, CALLBACK = "TwitterRateLimited", "TokenInvalid", "CallbackNotApproved"
CONFIGURATION = "ConfigurationRejected"
# The calls, short.
RT, AT, VC, IT = "request token", "access token", "verify", "invalidate"
# The admin's messages (the failure's reason, for most).
NOT_REACHED = "Could not reach Twitter for {}: "
LIMIT = "not attempted (Twitter rate limit); it is kept. Try again later."
VERIFY_LIMIT = f"could not be verified: {revocation.VERIFY_RATE_LIMITED}"
NOT_JSON = "Twitter's answer to {} is not JSON."


def _admin_rows(call: str, endpoint: str) -> list[Row]:
    """The rows verify and invalidate share (their outcomes differ only on code 89)."""
    invalid, invalid_message = (
        (FOUND_INVALID, "Twitter says 1 token is invalid.")
        if call == VC
        else (ALREADY_INVALID, "1 token revoked at Twitter and deleted.")
    )
    return [
        admin_row(
            call, "connection refused", FAILED, 3, NOT_REACHED.format(endpoint) + "ConnectionError"
        ),
        admin_row(
            call,
            "connection reset mid-body",
            FAILED,
            3,
            NOT_REACHED.format(endpoint) + "ChunkedEncodingError",
        ),
        admin_row(
            call, "connect timeout", FAILED, 3, NOT_REACHED.format(endpoint) + "ConnectTimeout"
        ),
        admin_row(call, "read timeout", FAILED, 3, NOT_REACHED.format(endpoint) + "ReadTimeout"),
        admin_row(
            call, "500 (code 131)", FAILED, 3, f"Twitter failed on {endpoint} (HTTP 500, code 131"
        ),
        admin_row(call, "502 (HTML page)", FAILED, 3, f"on {endpoint} (HTTP 502, {BAD_GATEWAY})"),
        admin_row(
            call, "503 (code 130)", FAILED, 3, f"Twitter failed on {endpoint} (HTTP 503, code 130"
        ),
        admin_row(
            call,
            "429 with x-rate-limit-reset",
            NOT_ATTEMPTED,
            1,
            VERIFY_LIMIT if call == VC else LIMIT,
        ),
        admin_row(
            call,
            "429 without x-rate-limit-reset",
            NOT_ATTEMPTED,
            1,
            VERIFY_LIMIT if call == VC else LIMIT,
        ),
        admin_row(call, "401 code 32", FAILED, 1, KEYS),
        admin_row(call, "401 code 89", invalid, 1, invalid_message),
        admin_row(call, "403 code 89", invalid, 1, invalid_message),
        admin_row(
            call,
            "403 code 415 (XML)",
            FAILED,
            1,
            f"Twitter did not approve the callback URL ({endpoint}, HTTP 403, code 415",
        ),
        admin_row(call, "401 code 417 (XML)", FAILED, 1, DESKTOP),
        admin_row(call, "401 code 135", FAILED, 1, CLOCK),
        admin_row(call, "HTML page, 200", FAILED, 1, NOT_JSON.format(endpoint)),
        admin_row(call, "HTML page, 503", FAILED, 3, f"Twitter failed on {endpoint} (HTTP 503"),
        admin_row(call, "empty body, 200", FAILED, 1, NOT_JSON.format(endpoint)),
        admin_row(
            call, "truncated body", FAILED, 3, NOT_REACHED.format(endpoint) + "ChunkedEncodingError"
        ),
    ]


MATRIX: list[Row] = [
    flow_row(RT, "connection refused", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(RT, "connection reset mid-body", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(RT, "connect timeout", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(RT, "read timeout", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(RT, "500 (code 131)", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(RT, "502 (HTML page)", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(RT, "503 (code 130)", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(RT, "429 with x-rate-limit-reset", P503, BUSY, RATE),
    flow_row(RT, "429 without x-rate-limit-reset", P503, BUSY, RATE),
    flow_row(RT, "401 code 32", P502, MISCONFIGURED, CONFIGURATION, KEYS),
    # A request token carries no token of the user's: any refusal is the site's.
    flow_row(RT, "401 code 89", P502, MISCONFIGURED, CONFIGURATION, SITE_FAULT),
    flow_row(RT, "403 code 89", P502, MISCONFIGURED, CONFIGURATION, SITE_FAULT),
    flow_row(RT, "403 code 415 (XML)", P502, MISCONFIGURED, CALLBACK, APPROVE),
    flow_row(RT, "401 code 417 (XML)", P502, MISCONFIGURED, CONFIGURATION, DESKTOP),
    flow_row(RT, "401 code 135", P502, MISCONFIGURED, CONFIGURATION, CLOCK),
    flow_row(RT, "HTML page, 200", P502, UNREACHABLE, MALFORMED),
    flow_row(RT, "HTML page, 503", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(RT, "empty body, 200", P502, UNREACHABLE, MALFORMED),
    flow_row(RT, "truncated body", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(RT, "no oauth_token", P502, UNREACHABLE, MALFORMED),
    flow_row(RT, "no oauth_token_secret", P502, UNREACHABLE, MALFORMED),
    flow_row(RT, "no oauth_callback_confirmed", P502, UNREACHABLE, MALFORMED),
    flow_row(RT, "oauth_callback_confirmed=false", P502, UNREACHABLE, MALFORMED),
    flow_row(AT, "connection refused", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(AT, "connection reset mid-body", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(AT, "connect timeout", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(AT, "read timeout", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(AT, "500 (code 131)", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(AT, "502 (HTML page)", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(AT, "503 (code 130)", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(AT, "429 with x-rate-limit-reset", P503, BUSY, RATE),
    flow_row(AT, "429 without x-rate-limit-reset", P503, BUSY, RATE),
    flow_row(AT, "401 code 32", P502, MISCONFIGURED, CONFIGURATION, KEYS),
    flow_row(AT, "401 code 89", P400, NOT_ACCEPTED, INVALID),
    flow_row(AT, "403 code 89", P400, NOT_ACCEPTED, INVALID),
    flow_row(AT, "403 code 415 (XML)", P502, MISCONFIGURED, CALLBACK, APPROVE),
    flow_row(AT, "401 code 417 (XML)", P502, MISCONFIGURED, CONFIGURATION, DESKTOP),
    flow_row(AT, "401 code 135", P502, MISCONFIGURED, CONFIGURATION, CLOCK),
    flow_row(AT, "HTML page, 200", P502, UNREACHABLE, MALFORMED),
    flow_row(AT, "HTML page, 503", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(AT, "empty body, 200", P502, UNREACHABLE, MALFORMED),
    flow_row(AT, "truncated body", P502, UNREACHABLE, UNAVAILABLE),
    flow_row(AT, "no oauth_token", P502, UNREACHABLE, MALFORMED),
    flow_row(AT, "no oauth_token_secret", P502, UNREACHABLE, MALFORMED),
    # Twitter's docs do not promise these two: the flow asks who the token is instead.
    Row(AT, "no user_id", COMPLETED, 1, "", "stored"),
    Row(AT, "no screen_name", COMPLETED, 1, "", "stored"),
    *_admin_rows(VC, VERIFY_CREDENTIALS),
    admin_row(VC, "no id_str (id given)", VERIFIED, 1, "1 token verified."),
    admin_row(VC, "no id_str, no id", FAILED, 1, "lacked the user id"),
    admin_row(VC, "no screen_name", FAILED, 1, "lacked the screen name"),
    *_admin_rows(IT, INVALIDATE_TOKEN),
    admin_row(IT, "no access_token", FAILED, 1, "did not confirm"),
]


def rows(*calls: str) -> list[Any]:
    prefix = len(calls) > 1
    return [
        pytest.param(row, id=f"{row.call}: {row.fault}" if prefix else row.fault)
        for row in MATRIX
        if row.call in calls
    ]


# -- injecting a fault --------------------------------------------------------------------


class Faults:
    """``responses`` in front of the fake: the faulted endpoint is answered here, and
    every other call passes through to the FakeTwitter started before."""

    def __init__(self) -> None:
        self.mock = responses.RequestsMock(
            assert_all_requests_are_fired=False,
            # The send() the fake patched in: calls this mock does not answer go there.
            real_adapter_send=HTTPAdapter.send,
            passthru_prefixes=(API,),
        )

    def inject(self, call: str, fault: str | Fault) -> None:
        """Every call of ``call``'s endpoint from now on meets ``fault`` (a name in
        :data:`FAULTS`, or a fault of its own)."""
        answer = FAULTS[fault] if isinstance(fault, str) else fault
        self.mock.add_callback(
            METHODS.get(call, responses.POST),
            f"{API}/{ENDPOINTS[call]}",
            callback=lambda request: answer(call),
            content_type=None,
        )

    @property
    def tries(self) -> int:
        return len(self.mock.calls)


@pytest.fixture(autouse=True)
def verify_through_v1(settings: Settings) -> None:
    """The verify rows (and the check after a partial access-token answer) fault v1.1's
    answers; the default ``2/users/me`` meets the tiers in tests/test_tiers.py."""
    settings.TWITTER_OAUTH_VERIFY_ENDPOINT = VERIFY_CREDENTIALS


@pytest.fixture
def faults(fake_twitter: FakeTwitter) -> Iterator[Faults]:
    injector = Faults()
    with injector.mock:
        yield injector


class StoppedClock:
    """The worker pool's clock: time stands still, and the backoff is recorded, not slept."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return 1000.0

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    clock = StoppedClock()
    monkeypatch.setattr(_pool, "time", clock)
    return clock.slept


SECRETS = (CONSUMER_SECRET, TOKEN, SECRET, REQUEST_SECRET)


def assert_no_secret(text: str, *more: str) -> None:
    for value in (*SECRETS, *more):
        assert value not in text


# -- the flow -----------------------------------------------------------------------------

STATUS = {P502: 502, P503: 503, P400: 400, COMPLETED: 302}


def check_page(response: Any, row: Row, sent: SignalRecorder, *secrets: str) -> None:
    assert response.status_code == STATUS[row.outcome]
    page = html.unescape(response.content.decode())
    assert row.message in page
    if row.outcome == P503:
        assert 1 <= int(response["Retry-After"]) <= 121
    else:
        assert not response.has_header("Retry-After")
    if row.hint:
        assert "For the site's staff:" in page  # the user is staff
        assert row.hint in page
    else:
        assert "For the site's staff:" not in page
    assert_no_secret(page, *secrets)
    if row.outcome == COMPLETED:
        assert sent.names == ["authorization_completed"]
    else:
        assert type(sent.only("authorization_failed")["error"]).__name__ == row.error


@pytest.mark.parametrize("row", rows(RT))
def test_request_token(
    row: Row,
    client: Client,
    faults: Faults,
    sent: SignalRecorder,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client.force_login(make_user("staff", is_staff=True))
    faults.inject(RT, row.fault)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("twitter_oauth:begin"), {"next": "/after/"})
    check_page(response, row, sent)
    assert faults.tries == row.tries
    assert row.db == "none"
    assert not RequestToken.objects.exists()
    assert_no_secret(caplog.text)


@pytest.mark.parametrize("view", ["callback", "pin"])
@pytest.mark.parametrize("row", rows(AT))
def test_access_token(
    row: Row,
    view: str,
    client: Client,
    fake_twitter: FakeTwitter,
    faults: Faults,
    sent: SignalRecorder,
    settings: Settings,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    staff = make_user("staff", is_staff=True)
    # Re-authorizing an account already linked: a failure must leave the old token as it was.
    old = make_token(
        staff, twitter_user_id=USER_ID, screen_name="old_name", token=OLD_TOKEN, secret=OLD_SECRET
    )
    client.force_login(staff)
    if view == "pin":
        settings.TWITTER_OAUTH_CALLBACK_URL = "oob"
    begun = client.post(reverse("twitter_oauth:begin"))
    assert begun.status_code == 302
    pending = RequestToken.objects.get()
    # Only its hash is stored: the request token comes from the redirect, as at Twitter.
    oauth_token = urllib.parse.parse_qs(urllib.parse.urlsplit(begun["Location"]).query)[
        "oauth_token"
    ][0]
    verifier = fake_twitter.approve(oauth_token, user_id=USER_ID, screen_name=SCREEN_NAME)
    # The token a partial answer hands out, for the credential check that follows it.
    fake_twitter.add_access_token(TOKEN, SECRET, user_id=USER_ID, screen_name=SCREEN_NAME)
    faults.inject(AT, row.fault)

    def complete() -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            if view == "pin":
                data = {"oauth_token": oauth_token, "pin": verifier}
                return client.post(reverse("twitter_oauth:pin"), data)
            return client.get(fake_twitter.redirect_url(oauth_token, verifier))

    response = complete()
    check_page(response, row, sent, pending.secret, verifier, OLD_TOKEN, OLD_SECRET)
    assert faults.tries == row.tries
    # Sent again (a reload, the back button): refused without calling Twitter.
    again = complete()
    assert again.status_code == 400
    assert "This authorization is unknown or was already completed." in html.unescape(
        again.content.decode()
    )
    assert faults.tries == row.tries
    # Consumed either way: a retry of the same link is refused, the user starts again.
    assert not RequestToken.objects.exists()
    assert client.session[SESSION_KEY] == str(staff.pk)
    token = AccessToken.objects.get()  # never a second row
    assert (token.pk, token.user, token.twitter_user_id) == (old.pk, staff, USER_ID)
    events = list(TokenEvent.objects.values_list("action", flat=True))
    if row.db == "stored":
        assert (token.token, token.secret, token.screen_name) == (TOKEN, SECRET, SCREEN_NAME)
        assert events == [TokenEvent.Action.REAUTHORIZED]
        assert fake_twitter.count(VERIFY_CREDENTIALS) == 1
    else:
        assert row.db == "consumed"
        assert (token.token, token.secret, token.screen_name) == (OLD_TOKEN, OLD_SECRET, "old_name")
        assert token.updated_at == old.updated_at
        assert events == []
    assert_no_secret(caplog.text, pending.secret, verifier, OLD_TOKEN, OLD_SECRET)


# -- verify and invalidate, from the admin ------------------------------------------------

ACTIONS = {VC: "verify_selected", IT: "revoke_selected"}


def run_admin_action(
    row: Row,
    client: Client,
    fake_twitter: FakeTwitter,
    faults: Faults,
    capture: DjangoCaptureOnCommitCallbacks,
    fault: Fault | None = None,
) -> tuple[AccessToken, list[str]]:
    client.force_login(make_superuser())
    token = make_token(make_user("alice"), twitter_user_id=USER_ID, screen_name=SCREEN_NAME)
    fake_twitter.add_access_token(TOKEN, SECRET, user_id=USER_ID, screen_name=SCREEN_NAME)
    faults.inject(row.call, fault or row.fault)
    data = {"action": ACTIONS[row.call], "_selected_action": [token.pk]}
    if row.call == IT:
        data["post"] = "yes"  # past the confirmation page
    with capture(execute=True):
        response = client.post(reverse("admin:twitter_oauth_accesstoken_changelist"), data)
    # Tokens Twitter says are invalid: the discard confirmation page, for staff to decide.
    assert response.status_code == (200 if row.outcome == FOUND_INVALID else 302)
    return token, [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("row", rows(VC, IT))
def test_verify_and_invalidate(
    row: Row,
    client: Client,
    fake_twitter: FakeTwitter,
    faults: Faults,
    sent: SignalRecorder,
    slept: list[float],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token, messages = run_admin_action(
        row, client, fake_twitter, faults, django_capture_on_commit_callbacks
    )
    assert any(row.message in message for message in messages), messages
    for message in messages:
        assert_no_secret(message)
    assert_no_secret(caplog.text)
    # The retry policy: a 5xx or a connection error is tried three times, with backoff.
    assert faults.tries == row.tries
    assert slept == (list(revocation.RETRY_BACKOFF) if row.tries == 3 else [])
    events = list(TokenEvent.objects.values_list("action", flat=True))
    row_now = AccessToken.objects.filter(pk=token.pk).first()
    if row.db == "revoked":
        assert row_now is None
        assert events == [TokenEvent.Action.REVOKED]
        assert sent.names == ["token_revoked"]
    else:
        assert row_now is not None
        assert (row_now.token, row_now.secret, row_now.updated_at) == (
            TOKEN,
            SECRET,
            token.updated_at,
        )
        assert events == ([TokenEvent.Action.FOUND_INVALID] if row.db == "found invalid" else [])
        assert (row_now.verified_at is not None) == (row.db == "verified")
        assert sent.names == []


def test_invalidate_answer_lost_after_twitter_revoked(
    client: Client,
    fake_twitter: FakeTwitter,
    faults: Faults,
    sent: SignalRecorder,
    slept: list[float],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    """Twitter revokes the token but its answer is lost (a read timeout): the retry gets
    code 89, which counts as revoked; the token is deleted and signalled once."""
    tries: list[str] = []

    def revoked_then_lost(call: str) -> Answer:
        tries.append(call)
        if len(tries) == 1:
            assert fake_twitter.invalidate(TOKEN)
            raise requests.ReadTimeout("read timed out")
        return FAULTS["401 code 89"](call)

    row = Row(IT, "", ALREADY_INVALID, 2, "", "revoked")
    _, messages = run_admin_action(
        row, client, fake_twitter, faults, django_capture_on_commit_callbacks, revoked_then_lost
    )
    assert messages == ["1 token revoked at Twitter and deleted."]
    assert faults.tries == 2
    assert slept == [revocation.RETRY_BACKOFF[0]]
    assert not AccessToken.objects.exists()
    assert list(TokenEvent.objects.values_list("action", flat=True)) == ["revoked"]
    assert sent.names == ["token_revoked"]


COMMAND_SAYS = {
    NOT_ATTEMPTED: "Not attempted: 1",
    ALREADY_INVALID: "Revoked: 1 (already invalid at Twitter: 1)",
}


@pytest.mark.parametrize("row", rows(IT))
def test_invalidate_from_the_command(
    row: Row,
    fake_twitter: FakeTwitter,
    faults: Faults,
    sent: SignalRecorder,
    slept: list[float],
    settings: Settings,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    """twitter_oauth_revoke meets the same faults as the admin, through the same service."""
    settings.TWITTER_OAUTH_RATE_LIMIT_MAX_WAIT = 10  # as the admin: a 429 is not waited for
    make_token(make_user("alice"), twitter_user_id=USER_ID, screen_name=SCREEN_NAME)
    fake_twitter.add_access_token(TOKEN, SECRET, user_id=USER_ID, screen_name=SCREEN_NAME)
    faults.inject(IT, row.fault)
    stdout = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        if row.db == "kept":
            with pytest.raises(CommandError, match="still here"):
                call_command("twitter_oauth_revoke", "--all", "--noinput", stdout=stdout)
        else:
            call_command("twitter_oauth_revoke", "--all", "--noinput", stdout=stdout)
    output = stdout.getvalue()
    assert COMMAND_SAYS.get(row.outcome, row.message) in output
    assert_no_secret(output)
    assert faults.tries == row.tries
    assert slept == (list(revocation.RETRY_BACKOFF) if row.tries == 3 else [])
    assert AccessToken.objects.exists() == (row.db == "kept")
    events = list(TokenEvent.objects.values_list("action", flat=True))
    assert events == ([TokenEvent.Action.REVOKED] if row.db == "revoked" else [])
    assert sent.names == (["token_revoked"] if row.db == "revoked" else [])


class JumpingClock:
    """The worker pool's clock, 1000 s later at every reading: every wait for a rate limit's
    reset is over at once. It has no sleep(): no backoff is expected."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 1000.0
        return self.now


@pytest.mark.parametrize("fault", ["429 with x-rate-limit-reset", "429 without x-rate-limit-reset"])
def test_a_rate_limit_that_never_lifts(
    fault: str,
    fake_twitter: FakeTwitter,
    faults: Faults,
    sent: SignalRecorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the default longest wait (900 s), the command waits for each reset and tries
    again, but a 429 that never lifts ends the run after MAX_RATE_LIMIT_WAITS waits (it
    used to wait forever): every token is kept, reported not attempted."""
    monkeypatch.setattr(_pool, "time", JumpingClock())
    user = make_user("alice")
    for number in (1, 2):
        make_token(user, twitter_user_id=str(number), token=f"{number}-{TOKEN}", secret=SECRET)
    faults.inject(IT, fault)
    stdout = io.StringIO()
    with pytest.raises(CommandError, match="still here"):
        call_command("twitter_oauth_revoke", "--all", "--noinput", "--workers=1", stdout=stdout)
    assert faults.tries == revocation.MAX_RATE_LIMIT_WAITS + 1
    assert "Not attempted: 2" in stdout.getvalue()
    assert AccessToken.objects.count() == 2
    assert not TokenEvent.objects.exists()
    assert sent.names == []


# -- the docs -----------------------------------------------------------------------------


def _literal(text: str) -> str:
    return f"``{text}``" if text else ""


def render_tables() -> str:
    """The docs' tables: one list-table per call, a row per fault, after the figures."""
    cells = {call: sum(row.call == call for row in MATRIX) for call in WHERE}
    out = [
        f"{len(MATRIX)} cells ({', '.join(f'{n} for {call}' for call, n in cells.items())}),"
        f" run as {len(MATRIX) + cells[AT] + cells[IT]} tests: the access-token rows also"
        " through the ``pin`` form, the invalidate rows also through ``twitter_oauth_revoke``.",
        "",
    ]
    for call, where in WHERE.items():
        out += [
            f".. list-table:: {where}",
            "   :header-rows: 1",
            "   :widths: 22 12 6 30 18 12",
            "",
            "   * - Fault",
            "     - Outcome",
            "     - Tries",
            "     - Message (part)",
            "     - Database",
            "     - Signals",
        ]
        for row in MATRIX:
            if row.call == call:
                message = _literal(row.message) or "none: redirected to ``next``"
                if row.hint:
                    message += f"; staff also see {_literal(row.hint)}"
                out += [
                    f"   * - {row.fault}",
                    f"     - {row.outcome}",
                    f"     - {row.tries}",
                    f"     - {message}",
                    f"     - {DB[row.db]}",
                    f"     - ``{row.signals}``",
                ]
        out.append("")
    return "\n".join(out)


def test_every_call_meets_every_fault() -> None:
    common = [fault for fault in FAULTS if not fault.startswith(("no ", "oauth_callback"))]
    for call in ENDPOINTS:
        faults = [row.fault for row in MATRIX if row.call == call]
        assert len(faults) == len(set(faults))
        assert set(common) <= set(faults), call
    assert {row.fault for row in MATRIX} == set(FAULTS)


def test_docs_hold_exactly_the_matrix() -> None:
    """After changing MATRIX, paste ``render_tables()`` in place of the tables there:
    ``DJANGO_SETTINGS_MODULE=tests.settings python -c "import django; django.setup();
    from tests.test_fault_matrix import render_tables; print(render_tables())"``."""
    assert render_tables() in FAULTS_INC.read_text()
