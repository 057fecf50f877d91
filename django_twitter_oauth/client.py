"""The one module that speaks HTTP to Twitter (X).

:class:`TwitterClient` runs the OAuth 1.0a calls of the 3-legged and PIN flows
(`RFC 5849 <https://www.rfc-editor.org/rfc/rfc5849>`_, Twitter's
`authentication API reference
<https://developer.x.com/en/docs/authentication/api-reference>`_), revokes tokens
and checks credentials. Every failure comes back as a
:class:`~django_twitter_oauth.exceptions.TwitterError` subclass whose message never
holds a token, a secret, a verifier or a signature.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import html
import itertools
import json
import logging
import os
import re
import socket
import threading
import time
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypedDict

import requests
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_email
from requests.adapters import HTTPAdapter
from requests_oauthlib import OAuth1, OAuth1Session
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.poolmanager import PoolManager

from django_twitter_oauth.conf import (
    ACCESS_LEVELS,
    ACCESS_TYPES,
    VERIFY_V1,
    VERIFY_V2,
    app_settings,
)
from django_twitter_oauth.exceptions import (
    AccessTierError,
    CallbackNotApproved,
    ConfigurationRejected,
    MalformedResponse,
    TokenInvalid,
    TwitterError,
    TwitterRateLimited,
    TwitterRejected,
    TwitterUnavailable,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "AccessTokenResult",
    "Credentials",
    "RequestTokenResult",
    "TwitterAPI",
    "TwitterClient",
    "TwitterSession",
]

logger = logging.getLogger(__name__)

# oauthlib logs the signature base string (which holds oauth_token and oauth_verifier) and the
# signature at DEBUG, and requests-oauthlib logs the signed headers and the token it obtained.
# A site running with DEBUG logging would write those secrets to its logs, so drop every record
# below INFO from these loggers. A filter on a logger does not apply to its children, hence the
# exact names. Remove the filter by hand when debugging a signature locally.
_QUIET_LOGGERS = (
    "oauthlib.oauth1.rfc5849",
    "oauthlib.oauth1.rfc5849.signature",
    "requests_oauthlib.oauth1_auth",
    "requests_oauthlib.oauth1_session",
)


class _DropBelowInfo(logging.Filter):
    """Drop log records below INFO (see :data:`_QUIET_LOGGERS`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.INFO


def _install_log_filters() -> None:
    for name in _QUIET_LOGGERS:
        target = logging.getLogger(name)
        # Idempotent, also across a reload of this module (a new class object).
        if not any(type(f).__name__ == _DropBelowInfo.__name__ for f in target.filters):
            target.addFilter(_DropBelowInfo())


_install_log_filters()

#: Longest Twitter error text kept on an exception.
_MAX_MESSAGE = 200
#: Error bodies are only searched this far: Twitter's are tiny; this bounds the regex work.
_MAX_ERROR_BODY = 4096
_REDACTED = "[redacted]"
#: Longest body read from Twitter: its answers are a few hundred bytes; anything near this
#: is not Twitter (or not an answer this app understands), and is refused unread.
MAX_BODY = 64 * 1024
_CHUNK = 16 * 1024

# Twitter's XML error bodies, both shapes (docs/client.rst):
#   <errors><error code="415">text</error></errors>
#   <hash><error>text</error><request>/oauth/request_token</request></hash>
# A regex, not an XML parser: the shapes are tiny and fixed, and no XML parser that is safe
# against entity expansion (defusedxml) is a dependency.
_XML_ERROR = re.compile(r"<error\b([^>]*)>(.*?)</error\s*>", re.DOTALL | re.IGNORECASE)
_XML_CODE = re.compile(r"""\bcode\s*=\s*["']?(\d+)""", re.IGNORECASE)
# Values in an OAuth Authorization header that must not be echoed back in a message.
_SENT_SECRET = re.compile(r'\boauth_(?:token|verifier|signature)="([^"]*)"')

# The shapes of what Twitter sends, checked before anything reaches the database: a value
# out of shape is an answer this app does not understand (502), never a 500 from the
# database or a row stored with garbage. Tokens and secrets: printable ASCII, no space or
# NUL, short. User ids: digits (64-bit today). Screen names: Twitter allows 15 characters
# from [A-Za-z0-9_] today; legacy accounts have up to 50.
_CREDENTIAL = re.compile(r"[\x21-\x7e]{1,255}")
_USER_ID = re.compile(r"[0-9]{1,32}")
_SCREEN_NAME = re.compile(r"[A-Za-z0-9_]{1,50}")
# Display names: Twitter allows 50 characters; emails: RFC 5321's 254.
_MAX_NAME = 50
_MAX_EMAIL = 254

# Whose fault is a refusal: this table, and _error_for below, are the one place that
# decides. Refusals of the site's own configuration (staff must fix them; the visitor
# cannot) become ConfigurationRejected or a subclass: the codes below (with the advice added
# to the message), 415 (CallbackNotApproved), 453 and v2's client-forbidden problem
# (AccessTierError), and any other 4xx refusal of oauth/request_token, which carries no
# token of the user's. Views and commands map by exception type only. Codes: Twitter's
# error-code table (https://developer.x.com/en/support/x-api/error-troubleshooting).
_CONFIGURATION_CODES = {
    32: " Check TWITTER_OAUTH_CONSUMER_KEY and TWITTER_OAUTH_CONSUMER_SECRET.",
    135: " Check this server's clock: Twitter found the request timestamp out of bounds.",
    416: " The app is suspended or invalid in the X developer portal.",
    417: (
        " Twitter treats the app as a desktop (PIN-only) app: add a callback URL in the app's"
        " User authentication settings in the X developer portal."
    ),
}


@dataclass(frozen=True)
class RequestTokenResult:
    """The temporary credentials of step 1 (``oauth/request_token``)."""

    token: str = field(repr=False)
    secret: str = field(repr=False)


@dataclass(frozen=True)
class AccessTokenResult:
    """The token credentials of step 3 (``oauth/access_token``).

    ``user_id`` and ``screen_name`` are None when Twitter left them out (call
    :meth:`TwitterClient.verify_credentials` then); ``access_level`` comes from the
    ``x-access-level`` header and is None when absent or unknown.
    """

    token: str = field(repr=False)
    secret: str = field(repr=False)
    user_id: str | None
    screen_name: str | None
    access_level: str | None


@dataclass(frozen=True)
class Credentials:
    """Who an access token belongs to, from ``2/users/me`` or
    ``1.1/account/verify_credentials.json`` (see :meth:`TwitterClient.identify`).

    ``name`` is the display name ("" when Twitter left it out); ``email`` the user's
    address when it was asked for and Twitter gave one, else None (never in the repr).
    """

    user_id: str
    screen_name: str
    access_level: str | None
    # The whole user object: large, and may hold the e-mail address.
    data: dict[str, Any] = field(repr=False)
    name: str = ""
    email: str | None = field(default=None, repr=False)


class TwitterSession(OAuth1Session):
    """A requests session signed as one Twitter user, with a default timeout.

    Callers pass full URLs (``f"{api_url}/1.1/..."``); ``timeout`` applies unless a
    request passes its own.
    """

    def __init__(
        self,
        client_key: str,
        client_secret: str,
        resource_owner_key: str,
        resource_owner_secret: str,
        *,
        timeout: float,
    ) -> None:
        super().__init__(
            client_key,
            client_secret=client_secret,
            resource_owner_key=resource_owner_key,
            resource_owner_secret=resource_owner_secret,
        )
        self.timeout = timeout

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """``requests.Session.request``, with the client's timeout unless one is given."""
        # ``timeout`` may come positionally: it is the seventh parameter after ``url``.
        if len(args) < 7:
            kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def app_or_settings(
    consumer_key: str | None, consumer_secret: str | None, api_url: str | None
) -> tuple[str, str, str]:
    """The app's consumer key, secret and API URL (no trailing slash): those given, and
    the ``TWITTER_OAUTH_*`` settings for those left out (None). For this module's client
    and the testing package's fake, which must agree on them."""
    return (
        app_settings.CONSUMER_KEY if consumer_key is None else consumer_key,
        app_settings.CONSUMER_SECRET if consumer_secret is None else consumer_secret,
        (app_settings.API_URL if api_url is None else api_url).rstrip("/"),
    )


class TwitterClient:
    """Twitter's OAuth 1.0a endpoints, signed with the app's consumer key and secret.

    Arguments left out (or None) are read from the ``TWITTER_OAUTH_*`` settings when
    the client is built, so build a new client to pick up changed settings. A client
    may be shared between threads. Used as is, it keeps no connection open: each call
    opens and closes its own. Inside ``with client:`` each thread keeps one requests
    session, so its calls reuse their connection (bulk revocations spend half their CPU
    setting up sessions and connections otherwise); leaving the block closes them.
    """

    def __init__(
        self,
        *,
        consumer_key: str | None = None,
        consumer_secret: str | None = None,
        api_url: str | None = None,
        timeout: float | None = None,
        verify_endpoint: str | None = None,
    ) -> None:
        self.consumer_key, self.consumer_secret, self.api_url = app_or_settings(
            consumer_key, consumer_secret, api_url
        )
        if not self.consumer_key or not self.consumer_secret:
            raise ImproperlyConfigured(
                "TWITTER_OAUTH_CONSUMER_KEY and TWITTER_OAUTH_CONSUMER_SECRET must be set to the "
                "API key and secret of your app in the X developer portal."
            )
        self.timeout = app_settings.TIMEOUT if timeout is None else timeout
        self.verify_endpoint = (
            app_settings.VERIFY_ENDPOINT if verify_endpoint is None else verify_endpoint
        )
        # Inside ``with client:``: every thread's session (to close them), and this thread's.
        self._pooled = False
        self._sessions: list[requests.Session] = []
        self._local = threading.local()
        self._lock = threading.Lock()

    def __enter__(self) -> TwitterClient:
        """Reuse connections: one requests session per thread until the block ends."""
        with self._lock:
            self._pooled = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the sessions kept since ``with client:``; later calls open their own."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
            self._pooled = False
            self._local = threading.local()
        for session in sessions:
            session.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(consumer_key={self.consumer_key!r}, "
            f"api_url={self.api_url!r}, timeout={self.timeout!r})"
        )

    # -- the flow -------------------------------------------------------------------------

    def fetch_request_token(
        self, callback: str, access_type: str | None = None
    ) -> RequestTokenResult:
        """Step 1: ``POST oauth/request_token`` (RFC 5849 §2.1).

        ``callback`` is the absolute callback URL, or ``"oob"`` for the PIN flow; it must
        be on the app's callback allow-list. ``access_type`` (``"read"`` or ``"write"``)
        is sent as ``x_auth_access_type`` on the query string, where it is signed.
        """
        if not callback:
            raise ValueError("callback must be an absolute URL or 'oob'.")
        params: dict[str, str] = {}
        if access_type is not None:
            if access_type not in ACCESS_TYPES:
                raise ValueError(f"access_type must be one of {ACCESS_TYPES}, not {access_type!r}.")
            params["x_auth_access_type"] = access_type
        endpoint = "oauth/request_token"
        response = self._call("POST", endpoint, params=params, callback=callback, site_fault=True)
        values = _parse_form(response, endpoint, ("oauth_token", "oauth_token_secret"))
        # Twitter sends "true"; other OAuth 1.0a servers send "True" (RFC 5849 does not say).
        if values.get("oauth_callback_confirmed", "").lower() != "true":
            raise _malformed(
                f"Twitter's answer to {endpoint} did not confirm the callback "
                "(oauth_callback_confirmed is not 'true'; RFC 5849 §2.1).",
                endpoint,
                response,
            )
        return RequestTokenResult(
            token=_shaped(values["oauth_token"], _CREDENTIAL, "oauth_token", endpoint, response),
            secret=_shaped(
                values["oauth_token_secret"], _CREDENTIAL, "oauth_token_secret", endpoint, response
            ),
        )

    def authorization_url(
        self,
        request_token: str,
        *,
        authenticate: bool = True,
        force_login: bool = False,
        screen_name: str | None = None,
    ) -> str:
        """Step 2: where to send the user's browser. No HTTP.

        ``authenticate`` picks ``oauth/authenticate`` ("Sign in with X", which may skip
        the approval screen); otherwise ``oauth/authorize``, which always asks and which
        PIN apps must use.
        """
        query = {"oauth_token": request_token}
        if force_login:
            query["force_login"] = "true"
        if screen_name:
            query["screen_name"] = screen_name
        path = "oauth/authenticate" if authenticate else "oauth/authorize"
        return f"{self.api_url}/{path}?{urllib.parse.urlencode(query)}"

    def fetch_access_token(
        self, request_token: str, request_token_secret: str, verifier: str
    ) -> AccessTokenResult:
        """Step 3: ``POST oauth/access_token`` with the verifier (or PIN), RFC 5849 §2.3."""
        endpoint = "oauth/access_token"
        response = self._call(
            "POST",
            endpoint,
            token=request_token,
            secret=request_token_secret,
            verifier=verifier,
        )
        values = _parse_form(response, endpoint, ("oauth_token", "oauth_token_secret"))
        user_id = values.get("user_id") or None
        screen_name = values.get("screen_name") or None
        return AccessTokenResult(
            token=_shaped(values["oauth_token"], _CREDENTIAL, "oauth_token", endpoint, response),
            secret=_shaped(
                values["oauth_token_secret"], _CREDENTIAL, "oauth_token_secret", endpoint, response
            ),
            user_id=user_id and _shaped(user_id, _USER_ID, "user_id", endpoint, response),
            screen_name=screen_name
            and _shaped(screen_name, _SCREEN_NAME, "screen_name", endpoint, response),
            access_level=_access_level(response, endpoint),
        )

    # -- with an access token -------------------------------------------------------------

    def invalidate_token(self, token: str, secret: str) -> None:
        """Revoke an access token at Twitter (``POST 1.1/oauth/invalidate_token``).

        Twitter confirms with ``{"access_token": "..."}`` (or a 204). Anything else in a
        2xx, an HTML page from a proxy or an empty 200, confirms nothing: it raises
        MalformedResponse, so the token is not deleted as if it had been revoked.
        """
        endpoint = "1.1/oauth/invalidate_token"
        response = self._call("POST", endpoint, token=token, secret=secret)
        if response.status_code == 204:
            return
        data = _json(response, endpoint)
        if not isinstance(data, dict) or not data.get("access_token"):
            raise _malformed(
                f"Twitter's answer to {endpoint} did not confirm the revocation (no access_token).",
                endpoint,
                response,
            )

    def identify(self, token: str, secret: str, *, include_email: bool = False) -> Credentials:
        """Who the token belongs to: id, screen name, name and (where the answer carries
        ``x-access-level``) access level. Raises TokenInvalid for a token Twitter refuses.

        Asks ``TWITTER_OAUTH_VERIFY_ENDPOINT``: ``2/users/me`` (every access tier) or
        ``1.1/account/verify_credentials.json`` (not on X's Free tier: AccessTierError).
        ``include_email`` asks v1.1 with ``include_email=true`` once, whatever the
        setting; when the tier lacks v1.1 (453) or Twitter gives no email (the app's
        "Request email from users" permission is off, or the user has none), an INFO line
        says why and the identity comes back (from ``2/users/me`` if needed) with
        ``email`` None.
        """
        if include_email:
            try:
                credentials = self.verify_credentials(token, secret, include_email=True)
            except AccessTierError:
                logger.info(
                    "No email from Twitter: the app's access tier does not include %s "
                    "(error 453); identifying the user through %s instead.",
                    VERIFY_V1,
                    VERIFY_V2,
                )
                return self._users_me(token, secret)
            if credentials.email is None:
                logger.info(
                    'No email from Twitter for user %s: the app lacks the "Request email '
                    'from users" permission in the X developer portal, or the user has no '
                    "confirmed email address.",
                    credentials.user_id,
                )
            return credentials
        if self.verify_endpoint == VERIFY_V1:
            return self.verify_credentials(token, secret)
        return self._users_me(token, secret)

    def verify_credentials(
        self, token: str, secret: str, *, include_email: bool = False
    ) -> Credentials:
        """Who the token belongs to, and its access level, through v1.1.

        ``GET 1.1/account/verify_credentials.json``; the user id comes from ``id_str``
        (or ``id``) and the access level from the ``x-access-level`` header. X's Free
        tier answers it with error 453 (AccessTierError): prefer :meth:`identify`.
        ``include_email`` asks for the user's email address too.
        """
        endpoint = VERIFY_V1
        params = {"skip_status": "true", "include_entities": "false"}
        if include_email:
            params["include_email"] = "true"
        response = self._call("GET", endpoint, token=token, secret=secret, params=params)
        data = _json_object(response, endpoint)
        user_id = data.get("id_str")
        if not isinstance(user_id, str) or not user_id:
            # The integer ``id`` stands in for a missing ``id_str`` (not a bool: True is 1).
            raw_id = data.get("id")
            user_id = (
                None if isinstance(raw_id, bool) or not isinstance(raw_id, int) else str(raw_id)
            )
        return _credentials(
            data, user_id, data.get("screen_name"), endpoint, response, email=include_email
        )

    def _users_me(self, token: str, secret: str) -> Credentials:
        """``GET 2/users/me``: ``{"data": {"id": "...", "name": "...", "username": "..."}}``."""
        endpoint = VERIFY_V2
        response = self._call("GET", endpoint, token=token, secret=secret)
        data = _json_object(response, endpoint).get("data")
        if not isinstance(data, dict):
            raise _malformed(f"Twitter's answer to {endpoint} lacked data.", endpoint, response)
        return _credentials(data, data.get("id"), data.get("username"), endpoint, response)

    def api(
        self,
        token: str,
        secret: str,
        *,
        on_invalid: Callable[[TokenInvalid], None] | None = None,
    ) -> TwitterAPI:
        """Calls on the user's behalf through this client (see :class:`TwitterAPI`)."""
        return TwitterAPI(token, secret, client=self, on_invalid=on_invalid)

    def session(self, token: str, secret: str) -> TwitterSession:
        """A requests session signed as the user; the client's timeout applies by default."""
        return TwitterSession(
            self.consumer_key, self.consumer_secret, token, secret, timeout=self.timeout
        )

    # -- HTTP and error mapping -----------------------------------------------------------

    def _call(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        token: str | None = None,
        secret: str | None = None,
        callback: str | None = None,
        verifier: str | None = None,
        site_fault: bool = False,
        json_body: Any = None,
        data: Any = None,
    ) -> requests.Response:
        """Send one signed request; return a 2xx response or raise a TwitterError
        (``site_fault``: see :func:`_error_for`)."""
        auth = OAuth1(
            self.consumer_key,
            client_secret=self.consumer_secret,
            resource_owner_key=token,
            resource_owner_secret=secret,
            callback_uri=callback,
            verifier=verifier,
        )
        deadline = _Deadline(self.timeout)
        _current.deadline = deadline
        _watchdog.watch(deadline)
        try:
            # Redirects are not followed: the Authorization header would be replayed,
            # signed for the wrong URL.
            with self._http() as http:
                response = http.request(
                    method,
                    f"{self.api_url}/{endpoint}",
                    params=params,
                    json=json_body,
                    data=data,
                    auth=auth,
                    timeout=(deadline.left(), deadline.left()),
                    allow_redirects=False,
                    stream=True,
                )
                try:
                    _read_body(response, endpoint)
                finally:
                    # An adapter that answers in memory (a test double) has no raw stream.
                    if response.raw is not None:
                        response.close()
        except requests.RequestException as exc:
            raise _unavailable(endpoint, exc, deadline, self.timeout) from exc
        finally:
            _watchdog.release(deadline)
            _current.deadline = None
        if deadline.expired:
            # The watchdog cut the answer short, which may look complete (no Content-Length).
            raise _unavailable(endpoint, None, deadline, self.timeout)
        if 200 <= response.status_code < 300:
            return response
        secrets = (self.consumer_secret, token, secret, verifier)
        raise _error_for(
            response, endpoint, secrets=secrets, callback=callback, site_fault=site_fault
        )

    def _http(self) -> contextlib.AbstractContextManager[requests.Session]:
        """This thread's kept session inside ``with client:``; otherwise a new one, closed
        after the call. Never one session for two threads: requests' are not thread-safe."""
        with self._lock:
            if not self._pooled:
                return _new_session()
            http: requests.Session | None = getattr(self._local, "session", None)
            if http is None:
                http = self._local.session = _kept_session(self.api_url)
                self._sessions.append(http)
        return contextlib.nullcontext(http)


def _kept_session(api_url: str) -> requests.Session:
    """A session for many calls to ``api_url``, which reads the proxy and CA bundle
    environment variables once, as requests would on each call (a tenth of a bulk
    revocation's CPU)."""
    session = _new_session()
    session.proxies = requests.utils.get_environ_proxies(f"{api_url}/")
    session.verify = (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    )
    session.trust_env = False
    return session


class _Body(TypedDict, total=False):
    """What ``post``, ``put`` and ``delete`` pass on to :meth:`TwitterAPI.request`."""

    params: Mapping[str, Any] | None
    json: Any
    data: Any


class TwitterAPI:
    """Calls to Twitter's API on one user's behalf, signed with their access token.

    ``get``, ``post``, ``put`` and ``delete`` take a path relative to
    TWITTER_OAUTH_API_URL (``"2/users/me"``, ``"2/tweets"``, ``"1.1/..."``) and return
    the parsed JSON answer, or None for an empty one (204). They share the client's
    deadline, body cap and redaction and raise this app's exceptions: TokenInvalid (v1.1
    code 89, v2's 401: ask the user to authorize again), TwitterRateLimited (429, with
    ``reset_at``), AccessTierError (453, v2 client-forbidden), TwitterRejected (other
    refusals), TwitterUnavailable, MalformedResponse. ``on_invalid`` is called with the
    TokenInvalid before it is raised (:attr:`AccessToken.api
    <django_twitter_oauth.models.AccessToken.api>` records a ``found invalid`` event).
    ``repr()`` never shows the token.
    """

    def __init__(
        self,
        token: str,
        secret: str,
        *,
        client: TwitterClient | None = None,
        on_invalid: Callable[[TokenInvalid], None] | None = None,
    ) -> None:
        self.client = client or TwitterClient()
        self._token = token
        self._secret = secret
        self.on_invalid = on_invalid

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_url={self.client.api_url!r})"

    def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, **body: Unpack[_Body]) -> Any:
        return self.request("POST", path, **body)

    def put(self, path: str, **body: Unpack[_Body]) -> Any:
        return self.request("PUT", path, **body)

    def delete(self, path: str, **body: Unpack[_Body]) -> Any:
        return self.request("DELETE", path, **body)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
    ) -> Any:
        """One signed call; ``json`` is sent as a JSON body (not signed, as OAuth 1.0a
        says), ``data`` as a form body (signed)."""
        endpoint = self._endpoint(path)
        try:
            response = self.client._call(
                method,
                endpoint,
                params=params,
                token=self._token,
                secret=self._secret,
                json_body=json,
                data=data,
            )
        except TokenInvalid as exc:
            if self.on_invalid is not None:
                self.on_invalid(exc)
            raise
        if response.status_code == 204 or not response.content.strip():
            return None
        return _json(response, endpoint)

    def _endpoint(self, path: str) -> str:
        """``path`` relative to the API URL; an absolute URL only on the API URL itself
        (the token is signed into the request: it must not go to another host)."""
        base = f"{self.client.api_url}/"
        if path.startswith(base):
            path = path[len(base) :]
        parts = urllib.parse.urlsplit(path)
        if parts.scheme or parts.netloc or path.startswith("//") or "\\" in path:
            raise ValueError(
                f"TwitterAPI takes paths relative to {base}; this URL points to another host."
            )
        endpoint = path.lstrip("/")
        if not endpoint:
            raise ValueError("TwitterAPI needs a path, e.g. '2/users/me'.")
        return endpoint


# -- the deadline of a call ----------------------------------------------------------------
#
# TWITTER_OAUTH_TIMEOUT bounds the whole call, not each socket read: a host that sends one
# byte a second would never trip a per-read timeout. A single watchdog thread shuts down the
# socket of any call past its deadline, which ends a blocked read at once (headers or body);
# the call then raises TwitterUnavailable. The pools of this module's sessions tell the
# current call which connection it got (see _WatchedPool).


class _Deadline:
    """One call's deadline and the connection it uses."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.sock: socket.socket | None = None
        self.expired = False
        self.active = True

    def left(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expire(self) -> bool:
        """Past the deadline: shut the socket down. False while there is no socket yet
        (still connecting, bounded by the connect timeout): the watchdog tries again."""
        self.expired = True
        if self.sock is None:
            return False
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        return True


class _Watchdog:
    """One daemon thread for every call's deadline (a timer thread per call costs more)."""

    #: How soon to look again at a call past its deadline that has no socket yet.
    RETRY = 0.05

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: _Deadline) -> None:
        with self._condition:
            self._push(deadline.at, deadline)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="twitter-oauth-watchdog", daemon=True
                )
                self._thread.start()

    def release(self, deadline: _Deadline) -> None:
        """The call is over: never touch its socket again (waits for a shutdown under way)."""
        with self._condition:
            deadline.active = False

    def _push(self, at: float, deadline: _Deadline) -> None:
        heapq.heappush(self._heap, (at, next(self._order), deadline))
        self._condition.notify()

    def _run(self) -> None:
        with self._condition:
            while True:
                if not self._heap:
                    self._condition.wait()
                    continue
                at, _, deadline = self._heap[0]
                now = time.monotonic()
                if at > now:
                    self._condition.wait(at - now)
                    continue
                heapq.heappop(self._heap)
                if deadline.active and not deadline.expire():
                    self._push(now + self.RETRY, deadline)


_watchdog = _Watchdog()
_current = threading.local()


def _reset_after_fork() -> None:
    """A forked worker (gunicorn, Celery) gets its own watchdog: the parent's thread does
    not exist in the child, and its lock may have been held at the fork."""
    global _watchdog
    _watchdog = _Watchdog()


os.register_at_fork(after_in_child=_reset_after_fork)


def _watch_socket(sock: socket.socket | None) -> None:
    """Tell this thread's current call (if any) which socket it uses. The socket, not the
    connection: http.client drops the connection's reference to it when the answer is
    delimited by closing, while the answer is still being read from it."""
    deadline: _Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None and sock is not None:
        deadline.sock = sock


class _WatchedConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watch_socket(self.sock)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watch_socket(self.sock)


class _WatchedPool(HTTPConnectionPool):
    """Reports the socket of each connection it gives out (a kept one is connected
    already; a new one reports when it connects)."""

    ConnectionCls: type[HTTPConnection] = _WatchedConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        _watch_socket(getattr(connection, "sock", None))
        return connection


class _WatchedHTTPSPool(_WatchedPool, HTTPSConnectionPool):
    """The HTTPS twin of :class:`_WatchedPool`."""

    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter, with pools that report their connections to the watchdog."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


def _new_session() -> requests.Session:
    session = requests.Session()
    for prefix in ("https://", "http://"):
        session.mount(prefix, _DeadlineAdapter())
    return session


# -- helpers ------------------------------------------------------------------------------


def _read_body(response: requests.Response, endpoint: str) -> None:
    """Read the body into ``response.content``, at most MAX_BODY bytes; a longer one
    (by its Content-Length, or as it streams) is refused without reading the rest."""
    if isinstance(response._content, bytes):
        # Already in memory: an adapter that answers without a stream (a test double).
        if len(response._content) > MAX_BODY:
            raise _too_big(endpoint, response)
        return
    length = response.headers.get("Content-Length", "")
    if length.strip().isdecimal() and int(length) > MAX_BODY:
        raise _too_big(endpoint, response)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(_CHUNK):
        size += len(chunk)
        if size > MAX_BODY:
            raise _too_big(endpoint, response)
        chunks.append(chunk)
    response._content = b"".join(chunks)


def _too_big(endpoint: str, response: requests.Response) -> TwitterError:
    return _malformed(
        f"Twitter's answer to {endpoint} is longer than {MAX_BODY} bytes; it was not read.",
        endpoint,
        response,
    )


def _unavailable(
    endpoint: str, exc: Exception | None, deadline: _Deadline, timeout: float
) -> TwitterError:
    if deadline.expired:
        message = (
            f"Twitter did not answer {endpoint} within {timeout} seconds "
            "(TWITTER_OAUTH_TIMEOUT bounds the whole call)."
        )
    else:
        message = f"Could not reach Twitter for {endpoint}: {type(exc).__name__}."
    return _logged(TwitterUnavailable(message, endpoint=endpoint))


def _logged(exc: TwitterError) -> TwitterError:
    logger.info("Twitter call failed: %s", exc)
    return exc


def _malformed(message: str, endpoint: str, response: requests.Response) -> TwitterError:
    # The body is never quoted: a half-valid answer may well hold a token.
    return _logged(MalformedResponse(message, endpoint=endpoint, status_code=response.status_code))


def _parse_form(
    response: requests.Response, endpoint: str, required: Iterable[str]
) -> dict[str, str]:
    """Parse a form-encoded body, whatever its Content-Type says (X documents JSON, answers a
    form: https://docs.x.com/fundamentals/authentication/oauth-1-0a/obtaining-user-access-tokens)."""
    try:
        text = response.content.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed(
            f"Twitter's answer to {endpoint} is not UTF-8 text.", endpoint, response
        ) from None
    values = dict(urllib.parse.parse_qsl(text, keep_blank_values=True))
    missing = [name for name in required if not values.get(name)]
    if missing:
        raise _malformed(
            f"Twitter's answer to {endpoint} lacked {', '.join(missing)}.", endpoint, response
        )
    return values


def _shaped(
    value: str, pattern: re.Pattern[str], what: str, endpoint: str, response: requests.Response
) -> str:
    """``value`` if it has the shape ``pattern`` allows, else a MalformedResponse (which
    never quotes the value: it may be a token)."""
    if pattern.fullmatch(value) is None:
        raise _malformed(
            f"Twitter's answer to {endpoint} has a malformed {what}.", endpoint, response
        )
    return value


def _credentials(
    data: dict[str, Any],
    user_id: object,
    screen_name: object,
    endpoint: str,
    response: requests.Response,
    *,
    email: bool = False,
) -> Credentials:
    """The Credentials in a user object of either API version (``email``: read its
    ``email`` too), or a MalformedResponse for a missing or out-of-shape field."""
    if not isinstance(user_id, str) or not user_id:
        raise _malformed(f"Twitter's answer to {endpoint} lacked the user id.", endpoint, response)
    if not isinstance(screen_name, str) or not screen_name:
        raise _malformed(
            f"Twitter's answer to {endpoint} lacked the screen name.", endpoint, response
        )
    return Credentials(
        user_id=_shaped(user_id, _USER_ID, "user id", endpoint, response),
        screen_name=_shaped(screen_name, _SCREEN_NAME, "screen name", endpoint, response),
        access_level=_access_level(response, endpoint),
        data=data,
        name=_display_name(data, endpoint, response),
        email=_email(data) if email else None,
    )


def _json(response: requests.Response, endpoint: str) -> Any:
    """The parsed JSON body, or a MalformedResponse when it is not JSON."""
    try:
        return json.loads(response.content)
    except ValueError:
        raise _malformed(
            f"Twitter's answer to {endpoint} is not JSON.", endpoint, response
        ) from None


def _json_object(response: requests.Response, endpoint: str) -> dict[str, Any]:
    data = _json(response, endpoint)
    if not isinstance(data, dict):
        raise _malformed(
            f"Twitter's answer to {endpoint} is not a JSON object.", endpoint, response
        )
    return data


def _display_name(data: dict[str, Any], endpoint: str, response: requests.Response) -> str:
    """The display name: "" when absent; out of shape (not text, longer than Twitter's 50
    characters, a control character such as NUL) is a MalformedResponse."""
    name = data.get("name")
    if name is None:
        return ""
    if (
        not isinstance(name, str)
        or len(name) > _MAX_NAME
        or any(unicodedata.category(char) == "Cc" for char in name)
    ):
        raise _malformed(
            f"Twitter's answer to {endpoint} has a malformed name.", endpoint, response
        )
    return name


def _email(data: dict[str, Any]) -> str | None:
    """The ``email`` of a v1.1 user object, or None when absent, empty or not an email
    address (logged: the address itself is never written)."""
    email = data.get("email")
    if email is None or email == "":
        return None
    try:
        if not isinstance(email, str) or len(email) > _MAX_EMAIL:
            raise ValidationError("not an email address")
        validate_email(email)
    except ValidationError:
        logger.info("Twitter's answer held an email address this app does not accept.")
        return None
    return email


def _access_level(response: requests.Response, endpoint: str) -> str | None:
    """The ``x-access-level`` header: None when absent or empty, else one of
    ``ACCESS_LEVELS`` (any case) or a MalformedResponse."""
    level = response.headers.get("x-access-level", "").strip().lower()
    if not level:
        return None
    if level not in ACCESS_LEVELS:
        raise _malformed(
            f"Twitter's answer to {endpoint} has an unknown access level.", endpoint, response
        )
    return level


def _reset_at(response: requests.Response) -> dt.datetime | None:
    """``x-rate-limit-reset`` (Unix epoch seconds) as an aware UTC datetime, or None."""
    try:
        return dt.datetime.fromtimestamp(
            float(response.headers["x-rate-limit-reset"]), tz=dt.timezone.utc
        )
    except (KeyError, ValueError, OverflowError, OSError):
        return None


def _redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each (non-empty) secret replaced, raw and percent-encoded."""
    for value in secrets:
        text = text.replace(value, _REDACTED)
        text = text.replace(urllib.parse.quote(value, safe=""), _REDACTED)
    return text


def _sent_secrets(response: requests.Response) -> list[str]:
    """The token, verifier and signature that went out in the Authorization header."""
    header: str | bytes = response.request.headers.get("Authorization", "")
    text = header.decode("ascii", "replace") if isinstance(header, bytes) else header
    return [urllib.parse.unquote(value) for value in _SENT_SECRET.findall(text)]


def _as_code(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value)
    return None


def _as_text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _json_error(text: str) -> tuple[int | None, str, str] | None:
    """``{"errors": [{"code": 89, "message": "..."}]}`` (any key order) or v2 problem JSON
    (whose ``type`` comes back as the third item, else "")."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    code: int | None = None
    message = ""
    errors = data.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = _as_code(errors[0].get("code"))
        message = _as_text(errors[0].get("message"))
    # v2 problem details ({"title": ..., "detail": ...}) and v1's {"error": "..."}.
    message = (
        message
        or _as_text(data.get("detail"))
        or _as_text(data.get("title"))
        or _as_text(data.get("error"))
    )
    if code is None and not message:
        return None
    return code, message, _as_text(data.get("type"))


def _xml_error(text: str) -> tuple[int | None, str, str] | None:
    """``<errors><error code="415">...</error></errors>`` or ``<hash><error>...</error>``."""
    match = _XML_ERROR.search(text)
    if match is None:
        return None
    code_match = _XML_CODE.search(match.group(1))
    code = int(code_match.group(1)) if code_match else None
    return code, html.unescape(match.group(2)).strip(), ""


def _parse_error_body(
    response: requests.Response, secrets: Iterable[str | None]
) -> tuple[int | None, str, str]:
    """Twitter's error code, text and v2 problem type, from a JSON, XML or plain-text body
    (docs/client.rst), with every secret sent redacted.

    Secrets are redacted from the whole text before anything is cut: a secret that crossed
    a cut would otherwise survive in part. The raw body is redacted (percent-encoded forms
    included), then the parsed text again (JSON ``\\/`` escapes and XML entities are only
    undone by parsing); only then is the text cut to ``_MAX_MESSAGE`` characters.
    """
    sent = [value for value in secrets if value]
    text = _redact(response.content.decode("utf-8", "replace"), sent)[:_MAX_ERROR_BODY]
    code, message, problem = _json_error(text) or _xml_error(text) or (None, text, "")
    message = _redact(" ".join(message.split()), sent)
    return code, message[:_MAX_MESSAGE], problem


def _error_for(
    response: requests.Response,
    endpoint: str,
    *,
    secrets: Iterable[str | None],
    callback: str | None,
    site_fault: bool = False,
) -> TwitterError:
    """The exception for a non-2xx answer: whose fault it is, by type (see
    ``_CONFIGURATION_CODES``). ``site_fault``: any 4xx refusal (but 429) is the site's."""
    status = response.status_code
    if status < 400:
        location = urllib.parse.urlsplit(response.headers.get("Location", "")).netloc
        where = f" redirecting to {location}; check TWITTER_OAUTH_API_URL" if location else ""
        return _logged(
            MalformedResponse(
                f"Twitter answered {endpoint} with an unexpected HTTP {status}{where}.",
                endpoint=endpoint,
                status_code=status,
            )
        )
    code, twitter_message, problem = _parse_error_body(
        response, [*secrets, *_sent_secrets(response)]
    )
    said = f"code {code}: " if code is not None else ""
    said += twitter_message or "no details"
    kwargs: dict[str, Any] = {
        "endpoint": endpoint,
        "code": code,
        "twitter_message": twitter_message,
    }
    exc: TwitterError
    if status == 429:
        reset_at = _reset_at(response)
        when = f"resets at {reset_at.isoformat()}" if reset_at else "reset time unknown"
        exc = TwitterRateLimited(
            f"Twitter rate-limited {endpoint} (HTTP 429, {said}); {when}.",
            reset_at=reset_at,
            **kwargs,
        )
    elif status >= 500:
        exc = TwitterUnavailable(
            f"Twitter failed on {endpoint} (HTTP {status}, {said}); try again later.",
            status_code=status,
            **kwargs,
        )
    elif code == 415:
        url = f" {callback}" if callback else ""
        exc = CallbackNotApproved(
            f"Twitter did not approve the callback URL{url} ({endpoint}, HTTP {status}, {said}). "
            "Add this exact URL (scheme, host, port, path and trailing slash as sent) to the "
            "callback URLs in your app's User authentication settings in the X developer portal.",
            status_code=status,
            **kwargs,
        )
    elif code == 453 or (status == 403 and problem.endswith("client-forbidden")):
        advice = (
            f' Set TWITTER_OAUTH_VERIFY_ENDPOINT = "{VERIFY_V2}", which every tier includes.'
            if endpoint == VERIFY_V1
            else ""
        )
        exc = AccessTierError(
            f"The app's X API access tier does not include {endpoint} (HTTP {status}, {said})."
            f"{advice} Tiers and their endpoints are listed in the X developer portal.",
            status_code=status,
            **kwargs,
        )
    elif code in _CONFIGURATION_CODES:
        exc = ConfigurationRejected(
            f"Twitter refused {endpoint} (HTTP {status}, {said}).{_CONFIGURATION_CODES[code]}",
            status_code=status,
            **kwargs,
        )
    elif site_fault:
        # No token of the user's was sent: the refusal can only be the site's.
        exc = ConfigurationRejected(
            f"Twitter refused {endpoint} (HTTP {status}, {said}). Check the app's keys, "
            "permissions and callback URLs in the X developer portal.",
            status_code=status,
            **kwargs,
        )
    elif (code == 89 and status in (401, 403)) or (status == 401 and endpoint.startswith("2/")):
        # v1.1's code 89, or v2's 401 problem: the token (not the app) is refused.
        exc = TokenInvalid(
            f"Twitter says the token sent to {endpoint} is invalid or expired "
            f"(HTTP {status}, {said}).",
            status_code=status,
            **kwargs,
        )
    else:
        exc = TwitterRejected(
            f"Twitter refused {endpoint} (HTTP {status}, {said}).",
            status_code=status,
            **kwargs,
        )
    return _logged(exc)
