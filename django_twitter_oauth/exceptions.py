"""Exceptions raised by the app.

Messages never contain a token, a secret, a verifier or a signature: they are
shown to staff, written to logs and may end up in tracebacks.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

__all__ = [
    "AccessTierError",
    "AccountConflict",
    "AuthorizationError",
    "CallbackNotApproved",
    "ConfigurationRejected",
    "ExpiredRequestToken",
    "ForeignRequestToken",
    "InvalidCallback",
    "MalformedResponse",
    "SignInRefused",
    "TokenDecryptionError",
    "TokenInvalid",
    "TwitterError",
    "TwitterOAuthError",
    "TwitterRateLimited",
    "TwitterRejected",
    "TwitterUnavailable",
    "UnknownAccount",
    "AmbiguousAccount",
    "UnknownRequestToken",
]


class TwitterOAuthError(Exception):
    """Base class of every exception this app raises on purpose."""


class TokenDecryptionError(TwitterOAuthError):
    """A stored value could not be decrypted with any key in ``FERNET_KEYS``."""

    def __init__(self, field: str = "") -> None:
        where = f" ({field})" if field else ""
        super().__init__(
            f"A stored Twitter credential{where} could not be decrypted with any key in "
            "settings.FERNET_KEYS. Keep every old key in FERNET_KEYS (newest first) until "
            "'manage.py twitter_oauth_rotate_keys' has re-encrypted all rows."
        )
        self.field = field


class TwitterError(TwitterOAuthError):
    """Twitter could not be reached, or answered with an error or with nonsense.

    ``endpoint`` names the call (``"oauth/request_token"``, ...); ``status_code``
    is the HTTP status when there was an answer; ``code`` and ``twitter_message``
    are Twitter's own error code and text when its body carried them.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        status_code: int | None = None,
        code: int | None = None,
        twitter_message: str = "",
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status_code = status_code
        self.code = code
        self.twitter_message = twitter_message


class TwitterUnavailable(TwitterError):
    """A connection error, a timeout or a 5xx answer: worth retrying later."""


class TwitterRateLimited(TwitterError):
    """Twitter answered 429. ``reset_at`` is when the window resets, if it said."""

    def __init__(
        self,
        message: str,
        *,
        reset_at: dt.datetime | None = None,
        endpoint: str = "",
        code: int | None = None,
        twitter_message: str = "",
    ) -> None:
        super().__init__(
            message, endpoint=endpoint, status_code=429, code=code, twitter_message=twitter_message
        )
        self.reset_at = reset_at

    def seconds_until_reset(self, now: dt.datetime | None = None) -> float | None:
        """Seconds from ``now`` until the window resets (never negative), or None."""
        if self.reset_at is None:
            return None
        now = now or dt.datetime.now(tz=dt.timezone.utc)
        return max(0.0, (self.reset_at - now).total_seconds())


class TwitterRejected(TwitterError):
    """Twitter refused the request with a 4xx answer (other than 429)."""


class TokenInvalid(TwitterRejected):
    """The access token is invalid or expired (code 89 on a 401 or 403)."""


class ConfigurationRejected(TwitterRejected):
    """Twitter refused the site's own configuration, not the user's authorization: bad
    consumer keys (32), the server's clock (135), a suspended app (416), a PIN-only app
    (417), a callback not approved (415), an access tier without the endpoint (453), or
    any refusal of ``oauth/request_token``. Staff must fix it; the visitor cannot.

    :mod:`django_twitter_oauth.client` decides which refusals these are (one table);
    views and commands map by type only.
    """


class CallbackNotApproved(ConfigurationRejected):
    """The callback URL is not on the app's allow-list in the developer portal (code 415)."""


class AccessTierError(ConfigurationRejected):
    """The app's access tier does not include the endpoint (code 453, or v2's
    ``client-forbidden`` problem): ``endpoint`` names it. X's Free tier answers v1.1
    ``account/verify_credentials`` this way; ``2/users/me`` works on every tier."""


class MalformedResponse(TwitterError):
    """Twitter's answer lacked something the protocol requires, or could not be parsed."""


class AuthorizationError(TwitterOAuthError):
    """The authorization cannot be completed; ``status_code`` is the page's HTTP status.

    The message is safe to show to the visitor. Messages are lazy translations:
    ``str(exc)`` gives them in the language active when it is called.
    """

    status_code = 400
    default_message: str | _StrPromise = _("The authorization could not be completed.")

    def __init__(self, message: str | _StrPromise = "") -> None:
        # A lazy message is kept lazy (not evaluated here): translated when shown.
        empty = isinstance(message, str) and not message
        super().__init__(self.default_message if empty else message)


class InvalidCallback(AuthorizationError):
    """Missing or malformed parameters (``oauth_token``, ``oauth_verifier``, PIN)."""

    default_message = _("The link back from Twitter is missing parameters or is malformed.")


class UnknownRequestToken(AuthorizationError):
    """No pending authorization has this request token, or it was already used."""

    default_message = _(
        "This authorization is unknown or was already completed. Please start again."
    )


class ForeignRequestToken(AuthorizationError):
    """The request token was issued to another browser (or another signed-in user)."""

    status_code = 403
    default_message = _(
        "This authorization was started in another browser or by another account. "
        "Please start again here."
    )


class ExpiredRequestToken(AuthorizationError):
    """The pending authorization is older than TWITTER_OAUTH_REQUEST_TOKEN_TTL."""

    status_code = 410
    default_message = _("This authorization took too long and has expired. Please start again.")


class AccountConflict(AuthorizationError):
    """Connect mode: the Twitter account is already linked to another user."""

    status_code = 409
    default_message = _(
        "This Twitter account is already connected to another account on this site."
    )


class SignInRefused(AuthorizationError):
    """Sign-in mode: no user is linked to the Twitter account and sign-up is off,
    sign-in with Twitter is disabled, or the linked user may not sign in."""

    status_code = 403
    default_message = _("No account on this site is connected to this Twitter account.")


class UnknownAccount(AuthorizationError):
    """Disconnect: the signed-in user has no token for that Twitter account."""

    status_code = 404
    default_message = _("This Twitter account is not connected to your account.")


class AmbiguousAccount(AuthorizationError):
    """Disconnect: the signed-in user has several Twitter accounts connected and did not
    say which (``twitter_user_id``)."""

    status_code = 400
    default_message = _(
        "Several Twitter accounts are connected to your account. "
        "Please choose the one to disconnect."
    )
