"""``FakeTwitter``: the fake provider, answering ``requests`` in-process via ``responses``."""

from __future__ import annotations

import collections
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, cast

import requests
import responses

from django_twitter_oauth.client import app_or_settings
from django_twitter_oauth.conf import app_settings
from django_twitter_oauth.testing.provider import (
    ALIASES,
    DEFAULT_TIER,
    JSON,
    ConnectionFault,
    FakeProvider,
    FakeUser,
    Fault,
    TimeoutFault,
    problem,
    twitter_error,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["FakeCall", "FakeTwitter"]

#: Every method ``responses`` can intercept: a wrong one gets Twitter's 404, not a
#: connection error.
_METHODS = (
    responses.GET,
    responses.POST,
    responses.PUT,
    responses.PATCH,
    responses.DELETE,
    responses.HEAD,
    responses.OPTIONS,
)


@dataclass(frozen=True)
class FakeCall:
    """One request the fake answered: which endpoint, how, and with what status."""

    endpoint: str
    method: str
    url: str
    status: int | None  # None for an injected connection error or timeout


class FakeTwitter:
    """A signature-verifying fake Twitter for tests; no request leaves the process.

    ::

        with FakeTwitter() as fake:
            ...  # code under test calls Twitter through requests
            verifier = fake.approve(oauth_token, user_id="42", screen_name="jack")

    Every ``requests`` call to ``api_url`` (default: TWITTER_OAUTH_API_URL) is
    answered by :class:`~django_twitter_oauth.testing.provider.FakeProvider`, which
    verifies the OAuth signature like Twitter does; a wrongly signed request gets
    Twitter's 401. Calls to any other URL fail with a connection error, so nothing
    reaches the network. Consumer key, secret and app permission default to the
    site's settings.

    ``tier`` is the app's X API access tier (``"free"``, ``"basic"``, the default, or
    ``"pro"``); ``email_permission`` its "Request email from users" switch.
    """

    def __init__(
        self,
        consumer_key: str | None = None,
        consumer_secret: str | None = None,
        *,
        api_url: str | None = None,
        app_permission: str | None = None,
        callback_urls: list[str] | None = None,
        clock: Callable[[], float] = time.time,
        include_user_in_access_token: bool = True,
        send_access_level: bool = True,
        tier: str = DEFAULT_TIER,
        email_permission: bool = False,
    ) -> None:
        consumer_key, consumer_secret, api_url = app_or_settings(
            consumer_key, consumer_secret, api_url
        )
        self.provider = FakeProvider(
            consumer_key,
            consumer_secret,
            api_url=api_url,
            app_permission=(
                app_settings.APP_PERMISSION if app_permission is None else app_permission
            ),
            callback_urls=callback_urls,
            clock=clock,
            include_user_in_access_token=include_user_in_access_token,
            send_access_level=send_access_level,
            tier=tier,
            email_permission=email_permission,
        )
        self.calls: list[FakeCall] = []
        self._mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        url = re.compile(re.escape(self.provider.api_url) + r"([/?].*)?$")
        for method in _METHODS:
            # content_type=None: the provider's answers carry their own.
            self._mock.add_callback(method, url, callback=self._answer, content_type=None)

    def __repr__(self) -> str:
        return f"<FakeTwitter {self.provider.api_url}>"

    # -- plugging in --------------------------------------------------------------------

    def start(self) -> FakeTwitter:
        self._mock.start()
        return self

    def stop(self) -> None:
        self._mock.stop()

    def __enter__(self) -> FakeTwitter:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _answer(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        url = request.url or ""
        method = request.method or "GET"
        endpoint = self.provider.endpoint_for(url) or ""
        # requests accepts bytes header values.
        raw_headers = cast(Mapping[str, str | bytes], request.headers)
        headers = {
            key: value.decode() if isinstance(value, bytes) else value
            for key, value in raw_headers.items()
        }
        try:
            response = self.provider.handle(method, url, headers, request.body)
        except ConnectionFault:
            self.calls.append(FakeCall(endpoint, method, url, None))
            raise requests.ConnectionError("FakeTwitter: injected connection error") from None
        except TimeoutFault:
            self.calls.append(FakeCall(endpoint, method, url, None))
            raise requests.ReadTimeout("FakeTwitter: injected timeout") from None
        self.calls.append(FakeCall(endpoint, method, url, response.status))
        # An answer to HEAD has no body.
        return response.status, response.headers, "" if method == "HEAD" else response.body

    # -- the user at Twitter ------------------------------------------------------------

    def approve(self, oauth_token: str, **user: Unpack[FakeUser]) -> str:
        """The user approves the app; returns the verifier (the PIN in the oob flow).

        ``access_level`` defaults to what Twitter would grant: the app permission,
        lowered by the ``x_auth_access_type`` the request token asked for. ``name``
        defaults to the screen name; ``email`` (none by default) is what
        ``verify_credentials`` answers with ``include_email=true`` when the app has
        the email permission. ``user_id`` and ``screen_name`` default as in
        :meth:`FakeProvider.approve
        <django_twitter_oauth.testing.provider.FakeProvider.approve>`.
        """
        return self.provider.approve(oauth_token, **user)

    def redirect_url(self, oauth_token: str, verifier: str) -> str:
        """The callback URL Twitter redirects to after approval."""
        return self.provider.redirect_url(oauth_token, verifier)

    def authorize(self, oauth_token: str, **user: Unpack[FakeUser]) -> str:
        """approve() then redirect_url(): the callback URL with token and verifier."""
        return self.redirect_url(oauth_token, self.approve(oauth_token, **user))

    def deny(self, oauth_token: str) -> str:
        """The user cancels; returns the callback URL with ``denied=<token>``."""
        return self.provider.deny(oauth_token)

    def add_access_token(self, token: str, secret: str, **user: Unpack[FakeUser]) -> None:
        """An access token Twitter knows, as if the user had authorized the app (for
        tests that start from tokens the site already holds); ``user`` as for
        :meth:`approve`, but ``access_level`` defaults to the app permission."""
        self.provider.add_access_token(token, secret, **user)

    def invalidate(self, token: str) -> bool:
        """Twitter forgets an access token, as when the user revokes the app."""
        return self.provider.invalidate(token)

    def access_token_valid(self, token: str) -> bool:
        return self.provider.access_token_valid(token)

    @property
    def app_permission(self) -> str:
        """The app's permission level at this fake Twitter (settable)."""
        return self.provider.app_permission

    @app_permission.setter
    def app_permission(self, value: str) -> None:
        self.provider.app_permission = value

    @property
    def tier(self) -> str:
        """The app's access tier at X: ``free``, ``basic`` or ``pro`` (settable)."""
        return self.provider.tier

    @tier.setter
    def tier(self, value: str) -> None:
        self.provider.tier = value

    @property
    def email_permission(self) -> bool:
        """The app's "Request email from users" permission (settable)."""
        return self.provider.email_permission

    @email_permission.setter
    def email_permission(self, value: bool) -> None:
        self.provider.email_permission = value

    # -- what happened ------------------------------------------------------------------

    @property
    def tweets(self) -> list[dict[str, str]]:
        """Tweets posted through ``POST 2/tweets``, oldest first (``id``, ``text``,
        ``user_id``, ``screen_name``)."""
        return self.provider.tweets()

    @property
    def counts(self) -> collections.Counter[str]:
        """Calls per endpoint name (``"oauth/request_token"``, ...)."""
        return collections.Counter(call.endpoint for call in self.calls)

    def count(self, endpoint: str) -> int:
        return self.counts[ALIASES.get(endpoint, endpoint)]

    # -- faults -------------------------------------------------------------------------

    def fail(
        self,
        endpoint: str,
        *,
        status: int = 500,
        body: str = "",
        headers: dict[str, str] | None = None,
        times: int = 1,
        latency: float = 0.0,
    ) -> None:
        """The next ``times`` calls of ``endpoint`` answer ``status`` with ``body``."""
        fault = Fault("response", status, body, dict(headers or {}), latency)
        self.provider.add_fault(endpoint, fault, times)

    def fail_connection(self, endpoint: str, *, times: int = 1) -> None:
        """The next ``times`` calls of ``endpoint`` fail to connect."""
        self.provider.add_fault(endpoint, Fault("connection_error"), times)

    def fail_timeout(self, endpoint: str, *, times: int = 1) -> None:
        """The next ``times`` calls of ``endpoint`` time out."""
        self.provider.add_fault(endpoint, Fault("timeout"), times)

    def delay(self, endpoint: str, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` calls of ``endpoint`` answer normally after ``seconds``."""
        self.provider.add_fault(endpoint, Fault("latency", latency=seconds), times)

    def rate_limit(
        self,
        endpoint: str,
        *,
        times: int = 1,
        reset_in: float | None = 60,
        latency: float = 0.0,
    ) -> None:
        """The next ``times`` calls answer 429 (code 88, or v2's problem body on ``2/...``
        endpoints), with ``x-rate-limit-*`` headers saying the window resets in
        ``reset_in`` seconds (no reset header when None)."""
        headers = {
            "content-type": JSON,
            "x-rate-limit-limit": "15",
            "x-rate-limit-remaining": "0",
        }
        if reset_in is not None:
            headers["x-rate-limit-reset"] = str(int(self.provider.clock() + reset_in))
        self.fail(
            endpoint,
            status=429,
            body=(
                problem(429, "Too Many Requests")
                if endpoint.startswith("2/")
                else twitter_error(88, "Rate limit exceeded.")
            ),
            headers=headers,
            times=times,
            latency=latency,
        )
