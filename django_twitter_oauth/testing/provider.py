"""A fake Twitter: its OAuth 1.0a endpoints, verifying every request like Twitter does.

Every incoming request is checked with oauthlib's server-side endpoints
(``RequestTokenEndpoint``, ``AccessTokenEndpoint``, ``ResourceEndpoint``) and
:class:`FakeValidator`: consumer key and secret, the HMAC-SHA1 signature, the
timestamp window, nonce replay, request tokens bound to their consumer and used
once, verifiers used once, access tokens valid until invalidated. Failures answer
with Twitter's own status codes and error bodies (the ones docs/client.rst describes),
so code that works against the fake works against Twitter.

:class:`FakeProvider` speaks in plain requests and responses; the in-process
:class:`~django_twitter_oauth.testing.FakeTwitter` feeds it through ``responses``,
and :mod:`django_twitter_oauth.sandbox` through Django views.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict, cast

from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth1 import (
    AccessTokenEndpoint,
    RequestTokenEndpoint,
    RequestValidator,
    ResourceEndpoint,
)
from oauthlib.oauth1.rfc5849 import SIGNATURE_HMAC_SHA1, errors, signature

from django_twitter_oauth.conf import (
    ACCESS_LEVELS,
    ACCESS_TYPES,
    OOB,
    SANDBOX_TIERS,
    granted_level,
)
from django_twitter_oauth.testing.store import MemoryStore, Store

__all__ = [
    "ConnectionFault",
    "FakeProvider",
    "FakeResponse",
    "FakeUser",
    "Fault",
    "TimeoutFault",
]

# Endpoint names (paths under api_url), not credentials.
REQUEST_TOKEN = "oauth/request_token"  # noqa: S105
ACCESS_TOKEN = "oauth/access_token"  # noqa: S105
AUTHORIZE = "oauth/authorize"
AUTHENTICATE = "oauth/authenticate"
INVALIDATE_TOKEN = "1.1/oauth/invalidate_token"  # noqa: S105
VERIFY_CREDENTIALS = "1.1/account/verify_credentials.json"
USERS_ME = "2/users/me"
TWEETS = "2/tweets"

#: The API endpoints the fake serves, with the method each takes.
API_ENDPOINTS = {
    REQUEST_TOKEN: "POST",
    ACCESS_TOKEN: "POST",
    INVALIDATE_TOKEN: "POST",
    VERIFY_CREDENTIALS: "GET",
    USERS_ME: "GET",
    TWEETS: "POST",
}
#: The browser pages (step 2): :meth:`FakeProvider.handle` answers a GET with a stub
#: page (tests call ``approve()`` or ``deny()`` instead); the sandbox serves real pages.
BROWSER_ENDPOINTS = (AUTHORIZE, AUTHENTICATE)
BROWSER_PAGE = "<p>Authorize this app?</p>"
#: Other spellings Twitter accepts for the same endpoint.
ALIASES = {"1.1/oauth/invalidate_token.json": INVALIDATE_TOKEN}

#: Seconds a request token lives at the fake (Twitter publishes no figure).
REQUEST_TOKEN_LIFETIME = 3600
#: Allowed clock difference for oauth_timestamp (Twitter publishes no figure).
TIMESTAMP_WINDOW = 300

#: OAuth parameters every signed request carries (RFC 5849 §3.1).
MANDATORY_PARAMS = (
    "oauth_consumer_key",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
    "oauth_timestamp",
)
#: X's access tiers the fake plays (``tier=``); "basic" answers as Twitter did before tiers.
TIERS = SANDBOX_TIERS
DEFAULT_TIER = "basic"
#: ``2/users/me`` per user: (requests, window in seconds) per tier, as X publishes them.
USERS_ME_LIMITS = {"free": (25, 24 * 3600), "basic": (75, 15 * 60), "pro": (75, 15 * 60)}
#: Tweet ids the fake hands out: Twitter-like 19-digit numbers.
TWEET_ID_BASE = 1_800_000_000_000_000_000
#: v1.1 endpoints outside X's Free tier (answered with code 453 there).
NOT_ON_FREE = (VERIFY_CREDENTIALS,)
TIER_ERROR = (
    "You currently have access to a subset of X API V2 endpoints and limited v1.1 "
    "endpoints (e.g. media post, oauth) only. If you need access to this endpoint, you may "
    "need a different access level. You can learn more here: "
    "https://developer.x.com/en/portal/product"
)
#: X's answer to a write with a token the user granted read access only.
OAUTH1_PERMISSIONS = "https://api.twitter.com/2/problems/oauth1-permissions"
INVALID_REQUEST = "https://api.twitter.com/2/problems/invalid-request"

DEFAULT_USER_ID = "1000001"
DEFAULT_SCREEN_NAME = "fake_user"

_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


#: Callback schemes Twitter never accepts.
REFUSED_CALLBACK_SCHEMES = frozenset(
    {"javascript", "data", "file", "ftp", "mailto", "telnet", "vbscript"}
)


def twitter_error(code: int, message: str) -> str:
    """A v1.1 error body: ``{"errors": [{"code": ..., "message": ...}]}``."""
    return json.dumps({"errors": [{"code": code, "message": message}]})


def problem(status: int, title: str, detail: str | None = None, type_: str = "about:blank") -> str:
    """A v2 error body in X's problem format (RFC 7807)."""
    return json.dumps({"title": title, "type": type_, "status": status, "detail": detail or title})


CALLBACK_NOT_APPROVED = (
    "Callback URL not approved for this client application. Approved callback URLs can be "
    "adjusted in your application settings"
)
# Twitter's newer XML shape, with the code (its older <hash> shape has none; docs/client.rst).
DESKTOP_ONLY_XML = (
    '<?xml version="1.0" encoding="UTF-8"?><errors><error code="417">'
    "Desktop applications only support the oauth_callback value 'oob'</error></errors>"
)
JSON = "application/json; charset=utf-8"
FORM = "text/html; charset=utf-8"  # what Twitter labels its form-encoded token answers
TEXT = "text/plain; charset=utf-8"
XML = "application/xml; charset=utf-8"
HTML = "text/html; charset=utf-8"
FORM_URLENCODED = "application/x-www-form-urlencoded"


@dataclass
class FakeResponse:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """What the next call of an endpoint does instead of (or before) its normal answer.

    ``kind`` is ``"response"`` (answer ``status``/``body``/``headers``),
    ``"connection_error"``, ``"timeout"`` or ``"latency"`` (wait ``latency`` seconds,
    then answer normally). ``latency`` also delays the other kinds.
    """

    kind: str = "response"
    status: int = 500
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    latency: float = 0.0

    KINDS = ("response", "connection_error", "timeout", "latency")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"Fault kind must be one of {self.KINDS}, not {self.kind!r}.")


class ConnectionFault(Exception):  # the network failing, not a bug: no "Error" suffix
    """Raised by :meth:`FakeProvider.handle` for a ``connection_error`` fault."""


class TimeoutFault(Exception):
    """Raised by :meth:`FakeProvider.handle` for a ``timeout`` fault."""


def _json_error(status: int, code: int, message: str) -> FakeResponse:
    return FakeResponse(status, twitter_error(code, message), {"content-type": JSON})


def _bad_authentication() -> FakeResponse:
    """Missing or malformed OAuth parameters."""
    return _json_error(400, 215, "Bad authentication data.")


def _not_authenticated() -> FakeResponse:
    return _json_error(401, 32, "Could not authenticate you.")


def _invalid_token() -> FakeResponse:
    return _json_error(401, 89, "Invalid or expired token.")


def _problem(
    status: int,
    title: str,
    detail: str | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
) -> FakeResponse:
    return FakeResponse(
        status, problem(status, title, detail, type_), {"content-type": JSON, **(headers or {})}
    )


def _v2_unauthorized() -> FakeResponse:
    """v2's one answer to any authentication failure (bad signature, unknown token)."""
    return _problem(401, "Unauthorized")


def _is_v2(endpoint: str) -> bool:
    return endpoint.startswith("2/")


class FakeValidator(RequestValidator):
    """oauthlib's hooks, answered from the provider's store.

    Validation results oauthlib does not record itself go into the request's
    ``validator_log``: ``"access_record"`` is the access token's record.
    """

    enforce_ssl = False
    allowed_signature_methods = (SIGNATURE_HMAC_SHA1,)
    # The provider checks the timestamp window itself, against its own clock, so that
    # it answers Twitter's code 135; oauthlib's own check (against time.time()) is off.
    timestamp_lifetime = 10**10
    dummy_client = "dummy-client"
    dummy_request_token = "dummy-request-token"  # noqa: S105
    dummy_access_token = "dummy-access-token"  # noqa: S105

    def __init__(self, provider: FakeProvider) -> None:
        super().__init__()
        self.provider = provider

    # Twitter's keys, tokens and nonces are ASCII letters, digits and "-_"; PINs are digits.
    @staticmethod
    def _ok(value: str) -> bool:
        return bool(value) and len(value) <= 200 and set(value) <= _SAFE

    def check_client_key(self, client_key: str) -> bool:
        return self._ok(client_key)

    def check_request_token(self, request_token: str) -> bool:
        return self._ok(request_token)

    def check_access_token(self, request_token: str) -> bool:
        return self._ok(request_token)

    def check_nonce(self, nonce: str) -> bool:
        return self._ok(nonce)

    def check_verifier(self, verifier: str) -> bool:
        return self._ok(verifier)

    def check_realms(self, realms: list[str]) -> bool:
        return True

    def validate_client_key(self, client_key: str, request: OAuthRequest) -> bool:
        return client_key in self.provider.consumers

    def get_client_secret(self, client_key: str, request: OAuthRequest) -> str:
        return self.provider.consumers.get(client_key, "dummy-secret")

    def validate_timestamp_and_nonce(
        self,
        client_key: str,
        timestamp: str,
        nonce: str,
        request: OAuthRequest,
        request_token: str | None = None,
        access_token: str | None = None,
    ) -> bool:
        key = f"{client_key}:{timestamp}:{nonce}:{request_token or access_token or ''}"
        return self.provider.store.add("nonce", key, True, ttl=2 * self.provider.timestamp_window)

    def validate_requested_realms(
        self, client_key: str, realms: list[str], request: OAuthRequest
    ) -> bool:
        return True

    def get_default_realms(self, client_key: str, request: OAuthRequest) -> list[str]:
        return []

    def validate_redirect_uri(
        self, client_key: str, redirect_uri: str, request: OAuthRequest
    ) -> bool:
        return True  # the provider checks the allow-list first, to answer code 415

    # oauthlib passes the token as a dict; the stub says str.
    def save_request_token(  # type: ignore[override]
        self, token: dict[str, str], request: OAuthRequest
    ) -> None:
        access_type = dict(cast(list[tuple[str, str]], request.params)).get("x_auth_access_type")
        self.provider.add_request_token(
            token["oauth_token"],
            token["oauth_token_secret"],
            callback=str(request.redirect_uri),
            consumer_key=str(request.client_key),
            # Twitter ignores values it does not know.
            access_type=access_type if access_type in ACCESS_TYPES else None,
        )

    def _request_token(self, client_key: str, token: str) -> dict[str, Any] | None:
        record: dict[str, Any] | None = self.provider.store.get("request_token", token)
        if record is None or record["consumer_key"] != client_key:
            return None
        return record

    def validate_request_token(self, client_key: str, token: str, request: OAuthRequest) -> bool:
        return self._request_token(client_key, token) is not None

    def get_request_token_secret(self, client_key: str, token: str, request: OAuthRequest) -> str:
        record = self._request_token(client_key, token)
        return "dummy-secret" if record is None else str(record["secret"])

    def validate_verifier(
        self, client_key: str, token: str, verifier: str, request: OAuthRequest
    ) -> bool:
        record = self._request_token(client_key, token)
        expected = None if record is None else record["verifier"]
        return expected is not None and secrets.compare_digest(expected, verifier)

    def _access_token(self, client_key: str, token: str) -> dict[str, Any] | None:
        record: dict[str, Any] | None = self.provider.store.get("access_token", token)
        if record is None or record["consumer_key"] != client_key:
            return None
        return record

    def validate_access_token(self, client_key: str, token: str, request: OAuthRequest) -> bool:
        record = self._access_token(client_key, token)
        # Kept so that a concurrent invalidation cannot pull the record from under the answer.
        request.validator_log["access_record"] = record
        return record is not None

    def get_access_token_secret(self, client_key: str, token: str, request: OAuthRequest) -> str:
        record = self._access_token(client_key, token)
        return "dummy-secret" if record is None else str(record["secret"])

    def validate_realms(
        self,
        client_key: str,
        token: str,
        request: OAuthRequest,
        uri: str | None = None,
        realms: list[str] | None = None,
    ) -> bool:
        return True


class FakeUser(TypedDict, total=False):
    """Who the user at the fake Twitter is: the keywords of :meth:`FakeProvider.approve`
    and :meth:`FakeProvider.add_access_token` (their defaults apply to those left out)."""

    user_id: str
    screen_name: str
    access_level: str | None
    name: str | None
    email: str | None


def _user_record(
    user_id: str, screen_name: str, access_level: str, name: str | None, email: str | None
) -> dict[str, Any]:
    """The user as the store keeps them with a token (``name`` defaults to the screen
    name)."""
    if access_level not in ACCESS_LEVELS:
        raise ValueError(f"access_level must be one of {ACCESS_LEVELS}.")
    return {
        "user_id": str(user_id),
        "screen_name": screen_name,
        "access_level": access_level,
        "name": screen_name if name is None else name,
        "email": email,
    }


class FakeProvider:
    """Twitter's OAuth endpoints over a :class:`~.store.Store`, for one or more consumers.

    ``api_url`` is where the endpoints live (requests to ``{api_url}/oauth/...``).
    ``callback_urls``: None accepts any callback; a list is the app's allow-list
    (exact match, the query string aside); an empty list is an app with no callback
    URL, which Twitter treats as PIN-only (code 417).
    ``clock`` returns the current Unix time, for the timestamp window and rate limits.
    ``tier`` is the app's X API access tier (``"free"``, ``"basic"``, ``"pro"``): on
    Free, ``1.1/account/verify_credentials.json`` answers 403 with code 453 and
    ``2/users/me`` allows 25 calls per user per 24 hours (75 per 15 minutes otherwise).
    ``email_permission`` is the app's "Request email from users" switch: without it,
    ``include_email=true`` adds no ``email`` to ``verify_credentials``.
    """

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        *,
        api_url: str = "https://api.twitter.com",
        app_permission: str = "read-write",
        callback_urls: list[str] | None = None,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        timestamp_window: int = TIMESTAMP_WINDOW,
        request_token_lifetime: int = REQUEST_TOKEN_LIFETIME,
        include_user_in_access_token: bool = True,
        send_access_level: bool = True,
        tier: str = DEFAULT_TIER,
        email_permission: bool = False,
    ) -> None:
        self.consumer_key = consumer_key
        self.consumers = {consumer_key: consumer_secret}
        self.api_url = api_url.rstrip("/")
        self.app_permission = app_permission
        self.callback_urls = callback_urls
        self.store: Store = store if store is not None else MemoryStore()
        self.clock = clock
        self.timestamp_window = timestamp_window
        self.request_token_lifetime = request_token_lifetime
        self.include_user_in_access_token = include_user_in_access_token
        self.send_access_level = send_access_level
        self.tier = tier
        self.email_permission = email_permission
        self.validator = FakeValidator(self)
        # oauthlib's endpoints are untyped; the private _create_request and
        # _check_mandatory_parameters let the provider tell malformed requests (215) apart.
        self._request_token_endpoint: Any = RequestTokenEndpoint(self.validator)
        self._access_token_endpoint: Any = AccessTokenEndpoint(self.validator)
        self._resource_endpoint: Any = ResourceEndpoint(self.validator)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.api_url} consumers={list(self.consumers)}>"

    @property
    def app_permission(self) -> str:
        """The app's permission level: ``read``, ``read-write`` or ``read-write-directmessages``."""
        return self._app_permission

    @app_permission.setter
    def app_permission(self, value: str) -> None:
        if value not in ACCESS_LEVELS:
            raise ValueError(f"app_permission must be one of {ACCESS_LEVELS}, not {value!r}.")
        self._app_permission = value

    @property
    def tier(self) -> str:
        """The app's access tier at X: ``free``, ``basic`` or ``pro``."""
        return self._tier

    @tier.setter
    def tier(self, value: str) -> None:
        if value not in TIERS:
            raise ValueError(f"tier must be one of {TIERS}, not {value!r}.")
        self._tier = value

    def add_consumer(self, consumer_key: str, consumer_secret: str) -> None:
        """Another app at the same fake Twitter (its tokens are not the first one's)."""
        self.consumers[consumer_key] = consumer_secret

    # -- helpers for tests and the sandbox's pages --------------------------------------

    def add_request_token(
        self,
        token: str,
        secret: str,
        *,
        callback: str = OOB,
        consumer_key: str | None = None,
        access_type: str | None = None,
    ) -> None:
        """A request token, as if ``oauth/request_token`` had issued it (to the first
        consumer unless ``consumer_key`` is given); it lives ``request_token_lifetime``."""
        if access_type is not None and access_type not in ACCESS_TYPES:
            raise ValueError(f"access_type must be one of {ACCESS_TYPES}, not {access_type!r}.")
        self.store.set(
            "request_token",
            token,
            {
                "secret": secret,
                "consumer_key": self.consumer_key if consumer_key is None else consumer_key,
                "callback": callback,
                "access_type": access_type,
                "verifier": None,
                "user": None,
            },
            ttl=self.request_token_lifetime,
        )

    def add_access_token(
        self,
        token: str,
        secret: str,
        *,
        consumer_key: str | None = None,
        user_id: str = DEFAULT_USER_ID,
        screen_name: str = DEFAULT_SCREEN_NAME,
        access_level: str | None = None,
        name: str | None = None,
        email: str | None = None,
    ) -> None:
        """An access token, as if the user had authorized the app (the first consumer
        unless ``consumer_key`` is given) at ``access_level`` (default: the app's
        permission). Lets tests start from tokens a site already holds. ``name``
        (default: the screen name) and ``email`` (default: none) are the user's."""
        user = _user_record(
            user_id,
            screen_name,
            self.app_permission if access_level is None else access_level,
            name,
            email,
        )
        consumer_key = self.consumer_key if consumer_key is None else consumer_key
        self.store.set(
            "access_token", token, {"secret": secret, "consumer_key": consumer_key, **user}
        )
        # Re-authorizing at the same level returns this token (see _issue_access_token).
        self.store.set(
            "current_token", f"{consumer_key}:{user['user_id']}:{user['access_level']}", token
        )

    def pending(self, oauth_token: str) -> dict[str, Any] | None:
        """The request token's record while it can still be exchanged, else None."""
        record: dict[str, Any] | None = self.store.get("request_token", oauth_token)
        return record

    def _pending(self, oauth_token: str) -> dict[str, Any]:
        record = self.pending(oauth_token)
        if record is None:
            raise LookupError("Unknown, used or expired request token.")
        return record

    def approve(
        self,
        oauth_token: str,
        *,
        user_id: str = DEFAULT_USER_ID,
        screen_name: str = DEFAULT_SCREEN_NAME,
        access_level: str | None = None,
        verifier: str | None = None,
        name: str | None = None,
        email: str | None = None,
    ) -> str:
        """The user approves the app: returns the verifier (the PIN for ``oob``).

        ``name`` (default: the screen name) and ``email`` (default: none) are the user's.
        ``verifier`` fixes the verifier instead of a random one (for published vectors).
        Approving again replaces the verifier; the request token's lifetime restarts.
        """
        record = self._pending(oauth_token)
        user = _user_record(
            user_id,
            screen_name,
            (
                granted_level(self.app_permission, record["access_type"])
                if access_level is None
                else access_level
            ),
            name,
            email,
        )
        if verifier is None:
            if record["callback"] == OOB:
                verifier = f"{secrets.randbelow(10**7):07d}"
            else:
                verifier = secrets.token_urlsafe(24)
        record["verifier"] = verifier
        record["user"] = user
        self.store.set("request_token", oauth_token, record, ttl=self.request_token_lifetime)
        return verifier

    def callback_url(self, oauth_token: str, /, **params: str) -> str:
        """The request token's callback URL with ``params`` appended (RFC 5849 §2.2).

        Raises LookupError for an unknown, used or expired token and ValueError for
        a PIN (``oob``) token, which has no callback.
        """
        callback: str = self._pending(oauth_token)["callback"]
        if callback == OOB:
            raise ValueError("A PIN (oob) authorization has no callback URL.")
        separator = "&" if urllib.parse.urlsplit(callback).query else "?"
        return f"{callback}{separator}{urllib.parse.urlencode(params)}"

    def redirect_url(self, oauth_token: str, verifier: str) -> str:
        """Where Twitter sends the browser after approval."""
        return self.callback_url(oauth_token, oauth_token=oauth_token, oauth_verifier=verifier)

    def deny(self, oauth_token: str) -> str:
        """The user cancels: the request token is void; returns the ``denied=`` callback URL.

        For a PIN (``oob``) token this raises ValueError and leaves the token alone:
        there is no callback to return (the sandbox voids it with ``store.pop``).
        """
        url = self.callback_url(oauth_token, denied=oauth_token)
        self.store.pop("request_token", oauth_token)
        return url

    def invalidate(self, token: str) -> bool:
        """Twitter forgets an access token (as if the user revoked the app)."""
        return self.store.pop("access_token", token) is not None

    def access_token_valid(self, token: str) -> bool:
        return self.store.get("access_token", token) is not None

    def add_fault(self, endpoint: str, fault: Fault, times: int = 1) -> None:
        endpoint = ALIASES.get(endpoint, endpoint)
        if endpoint not in API_ENDPOINTS and endpoint not in BROWSER_ENDPOINTS:
            raise ValueError(f"Unknown endpoint {endpoint!r}.")
        # Kept as plain dicts, so that a store in the database (JSON) can hold them.
        queue = list(self.store.get("faults", endpoint) or [])
        queue.extend([dataclasses.asdict(fault)] * times)
        self.store.set("faults", endpoint, queue)

    def _next_fault(self, endpoint: str) -> Fault | None:
        queue = list(self.store.get("faults", endpoint) or [])
        if not queue:
            return None
        fault = Fault(**queue.pop(0))
        self.store.set("faults", endpoint, queue)
        return fault

    # -- the HTTP side --------------------------------------------------------------------

    def endpoint_for(self, url: str) -> str | None:
        """The endpoint name for a URL under ``api_url``, or None."""
        base = urllib.parse.urlsplit(self.api_url)
        parts = urllib.parse.urlsplit(url)
        prefix = base.path.rstrip("/") + "/"
        if (parts.scheme, parts.netloc.lower()) != (base.scheme, base.netloc.lower()):
            return None
        if not parts.path.startswith(prefix):
            return None
        name = parts.path[len(prefix) :]
        return ALIASES.get(name, name)

    def handle(
        self, method: str, url: str, headers: Mapping[str, str | bytes], body: str | bytes | None
    ) -> FakeResponse:
        """Answer one HTTP request as Twitter would.

        Raises :class:`ConnectionFault` or :class:`TimeoutFault` for injected network
        faults; the caller turns them into its transport's failure.
        """
        endpoint = self.endpoint_for(url) or ""
        self.store.incr("count", endpoint)
        fault = self._next_fault(endpoint)
        if fault is not None:
            if fault.latency:
                time.sleep(fault.latency)
            if fault.kind == "connection_error":
                raise ConnectionFault(endpoint)
            if fault.kind == "timeout":
                raise TimeoutFault(endpoint)
            if fault.kind == "response":
                return FakeResponse(fault.status, fault.body, dict(fault.headers))
        method = method.upper()
        if endpoint in BROWSER_ENDPOINTS and method == "GET":
            return FakeResponse(200, BROWSER_PAGE, {"content-type": HTML})
        if API_ENDPOINTS.get(endpoint) != method:
            return _json_error(404, 34, "Sorry, that page does not exist.")
        try:
            return self._dispatch(
                endpoint, method, url, *_oauth_out_of_body(_str_headers(headers), _text(body))
            )
        except errors.OAuth1Error:
            # Malformed OAuth parameters, as oauthlib finds them.
            return _v2_unauthorized() if _is_v2(endpoint) else _bad_authentication()

    def verify_signature(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str | bytes],
        body: str | bytes | None = None,
    ) -> bool:
        """Whether Twitter would accept this request, signed with an access token, at ``url``.

        The checks of the API endpoints (consumer, access token, HMAC-SHA1 signature,
        timestamp window, nonce) for any URL, including endpoints the fake does not
        serve. Like Twitter, it uses up the nonce: the same request twice is refused.
        Header values may be bytes, as requests-oauthlib sets ``Authorization``.
        """
        all_headers, text = _oauth_out_of_body(_str_headers(headers), _text(body))
        try:
            oauth = self._oauth_params(url, all_headers, text)
            if self._precheck(oauth) is not None:
                return False
            valid, _request = self._validate_resource(method.upper(), url, all_headers, text)
        except (ValueError, errors.OAuth1Error):
            return False
        return valid

    def _dispatch(
        self, endpoint: str, method: str, url: str, headers: dict[str, str], body: str
    ) -> FakeResponse:
        try:
            oauth = self._oauth_params(url, headers, body)
        except ValueError:
            # A malformed Authorization header or query string.
            return _v2_unauthorized() if _is_v2(endpoint) else _bad_authentication()
        refusal = self._precheck(oauth)
        if refusal is not None:
            return _v2_unauthorized() if _is_v2(endpoint) else refusal
        if endpoint == REQUEST_TOKEN:
            return self._request_token(url, method, headers, body, oauth)
        if endpoint == ACCESS_TOKEN:
            return self._access_token(url, method, headers, body)
        return self._resource(endpoint, url, method, headers, body)

    @staticmethod
    def _oauth_params(url: str, headers: dict[str, str], body: str) -> dict[str, str]:
        content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
        form = body if FORM_URLENCODED in content_type else ""
        params = signature.collect_parameters(
            uri_query=urllib.parse.urlsplit(url).query,
            body=form,
            headers=headers,
            exclude_oauth_signature=False,
        )
        return {key: value for key, value in params if key.startswith("oauth_")}

    def _precheck(self, oauth: dict[str, str]) -> FakeResponse | None:
        """Checked before oauthlib's validation, so the answer carries Twitter's code."""
        if not all(oauth.get(name) for name in MANDATORY_PARAMS):
            return _bad_authentication()
        timestamp = oauth["oauth_timestamp"]
        if not timestamp.isdecimal():
            return _bad_authentication()
        if abs(self.clock() - int(timestamp)) > self.timestamp_window:
            return _json_error(401, 135, "Timestamp out of bounds.")
        return None

    def _callback_refusal(self, callback: str | None) -> FakeResponse | None:
        if callback is None or callback == OOB:
            return None
        if urllib.parse.urlsplit(callback).scheme.lower() in REFUSED_CALLBACK_SCHEMES:
            # Twitter refuses these whatever the allow-list says (callback URLs, in
            # https://docs.x.com/fundamentals/developer-apps); the sandbox
            # would otherwise redirect browsers to them.
            return _json_error(403, 415, CALLBACK_NOT_APPROVED)
        if self.callback_urls is None:
            return None
        if not self.callback_urls:
            return FakeResponse(401, DESKTOP_ONLY_XML, {"content-type": XML})
        without_query = urllib.parse.urlsplit(callback)._replace(query="").geturl()
        if without_query in self.callback_urls:
            return None
        return _json_error(403, 415, CALLBACK_NOT_APPROVED)

    def _request_token(
        self, url: str, method: str, headers: dict[str, str], body: str, oauth: dict[str, str]
    ) -> FakeResponse:
        refusal = self._callback_refusal(oauth.get("oauth_callback"))
        if refusal is not None:
            return refusal
        endpoint = self._request_token_endpoint
        request = endpoint._create_request(url, method, body, headers)
        valid, request = endpoint.validate_request_token_request(request)
        if not valid:
            return _not_authenticated()
        answer: str = endpoint.create_request_token(request, {})
        return FakeResponse(200, answer, {"content-type": FORM})

    def _access_token(
        self, url: str, method: str, headers: dict[str, str], body: str
    ) -> FakeResponse:
        endpoint = self._access_token_endpoint
        request = endpoint._create_request(url, method, body, headers)
        valid, request = endpoint.validate_access_token_request(request)
        if not valid:
            # An empty log: the nonce was replayed. Twitter checks the consumer first.
            log: dict[str, Any] = request.validator_log
            if not log.get("client"):
                return _not_authenticated()
            if not log["resource_owner"]:
                return FakeResponse(401, "Invalid request token.", {"content-type": TEXT})
            if not log["verifier"]:
                return FakeResponse(
                    401,
                    "Error processing your OAuth request: Invalid oauth_verifier parameter",
                    {"content-type": TEXT},
                )
            return _not_authenticated()
        # Consumed exactly once: a concurrent exchange of the same token loses here.
        record = self.store.pop("request_token", request.resource_owner_key)
        if record is None:
            return FakeResponse(401, "Invalid request token.", {"content-type": TEXT})
        user = record["user"]
        token, secret = self._issue_access_token(request.client_key, user)
        answer = {"oauth_token": token, "oauth_token_secret": secret}
        if self.include_user_in_access_token:
            answer.update(user_id=user["user_id"], screen_name=user["screen_name"])
        response_headers = {"content-type": FORM}
        if self.send_access_level:
            response_headers["x-access-level"] = user["access_level"]
        return FakeResponse(200, urllib.parse.urlencode(answer), response_headers)

    def _issue_access_token(self, consumer_key: str, user: dict[str, str]) -> tuple[str, str]:
        # Twitter returns the same token when a user re-authorizes at the same level, and
        # a new one when the level differs (Twitter's API announcement of 2011-06-28).
        current = self.store.get(
            "current_token", f"{consumer_key}:{user['user_id']}:{user['access_level']}"
        )
        if current is not None:
            record = self.store.get("access_token", current)
            if record is not None:
                return current, str(record["secret"])
        token = f"{user['user_id']}-{secrets.token_urlsafe(30)}"
        secret = secrets.token_urlsafe(33)
        self.add_access_token(
            token,
            secret,
            consumer_key=consumer_key,
            user_id=user["user_id"],
            screen_name=user["screen_name"],
            access_level=user["access_level"],
            name=user.get("name"),
            email=user.get("email"),
        )
        return token, secret

    def _validate_resource(
        self, method: str, url: str, headers: dict[str, str], body: str
    ) -> tuple[bool, OAuthRequest]:
        """oauthlib's protected-resource check; raises OAuth1Error for a malformed request
        (which ``validate_protected_resource_request`` alone reports as a plain False)."""
        endpoint = self._resource_endpoint
        endpoint._check_mandatory_parameters(endpoint._create_request(url, method, body, headers))
        valid, request = endpoint.validate_protected_resource_request(
            url, http_method=method, body=body, headers=headers
        )
        return bool(valid), request

    def _resource(
        self, endpoint: str, url: str, method: str, headers: dict[str, str], body: str
    ) -> FakeResponse:
        valid, request = self._validate_resource(method, url, headers, body)
        if not valid:
            if _is_v2(endpoint):
                return _v2_unauthorized()
            log: dict[str, Any] = request.validator_log
            if log.get("client") and not log["resource_owner"]:
                return _invalid_token()
            return _not_authenticated()
        token = str(request.resource_owner_key)
        if endpoint == INVALIDATE_TOKEN:
            if self.store.pop("access_token", token) is None:
                # Lost a race with another invalidation of the same token.
                return _invalid_token()
            return FakeResponse(200, json.dumps({"access_token": token}), {"content-type": JSON})
        record: dict[str, Any] = request.validator_log["access_record"]
        if self.tier == "free" and endpoint in NOT_ON_FREE:
            return _json_error(403, 453, TIER_ERROR)
        if endpoint == USERS_ME:
            return self._users_me(str(request.client_key), record)
        if endpoint == TWEETS:
            return self._create_tweet(str(request.client_key), record, body)
        return self._verify_credentials(url, record)

    def _verify_credentials(self, url: str, record: dict[str, Any]) -> FakeResponse:
        user: dict[str, Any] = {
            "id": int(record["user_id"]) if record["user_id"].isdecimal() else record["user_id"],
            "id_str": record["user_id"],
            "name": record.get("name") or record["screen_name"],
            "screen_name": record["screen_name"],
        }
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        if query.get("include_email") == "true" and self.email_permission:
            # Twitter answers null for a user without a (verified) email.
            user["email"] = record.get("email")
        response_headers = {
            "content-type": JSON,
            "x-rate-limit-limit": "75",
            "x-rate-limit-remaining": "74",
            "x-rate-limit-reset": str(int(self.clock()) + 900),
        }
        if self.send_access_level:
            response_headers["x-access-level"] = record["access_level"]
        return FakeResponse(200, json.dumps(user), response_headers)

    def _users_me(self, consumer_key: str, record: dict[str, Any]) -> FakeResponse:
        """``GET 2/users/me``, within X's per-user limit of the tier. No
        ``x-access-level`` header: whether X sends one on v2 answers is unconfirmed."""
        limit, window = USERS_ME_LIMITS[self.tier]
        start = int(self.clock()) // window * window
        used = self.store.incr(
            "rate", f"{consumer_key}:{record['user_id']}:{USERS_ME}:{start}", ttl=window
        )
        headers = {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(max(limit - used, 0)),
            "x-rate-limit-reset": str(start + window),
        }
        if used > limit:
            return _problem(429, "Too Many Requests", headers=headers)
        data = {
            "id": record["user_id"],
            "name": record.get("name") or record["screen_name"],
            "username": record["screen_name"],
        }
        return FakeResponse(200, json.dumps({"data": data}), {"content-type": JSON, **headers})

    def _create_tweet(self, consumer_key: str, record: dict[str, Any], body: str) -> FakeResponse:
        """``POST 2/tweets`` with a JSON body ``{"text": ...}``; the body is not part of
        the signature (RFC 5849 §3.4.1.3.1: only form-encoded bodies are)."""
        if record["access_level"] == "read":
            return _problem(
                403,
                "Forbidden",
                "Your client app is not configured with the appropriate oauth1 app "
                "permissions for this endpoint.",
                OAUTH1_PERMISSIONS,
            )
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str) or not text.strip():
            return _problem(
                400,
                "Invalid Request",
                "One or more parameters to your request was invalid.",
                INVALID_REQUEST,
            )
        number = self.store.incr("tweet_count", consumer_key)
        tweet = {
            "id": str(TWEET_ID_BASE + number),
            "text": text,
            "user_id": record["user_id"],
            "screen_name": record["screen_name"],
        }
        self.store.set("tweet", f"{consumer_key}:{number}", tweet)
        data = {"id": tweet["id"], "text": text}
        return FakeResponse(201, json.dumps({"data": data}), {"content-type": JSON})

    def tweets(self, consumer_key: str | None = None) -> list[dict[str, str]]:
        """The tweets posted through ``2/tweets`` by the app (the first consumer unless
        ``consumer_key`` is given), oldest first: ``id``, ``text``, ``user_id``,
        ``screen_name``."""
        consumer_key = self.consumer_key if consumer_key is None else consumer_key
        count = int(self.store.get("tweet_count", consumer_key) or 0)
        found = (self.store.get("tweet", f"{consumer_key}:{n}") for n in range(1, count + 1))
        return [tweet for tweet in found if tweet is not None]


def _oauth_out_of_body(headers: dict[str, str], body: str) -> tuple[dict[str, str], str]:
    """Move OAuth parameters from a form body into the Authorization header.

    Twitter's docs send ``oauth_verifier`` in the body of ``oauth/access_token`` next
    to an Authorization header, and Twitter accepts it; oauthlib refuses OAuth
    parameters from two places. The signature base string is the same wherever
    they are (RFC 5849 §3.4.1.3.1).
    """
    names = {name.lower(): name for name in headers}
    authorization = names.get("authorization")
    content_type = headers.get(names.get("content-type", ""), "")
    if authorization is None or FORM_URLENCODED not in content_type:
        return headers, body
    pairs = urllib.parse.parse_qsl(body, keep_blank_values=True)
    moved = [(name, value) for name, value in pairs if name.startswith("oauth_")]
    if not moved:
        return headers, body
    kept = [(name, value) for name, value in pairs if not name.startswith("oauth_")]
    extra = "".join(f', {name}="{urllib.parse.quote(value, safe="~")}"' for name, value in moved)
    headers = {**headers, authorization: headers[authorization] + extra}
    return headers, urllib.parse.urlencode(kept, quote_via=urllib.parse.quote)


def _str_headers(headers: Mapping[str, str | bytes]) -> dict[str, str]:
    """requests accepts bytes header values (requests-oauthlib sets Authorization so)."""
    return {
        key: value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        for key, value in headers.items()
    }


def _text(body: str | bytes | None) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return body or ""
