"""Access tokens held for users, and pending authorizations.

Tokens and secrets are encrypted at rest (:mod:`django_twitter_oauth.fields`);
``str()`` and ``repr()`` never show them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_twitter_oauth.conf import app_settings
from django_twitter_oauth.fields import EncryptedTextField

if TYPE_CHECKING:
    from requests_oauthlib import OAuth1Session
    from typing_extensions import Self

    from django_twitter_oauth.client import TwitterAPI
    from django_twitter_oauth.exceptions import TokenInvalid
__all__ = [
    "AccessLevel",
    "AccessToken",
    "AccessTokenQuerySet",
    "RequestToken",
    "RequestTokenQuerySet",
    "TokenEvent",
    "TokenEventQuerySet",
    "cascade_here",
    "set_null_here",
    "users_apart",
    "with_users",
]

_Q = TypeVar("_Q", bound=models.QuerySet[Any])


def cascade_here(collector: Any, field: Any, sub_objs: Any, using: str) -> None:
    """``on_delete`` of the user keys: Django's ``CASCADE`` when the rows are in the
    deleted user's database; across databases (a router), nothing there: the app's
    ``pre_delete`` receiver (``django_twitter_oauth.deletion``) clears them on their
    own database, since no query of the user's database can reach them."""
    if using == router.db_for_write(field.model):
        models.CASCADE(collector, field, sub_objs, using)


def set_null_here(collector: Any, field: Any, sub_objs: Any, using: str) -> None:
    """``SET_NULL``, as :func:`cascade_here` is ``CASCADE``."""
    if using == router.db_for_write(field.model):
        models.SET_NULL(collector, field, sub_objs, using)


# Not queried unless acted on: the user's database may not have the app's tables.
cascade_here.lazy_sub_objs = True  # type: ignore[attr-defined]
set_null_here.lazy_sub_objs = True  # type: ignore[attr-defined]


def users_apart(queryset: models.QuerySet[Any]) -> bool:
    """Whether a router keeps the user table in another database than ``queryset``'s:
    then no query may join the two (no ``select_related``, no ``user__...`` lookup)."""
    return queryset.db != router.db_for_read(get_user_model())


def with_users(queryset: _Q, *relations: str) -> _Q:
    """``queryset`` with the users of ``relations`` (default: ``user``) loaded along:
    joined (``select_related``) when the user table is in the queryset's database,
    fetched in one more query on the users' database (``prefetch_related``) when a
    router keeps the app's tables elsewhere, since no query joins two databases."""
    relations = relations or ("user",)
    if users_apart(queryset):
        return queryset.prefetch_related(*relations)
    return queryset.select_related(*relations)


class AccessLevel(models.TextChoices):
    """Twitter's permission levels, as its ``x-access-level`` header spells them."""

    READ = "read", _("Read")
    READ_WRITE = "read-write", _("Read and write")
    READ_WRITE_DIRECTMESSAGES = "read-write-directmessages", _("Read, write and Direct Messages")


class AccessTokenQuerySet(models.QuerySet["AccessToken"]):
    def stale(self) -> Self:
        """Tokens issued under another app permission than TWITTER_OAUTH_APP_PERMISSION.

        Twitter's rule: after a permission change, such tokens must be discarded
        and their users must authorize again.
        """
        return self.exclude(app_permission=app_settings.APP_PERMISSION)

    def current(self) -> Self:
        """Tokens issued under the app's current permission level."""
        return self.filter(app_permission=app_settings.APP_PERMISSION)


class AccessToken(models.Model):
    """A Twitter account's OAuth 1.0a access token, linked to one Django user."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        db_constraint=False,
        on_delete=cascade_here,
        related_name="twitter_tokens",
        verbose_name=_("user"),
    )
    twitter_user_id = models.CharField(_("Twitter user id"), max_length=32, unique=True)
    screen_name = models.CharField(_("screen name"), max_length=50)
    token = EncryptedTextField(_("access token"))
    secret = EncryptedTextField(_("access token secret"))
    access_level = models.CharField(
        _("access level"),
        max_length=32,
        choices=AccessLevel.choices,
        help_text=_("What Twitter granted, from its x-access-level header."),
    )
    app_permission = models.CharField(
        _("issued under app permission"),
        max_length=32,
        choices=AccessLevel.choices,
        help_text=_("TWITTER_OAUTH_APP_PERMISSION when the token was issued."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    verified_at = models.DateTimeField(_("last verified"), null=True, blank=True)

    objects = AccessTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("Twitter access token")
        verbose_name_plural = _("Twitter access tokens")
        ordering = ["-created_at", "-pk"]
        permissions = [("revoke_accesstoken", _("Can revoke Twitter access tokens at Twitter"))]
        indexes = [
            models.Index(fields=["app_permission"], name="twitter_oauth_at_perm_idx"),
            models.Index(fields=["access_level"], name="twitter_oauth_at_level_idx"),
        ]

    def __str__(self) -> str:
        return f"@{self.screen_name} ({self.twitter_user_id})"

    @property
    def is_stale(self) -> bool:
        """True when issued under another app permission than the current one."""
        return self.app_permission != app_settings.APP_PERMISSION

    def session(self) -> OAuth1Session:
        """A requests-oauthlib session signed as this user, for calls on their behalf.

        Callers pass full URLs (``f"{settings.TWITTER_OAUTH_API_URL}/1.1/..."``);
        TWITTER_OAUTH_TIMEOUT applies to every request.
        """
        from django_twitter_oauth.client import TwitterClient

        return TwitterClient().session(self.token, self.secret)

    @property
    def api(self) -> TwitterAPI:
        """Calls on this user's behalf: ``token.api.get("2/users/me")``,
        ``token.api.post("2/tweets", json={"text": "..."})`` (paths relative to
        TWITTER_OAUTH_API_URL, parsed JSON, this app's exceptions; see
        :class:`~django_twitter_oauth.client.TwitterAPI`). When Twitter says the token is
        invalid, a ``found invalid`` TokenEvent is recorded before TokenInvalid is raised.
        """
        from django_twitter_oauth.client import TwitterAPI

        def found_invalid(exc: TokenInvalid) -> None:
            # The path only: never the values a caller put in its query string.
            path = exc.endpoint.partition("?")[0]
            TokenEvent.for_token(
                self, TokenEvent.Action.FOUND_INVALID, reason=f"api: {path}"
            ).save()

        return TwitterAPI(self.token, self.secret, on_invalid=found_invalid)


class RequestTokenQuerySet(models.QuerySet["RequestToken"]):
    def expired(self, now: dt.datetime | None = None) -> Self:
        """Pending authorizations older than TWITTER_OAUTH_REQUEST_TOKEN_TTL."""
        return self.filter(created_at__lte=_expiry_cutoff(now))

    def unexpired(self, now: dt.datetime | None = None) -> Self:
        return self.filter(created_at__gt=_expiry_cutoff(now))

    def claim(self, token_hash: str, flow_key_hash: str, user_pk: Any) -> RequestToken | None:
        """Remove and return the pending authorization for ``token_hash`` bound to this
        flow key and to no user or to ``user_pk`` (None: to no user), or None when there
        is no such row, or another claim removed it first: each is used once.

        The DELETE is the claim: of two concurrent claims only one removes the row. One
        ``DELETE ... RETURNING`` where the database has it (PostgreSQL, SQLite 3.35+);
        elsewhere a SELECT and a DELETE of what it found.
        """
        using = _write_alias(self)
        connection = connections[using]
        if not _deletes_returning(connection):
            mine = self.using(using).filter(token_hash=token_hash, flow_key_hash=flow_key_hash)
            found = mine.filter(models.Q(user=None) | models.Q(user=user_pk)).first()
            # The DELETE decides (one statement, no transaction; the pk stays set).
            removed = found is not None and mine.filter(pk=found.pk)._raw_delete(using)
            return found if removed else None
        opts = self.model._meta
        fields = opts.concrete_fields
        quote = connection.ops.quote_name
        column = {field.name: quote(str(field.column)) for field in fields}
        user = RequestToken.user.field
        bound = f"{column['user']} IS NULL"
        params = [token_hash, flow_key_hash]
        if user_pk is not None:
            bound = f"({bound} OR {column['user']} = %s)"
            params.append(user.get_db_prep_value(user_pk, connection))
        # Only quoted names from the model's options go into the text; every value is a
        # parameter (hence the S608/B608 waiver).
        sql = (
            f"DELETE FROM {quote(opts.db_table)}"  # noqa: S608  # nosec B608
            f" WHERE {column['token_hash']} = %s AND {column['flow_key_hash']} = %s AND {bound}"
            f" RETURNING {', '.join(column.values())}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()  # to the end: SQLite finishes the DELETE there
        if not rows:
            return None
        return self.model.from_db(
            using, [field.attname for field in fields], _from_db(rows[0], fields, connection)
        )


def _from_db(
    row: Sequence[Any], fields: Sequence[Any], connection: BaseDatabaseWrapper
) -> list[Any]:
    """``row``'s values as a SELECT of ``fields`` gives them (the backend's and the
    fields' converters: an aware time, a UUID, a decrypted secret)."""
    values = []
    for value, field in zip(row, fields, strict=True):
        column = field.get_col(field.model._meta.db_table)
        for convert in (
            *connection.ops.get_db_converters(column),
            *column.get_db_converters(connection),
        ):
            value = convert(value, column, connection)
        values.append(value)
    return values


def _write_alias(queryset: models.QuerySet[Any]) -> str:
    """The database ``using()`` or ``db_manager()`` chose for ``queryset``, else the
    router's for writes (``QuerySet.db`` would give the one for reads)."""
    chosen: str | None = getattr(queryset, "_db", None)
    return chosen or router.db_for_write(queryset.model)


def _deletes_returning(connection: BaseDatabaseWrapper) -> bool:
    """Whether ``DELETE ... RETURNING`` can claim a pending authorization in one statement."""
    return connection.vendor == "postgresql" or (
        connection.vendor == "sqlite" and connection.features.can_return_columns_from_insert
    )


def _expiry_cutoff(now: dt.datetime | None) -> dt.datetime:
    return (now or timezone.now()) - dt.timedelta(seconds=app_settings.REQUEST_TOKEN_TTL)


def hash_token(oauth_token: str) -> str:
    """The SHA-256 (hex) of a request token (or flow key), as :class:`RequestToken`
    stores it: the value itself never reaches the database."""
    return hashlib.sha256(oauth_token.encode()).hexdigest()


class RequestToken(models.Model):
    """A pending authorization: Twitter's request token until the user comes back.

    Only a hash of Twitter's ``oauth_token`` is stored (the browser brings the token
    back), so nothing at rest rebuilds a pending authorization; the secret is
    encrypted. Bound to a hash of a random flow key kept in a signed cookie, consumed
    exactly once.
    """

    token_hash = models.CharField(_("request token hash"), max_length=64, unique=True)
    secret = EncryptedTextField(_("request token secret"))
    flow_key_hash = models.CharField(_("flow key hash"), max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        db_constraint=False,
        on_delete=cascade_here,
        null=True,
        blank=True,
        related_name="twitter_request_tokens",
        verbose_name=_("user"),
    )
    access_type = models.CharField(
        _("access type"),
        max_length=8,
        blank=True,
        help_text=_('The x_auth_access_type asked for ("read" or "write"), if any.'),
    )
    next_url = models.CharField(_("next URL"), max_length=2048, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)

    objects = RequestTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("pending Twitter authorization")
        verbose_name_plural = _("pending Twitter authorizations")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return _("Pending authorization from %(created)s") % {
            "created": self.created_at.isoformat(timespec="seconds")
        }

    @property
    def expires_at(self) -> dt.datetime:
        return self.created_at + dt.timedelta(seconds=app_settings.REQUEST_TOKEN_TTL)

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at


class TokenEventQuerySet(models.QuerySet["TokenEvent"]):
    def save_unless_revoked_since(self, event: TokenEvent, since: dt.datetime) -> bool:
        """Save the new ``event`` unless a revocation of its Twitter account was recorded
        at or after ``since``; True when saved. One statement, ``INSERT ... SELECT ...
        WHERE NOT EXISTS``, where a check then a save would be two (``event.pk`` is
        not set)."""
        using = _write_alias(self)
        connection = connections[using]
        opts = self.model._meta
        quote = connection.ops.quote_name
        fields = [field for field in opts.concrete_fields if field is not opts.pk]
        values = [
            field.get_db_prep_save(field.pre_save(event, True), connection) for field in fields
        ]
        by_name = {field.name: field for field in fields}
        account, action, created_at = (
            by_name[name] for name in ("twitter_user_id", "action", "created_at")
        )
        table = quote(opts.db_table)
        # Only quoted names from the model's options go into the text; every value is a
        # parameter (hence the S608/B608 waiver).
        sql = (
            f"INSERT INTO {table} ({', '.join(quote(str(field.column)) for field in fields)})"  # noqa: S608  # nosec B608
            f" SELECT {', '.join(['%s'] * len(fields))}{connection.features.bare_select_suffix}"
            f" WHERE NOT EXISTS (SELECT 1 FROM {table}"
            f" WHERE {quote(str(account.column))} = %s AND {quote(str(action.column))} = %s"
            f" AND {quote(str(created_at.column))} >= %s)"
        )
        revoked = [
            account.get_db_prep_value(event.twitter_user_id, connection),
            action.get_db_prep_value(TokenEvent.Action.REVOKED.value, connection),
            created_at.get_db_prep_value(since, connection),
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*values, *revoked])
            return bool(cursor.rowcount == 1)


class TokenEvent(models.Model):
    """The audit trail: who authorized, revoked or discarded which Twitter account.

    Never holds a token or a secret. ``user`` is kept (nullable) when the token is gone;
    ``actor`` is the staff user who acted, or null for the user themselves, commands and
    tasks.
    """

    class Action(models.TextChoices):
        AUTHORIZED = "authorized", _("authorized")
        REAUTHORIZED = "reauthorized", _("re-authorized")
        REVOKED = "revoked", _("revoked")
        DISCARDED = "discarded", _("discarded")
        FOUND_INVALID = "found_invalid", _("found invalid")
        REENCRYPTED = "reencrypted", _("re-encrypted")

    twitter_user_id = models.CharField(_("Twitter user id"), max_length=32, db_index=True)
    screen_name = models.CharField(_("screen name"), max_length=50, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        db_constraint=False,
        on_delete=set_null_here,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        db_constraint=False,
        on_delete=set_null_here,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    reason = models.TextField(_("reason"), blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    objects = TokenEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("Twitter token event")
        verbose_name_plural = _("Twitter token events")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"@{self.screen_name} ({self.twitter_user_id}) {self.get_action_display()}"

    @classmethod
    def for_token(
        cls, token: AccessToken, action: str, *, actor: Any = None, reason: str = ""
    ) -> TokenEvent:
        """An unsaved event about ``token`` (for ``bulk_create``)."""
        return cls(
            twitter_user_id=token.twitter_user_id,
            screen_name=token.screen_name,
            user_id=token.user_id,
            action=action,
            actor=actor if actor is not None and actor.is_authenticated else None,
            reason=reason[:1000],
        )
