"""Begin and complete the authorization (the 3-legged flow), independent of HTTP views.

The views and the ``twitter_oauth_connect`` command both use this module. It talks
to Twitter only through :mod:`django_twitter_oauth.client` and writes only through
the models; signals go out after the transaction commits.

Binding a pending authorization to the browser that started it: a signed cookie
(``FLOW_COOKIE``) holds a random *flow key*; each
:class:`~django_twitter_oauth.models.RequestToken` stores a hash of it. Not the
session: an anonymous begin then writes no session row, and neither a login (which
rotates the session key) nor a logout (which flushes the session) ends a flow in
flight. One flow key serves every flow in flight, so two tabs do not break each other.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import re
import secrets
import urllib.parse
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, router, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import URLResolver, get_resolver, get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.encoding import iri_to_uri
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from django_twitter_oauth import revocation, signals
from django_twitter_oauth.client import TwitterClient
from django_twitter_oauth.conf import ACCESS_TYPES, OOB, VERIFY_V1, app_settings, granted_level
from django_twitter_oauth.exceptions import (
    AccountConflict,
    AmbiguousAccount,
    AuthorizationError,
    ExpiredRequestToken,
    ForeignRequestToken,
    InvalidCallback,
    SignInRefused,
    TokenInvalid,
    UnknownAccount,
    UnknownRequestToken,
)
from django_twitter_oauth.models import (
    AccessToken,
    RequestToken,
    RequestTokenQuerySet,
    TokenEvent,
    hash_token,
    with_users,
)
from django_twitter_oauth.signup import TwitterIdentity

__all__ = [
    "Begun",
    "Completed",
    "Disconnected",
    "begin",
    "begin_pin",
    "callback_url",
    "complete",
    "complete_pin",
    "deny",
    "disconnect",
    "find_pending",
    "pin_authorization_url",
    "safe_next",
]

logger = logging.getLogger(__name__)

#: The signed cookie that holds the browser's flow key (HttpOnly, SameSite=Lax, Secure
#: on HTTPS, scoped to the app's URL prefix, Max-Age TWITTER_OAUTH_REQUEST_TOKEN_TTL).
#: Its name holds "KEY": Django's error reports (SafeExceptionReporterFilter) show such
#: cookies cleansed.
FLOW_COOKIE = "twitter_oauth_flow_key"
#: The salt of its signature (django.core.signing), so no other signed value passes.
FLOW_COOKIE_SALT = "django_twitter_oauth.flow"
#: Most pending authorizations one browser (one flow key) holds at once: beginning
#: another drops its oldest.
MAX_PENDING = 5
#: Longest oauth_token / oauth_verifier accepted from the browser.
MAX_PARAMETER = 255
#: Longest ``next`` URL kept, counted percent-encoded as it goes into a Location header
#: (and so within RequestToken.next_url's max_length).
MAX_NEXT_URL = 2048

#: A Twitter handle, as forwarded to Twitter's ``screen_name`` (legacy names reach 50).
SCREEN_NAME = re.compile(r"[A-Za-z0-9_]{1,50}")

# Visitor-facing (lazy: translated when the error page shows them).
SIGN_IN_OFF = _("Sign in to this site first, then connect your Twitter account.")
BAD_ACCESS_TYPE = _('The access type must be "read" or "write".')
BAD_SCREEN_NAME = _("The screen name is not a Twitter handle.")
REVOKED_MEANWHILE = _(
    "Access to this Twitter account was revoked while the authorization completed. "
    "Please start again."
)


@dataclass(frozen=True)
class Begun:
    """A started authorization: where to send the browser. ``flow_key`` is the key
    this browser's flow cookie must hold (``set_flow_cookie()``; the same one when
    the browser already had a valid cookie, set again so its Max-Age covers this
    flow), or ``""`` from :func:`begin_pin` (the terminal holds the key instead)."""

    authorization_url: str
    oauth_token: str = field(repr=False)
    oob: bool
    flow_key: str = field(default="", repr=False)

    @property
    def authorization_params(self) -> dict[str, str]:
        """The query of ``authorization_url`` (``oauth_token``, ``force_login``, ...)."""
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.authorization_url).query))


@dataclass(frozen=True)
class Completed:
    """A finished authorization. ``user`` is the Django user the token belongs to;
    ``sign_in`` is True when the browser was anonymous (log ``user`` in), and
    ``signed_up`` when ``user`` was created for this Twitter account."""

    token: AccessToken = field(repr=False)
    user: Any
    created: bool
    next_url: str
    sign_in: bool
    signed_up: bool = False


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    """``candidate`` when it is a safe redirect target on this site, else ``""``.

    Too long or with control characters (which no database column takes, e.g. NUL on
    PostgreSQL), it is not kept either. Its length counts percent-encoded, as in a
    Location header: the redirect to the cancelled page carries it encoded once more
    and must stay within Django's limit on redirects.
    """
    if (
        candidate
        and len(candidate) <= MAX_NEXT_URL
        and candidate.isprintable()
        and len(iri_to_uri(candidate)) <= MAX_NEXT_URL
        and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return candidate
    return ""


def _well_formed(value: str) -> bool:
    """An oauth_token, verifier, PIN or Twitter user id as Twitter issues them: short,
    printable ASCII (anything else, a NUL byte say, never reaches the database)."""
    return bool(value) and len(value) <= MAX_PARAMETER and value.isascii() and value.isprintable()


@sensitive_variables()
def flow_key(request: HttpRequest, *, fresh: bool = False) -> str | None:
    """This browser's flow key, from its signed cookie: None when it has none, or one
    that is forged or tampered with. ``fresh``: None too when it was set longer than
    TWITTER_OAUTH_REQUEST_TOKEN_TTL ago (a new flow then gets a new key).

    The cookie is set again at every begin, so its age never exceeds that of the
    newest pending authorization bound to it: a callback with an older cookie meets
    only expired rows, and is told so (410), not that it is another browser (403).
    """
    key = request.get_signed_cookie(
        FLOW_COOKIE,
        default=None,
        salt=FLOW_COOKIE_SALT,
        max_age=app_settings.REQUEST_TOKEN_TTL if fresh else None,
    )
    return key if key is not None and _well_formed(key) else None


@sensitive_variables()
def _flow_key_hash(request: HttpRequest) -> str:
    key = flow_key(request)
    return hash_token(key) if key is not None else ""


def cookie_path() -> str:
    """The app's URL prefix (``/twitter/`` for ``path("twitter/", include(...))``): the
    flow cookie goes only to the app's own views."""
    # Worked out once per URL resolver and script prefix, not at every begin: Django
    # builds a new resolver whenever its URL caches are cleared (a ROOT_URLCONF change).
    return _cookie_path(get_resolver(get_urlconf()), get_script_prefix())


@functools.lru_cache(maxsize=16)
def _cookie_path(resolver: URLResolver, script_prefix: str) -> str:
    # reverse() prefixes the script prefix (the key) and finds the same resolver (its
    # urlconf may be a module, which the stubs' ``str | None`` leaves out).
    urlconf: Any = resolver.urlconf_name
    prefix = os.path.commonprefix(
        [reverse(f"twitter_oauth:{name}", urlconf=urlconf) for name in ("begin", "callback", "pin")]
    )
    return prefix[: prefix.rfind("/") + 1]


@sensitive_variables()
def set_flow_cookie(response: HttpResponse, request: HttpRequest, key: str) -> None:
    """Give the browser its flow key: signed, HttpOnly, SameSite=Lax (the callback is a
    top-level GET from Twitter), Secure on HTTPS, for the app's URLs only, kept as long
    as a pending authorization is usable."""
    response.set_signed_cookie(
        FLOW_COOKIE,
        key,
        salt=FLOW_COOKIE_SALT,
        max_age=app_settings.REQUEST_TOKEN_TTL,
        path=cookie_path(),
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )


def database() -> str:
    """The database alias the app's rows are written to (a router may put them apart
    from the site's other tables): its transactions, locks and on-commit hooks."""
    return router.db_for_write(AccessToken)


def _pending() -> RequestTokenQuerySet:
    """Pending authorizations, read where they are written."""
    return RequestToken.objects.db_manager(router.db_for_write(RequestToken)).all()


def _user(request: HttpRequest) -> Any:
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def callback_url(request: HttpRequest) -> str:
    """TWITTER_OAUTH_CALLBACK_URL, or the absolute URL of the callback view."""
    return app_settings.CALLBACK_URL or request.build_absolute_uri(
        reverse("twitter_oauth:callback")
    )


@sensitive_variables()
def begin(
    request: HttpRequest,
    *,
    next_url: str = "",
    force_login: bool = False,
    screen_name: str = "",
    authorize: bool = False,
    access_type: str | None = None,
) -> Begun:
    """Step 1: get a request token, remember it for this browser, return Twitter's URL.

    Signed-in users connect an account; anonymous ones sign in (when
    TWITTER_OAUTH_SIGN_IN). ``next_url`` must already be safe (:func:`safe_next`).
    With TWITTER_OAUTH_CALLBACK_URL ``"oob"`` (PIN flow) Twitter's ``oauth/authorize``
    is used, as Twitter requires for PIN apps; otherwise ``oauth/authenticate`` unless
    ``authorize``. ``access_type`` (``"read"`` or ``"write"``) overrides
    TWITTER_OAUTH_ACCESS_TYPE for this flow; ``screen_name`` must be a Twitter handle.
    Raises InvalidCallback (400) for anything else.
    """
    _check_options(access_type, screen_name)
    user = _user(request)
    if user is None and not app_settings.SIGN_IN:
        raise SignInRefused(SIGN_IN_OFF)
    # Several flows in flight share one key: a browser's valid cookie is reused.
    key = flow_key(request, fresh=True)
    if key is None:
        # A browser without a key has no pending authorization to make room among: the
        # common sign-in path costs no statement here.
        key = secrets.token_urlsafe(32)
    else:
        _make_room(hash_token(key))
    begun = _start(
        user=user,
        flow_key_hash=hash_token(key),
        callback=callback_url(request),
        access_type=access_type or app_settings.ACCESS_TYPE,
        next_url=next_url,
        force_login=force_login,
        screen_name=screen_name,
        authorize=authorize,
    )
    return replace(begun, flow_key=key)


def _check_options(access_type: str | None, screen_name: str) -> None:
    if access_type and access_type not in ACCESS_TYPES:
        raise InvalidCallback(BAD_ACCESS_TYPE)
    if screen_name and not SCREEN_NAME.fullmatch(screen_name):
        raise InvalidCallback(BAD_SCREEN_NAME)


def _make_room(flow_key_hash: str) -> None:
    """One DELETE: this browser's pending authorizations beyond the newest
    ``MAX_PENDING - 1`` (the flow being begun is the last), and, along the way, every
    expired one of any browser."""
    newest = (
        RequestToken.objects.filter(flow_key_hash=flow_key_hash)
        .order_by("-created_at", "-pk")
        .values("pk")[: MAX_PENDING - 1]
    )
    surplus = (
        RequestToken.objects.filter(flow_key_hash=flow_key_hash).exclude(pk__in=newest)
        | RequestToken.objects.expired()
    )
    # _raw_delete: a single DELETE, without the transaction QuerySet.delete() opens
    # around it (nothing refers to a RequestToken, and no signal is sent for one).
    surplus._raw_delete(router.db_for_write(RequestToken))


@sensitive_variables()
def _start(
    *,
    user: Any,
    flow_key_hash: str,
    callback: str,
    access_type: str | None,
    next_url: str = "",
    force_login: bool = False,
    screen_name: str = "",
    authorize: bool = False,
) -> Begun:
    twitter = TwitterClient()
    result = twitter.fetch_request_token(callback, access_type)
    RequestToken.objects.create(
        token_hash=hash_token(result.token),
        secret=result.secret,
        flow_key_hash=flow_key_hash,
        user=user,
        access_type=access_type or "",
        next_url=next_url,
    )
    oob = callback == OOB
    url = twitter.authorization_url(
        result.token,
        authenticate=not (authorize or oob),
        force_login=force_login,
        screen_name=screen_name or None,
    )
    return Begun(authorization_url=url, oauth_token=result.token, oob=oob)


@sensitive_variables()
def begin_pin(
    user: Any, *, access_type: str | None = None, force_login: bool = False
) -> tuple[Begun, str]:
    """The PIN flow for a terminal (``twitter_oauth_connect``): a request token with
    ``oob`` for ``user``. Returns where to send the user and the flow key that
    :func:`complete_pin` needs (the terminal holds it instead of a cookie)."""
    _check_options(access_type, "")
    key = secrets.token_urlsafe(32)
    begun = _start(
        user=user,
        flow_key_hash=hash_token(key),
        callback=OOB,
        access_type=access_type or app_settings.ACCESS_TYPE,
        force_login=force_login,
    )
    return begun, key


@sensitive_variables()
def find_pending(request: HttpRequest, oauth_token: str) -> RequestToken:
    """This browser's pending authorization for ``oauth_token`` (not consumed).

    Raises InvalidCallback (malformed), UnknownRequestToken (none, or used),
    ForeignRequestToken (another browser's, or started by another signed-in user).
    """
    return _find(oauth_token, _flow_key_hash(request), _user(request))


@sensitive_variables()
def _find(oauth_token: str, flow_key_hash: str, user: Any) -> RequestToken:
    if not _well_formed(oauth_token):
        raise InvalidCallback()
    # From the database written to (not a replica that may lag behind the begin).
    found = _pending().filter(token_hash=hash_token(oauth_token)).first()
    if found is None:
        raise UnknownRequestToken()
    if not flow_key_hash or not secrets.compare_digest(flow_key_hash, found.flow_key_hash):
        raise ForeignRequestToken()
    if found.user_id is not None and (user is None or user.pk != found.user_id):
        raise ForeignRequestToken()
    return found


@sensitive_variables()
def pin_authorization_url(oauth_token: str, *, force_login: bool, screen_name: str) -> str:
    """Twitter's ``oauth/authorize`` URL for a PIN flow (PIN apps must use authorize).
    A ``screen_name`` that is not a Twitter handle is left out."""
    return TwitterClient().authorization_url(
        oauth_token,
        authenticate=False,
        force_login=force_login,
        screen_name=screen_name if SCREEN_NAME.fullmatch(screen_name) else None,
    )


@sensitive_variables()
def _claim(oauth_token: str, flow_key_hash: str, user: Any) -> RequestToken:
    """Remove and return this browser's pending authorization for ``oauth_token``, so it
    is used only once: one ``DELETE ... RETURNING`` (the DELETE is the claim: of two
    concurrent callbacks only one removes the row). When it removed nothing, a look-up
    says why (the failing path only); an expired one is removed all the same."""
    if not _well_formed(oauth_token):
        raise InvalidCallback()
    claimed = (
        _pending().claim(hash_token(oauth_token), flow_key_hash, getattr(user, "pk", None))
        if flow_key_hash
        else None
    )
    if claimed is None:
        _find(oauth_token, flow_key_hash, user)
        # Found now, though not removed: another claim of it is under way.
        raise UnknownRequestToken()
    if claimed.is_expired:
        raise ExpiredRequestToken()
    return claimed


@sensitive_variables()
def complete(request: HttpRequest, oauth_token: str, verifier: str) -> Completed:
    """Steps 3-4: exchange the verifier (or PIN) and store the access token.

    The pending authorization is consumed exactly once; once it can no longer
    succeed it is gone. Raises an
    :class:`~django_twitter_oauth.exceptions.AuthorizationError` (with the page's
    status code) or a :class:`~django_twitter_oauth.exceptions.TwitterError`.
    """
    if not _well_formed(verifier):
        raise InvalidCallback()
    user = _user(request)
    pending = _claim(oauth_token, _flow_key_hash(request), user)
    if pending.user_id is None and not app_settings.SIGN_IN:
        # Begun while sign-in was on; it has been switched off since.
        raise SignInRefused(SIGN_IN_OFF)
    connect_user = user if pending.user_id is not None else None
    return _exchange(request, pending, oauth_token, verifier, connect_user)


@sensitive_variables()
def complete_pin(
    user: Any, flow_key: str, oauth_token: str, pin: str, *, access_type: str | None = None
) -> Completed:
    """Finish :func:`begin_pin` with the PIN the user typed; the token is linked to
    ``user``. ``authorization_completed`` is sent with ``request=None``.
    ``access_type`` is not needed any more (the pending authorization keeps the one
    :func:`begin_pin` asked for); it is used only for one begun before the upgrade
    that added it."""
    if not _well_formed(pin):
        raise InvalidCallback()
    pending = _claim(oauth_token, hash_token(flow_key), user)
    return _exchange(None, pending, oauth_token, pin, user, access_type)


@sensitive_variables()
def _exchange(
    request: HttpRequest | None,
    pending: RequestToken,
    oauth_token: str,
    verifier: str,
    connect_user: Any,
    access_type: str | None = None,
) -> Completed:
    # What begin asked Twitter for (rows from before migration 0003 have none).
    access_type = pending.access_type or access_type or app_settings.ACCESS_TYPE
    twitter = TwitterClient()
    asked_at = timezone.now()
    result = twitter.fetch_access_token(oauth_token, pending.secret, verifier)
    twitter_user_id, screen_name, access_level = (
        result.user_id,
        result.screen_name,
        result.access_level,
    )
    # The address Twitter gives with TWITTER_OAUTH_REQUEST_EMAIL, for the sign-up and
    # the signal only: never stored by this app, never logged.
    email: str | None = None
    # The display name, for the sign-up: known only when Twitter was asked who it is.
    name = ""
    request_email = app_settings.REQUEST_EMAIL
    # Only v1.1's answer says the access level (x-access-level): 2/users/me is not asked
    # for it (on X's Free tier each call counts against 25 per user per 24 hours).
    level_known = access_level or twitter.verify_endpoint != VERIFY_V1
    if request_email or not (twitter_user_id and screen_name and level_known):
        # One identifying call per authorization, through TWITTER_OAUTH_VERIFY_ENDPOINT
        # (2/users/me by default, on every tier); with the email asked for, the client
        # falls back to 2/users/me when the tier lacks v1.1 and logs why none came.
        credentials = twitter.identify(result.token, result.secret, include_email=request_email)
        twitter_user_id = twitter_user_id or credentials.user_id
        screen_name = screen_name or credentials.screen_name
        access_level = access_level or credentials.access_level
        email = credentials.email
        name = credentials.name
    # Twitter sends x-access-level on every OAuth answer; should it not, assume what it
    # grants for this app's permission and the requested access type.
    access_level = access_level or granted_level(app_settings.APP_PERMISSION, access_type)

    def store() -> Completed:
        # Not a functools.partial: its repr() would show the token and the secret.
        return _store(
            request,
            connect_user=connect_user,
            twitter_user_id=twitter_user_id,
            screen_name=screen_name,
            token=result.token,
            secret=result.secret,
            access_level=access_level,
            next_url=pending.next_url,
            asked_at=asked_at,
            email=email,
            name=name,
        )

    try:
        completed = store()
    except IntegrityError:
        # Another callback created the row for this Twitter account (or the username
        # picked for a sign-up) meanwhile: the second attempt sees it.
        completed = store()
    # After the commit, robustly: a receiver that raises is logged and never turns the
    # stored authorization into an error page.
    signals.send_after_commit(
        signals.authorization_completed,
        using=database(),
        sender=AccessToken,
        request=request,
        user=completed.user,
        token=completed.token,
        created=completed.created,
        email=email,
    )
    return completed


@sensitive_variables()
def _store(
    request: HttpRequest | None,
    *,
    connect_user: Any,
    twitter_user_id: str,
    screen_name: str,
    token: str,
    secret: str,
    access_level: str,
    next_url: str,
    asked_at: dt.datetime,
    email: str | None = None,
    name: str = "",
) -> Completed:
    """Link or update the token, under a lock on the account's row, in one transaction
    on :func:`database` (the router's database for the app's models: the lock and the
    signals' on-commit hooks are on the same one), and one on the users' database
    when a router keeps them apart (a user signed up is kept only with the token)."""
    with ExitStack() as atomic:
        atomic.enter_context(transaction.atomic(using=database()))
        users = router.db_for_write(get_user_model())
        if users != database():
            atomic.enter_context(transaction.atomic(using=users))
        found = (
            AccessToken.objects.select_for_update(of=("self",))
            # The old credentials are replaced, never read: a token no key in FERNET_KEYS
            # can decrypt (a lost key) does not stop its user from authorizing again.
            .defer("token", "secret")
            .filter(twitter_user_id=twitter_user_id)
            .order_by()  # one row at most: the id is unique
        )
        # A sign-in needs the account's user; a connect has it (and compares keys only).
        existing = next(iter(with_users(found) if connect_user is None else found), None)
        # A row untouched since Twitter was asked was not revoked meanwhile: a revocation
        # deletes the row it revoked, or (still running) finds it rewritten and checks it.
        # (Read now: saving the row below sets updated_at.)
        untouched = existing is not None and existing.updated_at < asked_at
        signed_up = False
        if connect_user is not None:
            if existing is not None and existing.user_id != connect_user.pk:
                raise AccountConflict()
            owner = connect_user
        elif existing is not None:
            owner = existing.user
            if not owner.is_active:
                raise SignInRefused(_("The account connected to this Twitter account is disabled."))
        elif app_settings.ALLOW_SIGNUP:
            owner = _sign_up(request, TwitterIdentity(twitter_user_id, screen_name, name), email)
            signed_up = True
        else:
            raise SignInRefused()
        values = {
            "screen_name": screen_name,
            "token": token,
            "secret": secret,
            "access_level": access_level,
            "app_permission": app_settings.APP_PERMISSION,
        }
        if existing is None:
            access_token = AccessToken.objects.create(
                user=owner, twitter_user_id=twitter_user_id, **values
            )
        else:
            access_token = existing
            access_token.user = owner  # the same user, loaded: receivers may ask for it
            for name, value in values.items():
                setattr(access_token, name, value)
            access_token.save(update_fields=[*values, "updated_at"])
        event = TokenEvent.for_token(
            access_token,
            TokenEvent.Action.AUTHORIZED if existing is None else TokenEvent.Action.REAUTHORIZED,
            reason="sign-up"
            if signed_up
            else ("connect" if connect_user is not None else "sign-in"),
        )
        if untouched:
            event.save(using=database())
        elif not _recorded_unless_revoked(event, asked_at):
            if not _honoured(token, secret):
                raise AuthorizationError(REVOKED_MEANWHILE)
            event.save(using=database())
        if connect_user is None:
            # Through the authentication backends, inside the transaction: when none
            # accepts the user, nothing is left behind (no token, no new user).
            owner = authenticate(request, twitter_token=access_token)
            if owner is None:
                logger.warning(
                    "Sign-in with Twitter refused by the authentication backends; is %s in "
                    "AUTHENTICATION_BACKENDS?",
                    "django_twitter_oauth.backends.TwitterBackend",
                )
                raise SignInRefused(_("Signing in with Twitter is not available for this account."))
        return Completed(
            token=access_token,
            user=owner,
            created=existing is None,
            next_url=next_url,
            sign_in=connect_user is None,
            signed_up=signed_up,
        )


def _recorded_unless_revoked(event: TokenEvent, asked_at: dt.datetime) -> bool:
    """Record ``event`` unless a revocation of its account finished after Twitter was
    asked for the token (one statement): at the same access level Twitter hands back the
    token the user already has, which that revocation may just have invalidated. False:
    one did, and nothing was recorded. (Under the lock on the account's row, or on the
    row just inserted: a revocation that finishes later finds the stored token and
    deletes it.) Everything this transaction wrote is undone if the token turns out
    invalid."""
    return TokenEvent.objects.db_manager(database()).save_unless_revoked_since(event, asked_at)


@sensitive_variables()
def _honoured(token: str, secret: str) -> bool:
    """Whether Twitter still accepts the token, asked through
    TWITTER_OAUTH_VERIFY_ENDPOINT. Only TokenInvalid means no. Any other error (the
    tier lacks the endpoint: AccessTierError; a rate limit; Twitter down) means this
    cannot be told: it propagates, so nothing is stored and the page says what went
    wrong (the site's configuration, or try again), never that access was revoked."""
    try:
        TwitterClient().identify(token, secret)
    except TokenInvalid:
        return False
    return True


@functools.lru_cache(maxsize=8)
def _signup_callable(path: str) -> Callable[..., Any]:
    """The callable TWITTER_OAUTH_SIGNUP names, imported once per dotted path."""
    return import_string(path)  # type: ignore[no-any-return]


def _sign_up(
    request: HttpRequest | None, identity: TwitterIdentity, email: str | None
) -> AbstractBaseUser:
    """A user for an unlinked Twitter account, from TWITTER_OAUTH_SIGNUP (which may
    refuse: None, or SignInRefused)."""
    user = _signup_callable(app_settings.SIGNUP)(request, identity, email)
    if user is None:
        raise SignInRefused()
    return user  # type: ignore[no-any-return]


@sensitive_variables()
def deny(request: HttpRequest, oauth_token: str) -> str:
    """The user cancelled at Twitter (``denied=<token>``): forget that pending
    authorization, without calling Twitter. Returns its safe ``next`` URL (or ``""``).

    Only this browser's own pending authorization is removed.
    """
    flow_key_hash = _flow_key_hash(request)
    pending = (
        _pending().filter(token_hash=hash_token(oauth_token), flow_key_hash=flow_key_hash).first()
        if flow_key_hash and _well_formed(oauth_token)
        else None
    )
    if pending is None:
        return ""
    pending.delete()
    signals.send_after_commit(
        signals.authorization_denied, using=database(), sender=RequestToken, request=request
    )
    return pending.next_url


def _only_account(user: Any) -> str:
    """The Twitter id of ``user``'s one connected account ("" when none); with several,
    AmbiguousAccount (the user must say which)."""
    ids = list(AccessToken.objects.filter(user=user).values_list("twitter_user_id", flat=True)[:2])
    if len(ids) > 1:
        raise AmbiguousAccount()
    return ids[0] if ids else ""


@dataclass(frozen=True)
class Disconnected:
    token: AccessToken = field(repr=False)
    told_twitter: bool


@sensitive_variables()
def disconnect(request: HttpRequest, twitter_user_id: str) -> Disconnected:
    """The signed-in user disconnects one of their Twitter accounts: revoke the token at
    Twitter, then delete it. A token Twitter already considers invalid is deleted too;
    if Twitter cannot be told, the token is still deleted here (the site can no longer
    act for the user) and ``told_twitter`` is False.
    """
    user = _user(request)
    if user is None:
        raise UnknownAccount()
    if not twitter_user_id:
        # Not named: the user's only account (the common "Disconnect Twitter" button).
        twitter_user_id = _only_account(user)
    # load(): a token no key decrypts (a lost key) cannot be revoked at Twitter, but is
    # still disconnected here, like one Twitter could not be told about.
    found = (
        revocation.load(AccessToken.objects.filter(user=user, twitter_user_id=twitter_user_id))
        if _well_formed(twitter_user_id)
        else []
    )
    if not found:
        raise UnknownAccount()
    [token] = found  # twitter_user_id is unique
    reason = "disconnected by the user"
    # No retries and no waiting for a rate limit: the user is waiting for the page.
    report = revocation.revoke([token], actor=user, reason=reason, max_wait=0, backoff=())
    told_twitter = bool(report.revoked or report.already_invalid)
    if not told_twitter:
        # The site can no longer act for the user either way: delete it here, on record.
        logger.warning("Could not revoke %s at Twitter; deleting it here only.", token)
        revocation.discard([token], actor=user, reason=f"{reason}; Twitter could not be told")
    return Disconnected(token=token, told_twitter=told_twitter)
