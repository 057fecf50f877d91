"""Staff manage tokens here: revoke at Twitter, discard, verify. Nothing shows a secret.

Every deletion goes through :mod:`django_twitter_oauth.revocation` (the plain "delete
selected" action is replaced by discard), writes a TokenEvent and a LogEntry per token.
The changelist never loads the encrypted columns.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.db import router
from django.db.models import Q, QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.http import urlencode
from django.utils.text import smart_split
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from django_twitter_oauth import revocation
from django_twitter_oauth.conf import app_settings
from django_twitter_oauth.exceptions import TokenDecryptionError
from django_twitter_oauth.models import (
    AccessToken,
    AccessTokenQuerySet,
    RequestToken,
    TokenEvent,
    users_apart,
    with_users,
)

__all__ = ["AccessTokenAdmin", "RequestTokenAdmin", "TokenEventAdmin"]

SECRET_COLUMNS = ("token", "secret")
#: Fields no query string may filter on, directly or through a relation: a lookup such
#: as ``?token__regex=^a`` answers yes or no about a credential, so a staff member who
#: may only view the list could rebuild one a request at a time.
SECRET_LOOKUP_FIELDS = frozenset({"token", "secret", "token_hash", "flow_key_hash"})

#: The confirmation page of each action that deletes tokens: its title and question.
_CONFIRMATIONS = {
    "revoke_selected": (
        _("Revoke tokens at Twitter"),
        _(
            "Twitter will invalidate these tokens, then they are deleted here. "
            "Their users must authorize again."
        ),
    ),
    "discard_selected": (
        _("Discard tokens"),
        _(
            "These tokens are deleted here without telling Twitter (use this "
            "after a permission change, or for tokens Twitter no longer "
            "accepts). Their users must authorize again."
        ),
    ),
}

if TYPE_CHECKING:
    # ModelAdmin is generic only in django-stubs, not at run time.
    AccessTokenAdminBase = admin.ModelAdmin[AccessToken]
    TokenEventAdminBase = admin.ModelAdmin[TokenEvent]
    RequestTokenAdminBase = admin.ModelAdmin[RequestToken]
else:
    AccessTokenAdminBase = TokenEventAdminBase = RequestTokenAdminBase = admin.ModelAdmin


class NoSecretLookups:
    """Refuses query-string lookups that touch a credential or its hash, with any
    lookup suffix and through any relation: Django then answers 400
    (DisallowedModelAdminLookup), as for its other refused lookups."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if SECRET_LOOKUP_FIELDS.intersection(lookup.split(LOOKUP_SEP)):
            return False
        allowed: bool = super().lookup_allowed(lookup, value, request)  # type: ignore[misc]
        return allowed


class ReadOnly:
    """Staff may look, never add, change or delete (audit rows, pending authorizations)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class UserSearch:
    """Search the related users by what identifies them in this project's user model
    (``USERNAME_FIELD``, and the email field when it has one), never a hard-coded
    ``username``: a custom user model may have none."""

    user_search_relations: tuple[str, ...] = ("user",)

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        fields: Sequence[str] = super().get_search_fields(request)  # type: ignore[misc]
        if users_apart(self.get_queryset(request)):  # type: ignore[attr-defined]
            return tuple(fields)  # searched apart, in get_search_results
        return (*fields, *user_search_fields(self.user_search_relations))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """With the users in another database (a router), the rows whose own fields
        match, or whose users match every word of the search in their USERNAME_FIELD
        or email field, looked up first on the users' database."""
        found, duplicates = super().get_search_results(  # type: ignore[misc]
            request, queryset, search_term
        )
        if not search_term or not users_apart(queryset):
            return found, duplicates
        users = get_user_model()._default_manager.all()
        names = [field.split("__", 1)[1] for field in user_search_fields(["user"])]
        for bit in smart_split(search_term):
            matches = [Q(**{f"{name}__icontains": bit}) for name in names]
            users = users.filter(functools.reduce(operator.or_, matches))
        ids = list(users.values_list("pk", flat=True))
        related = [Q(**{f"{relation}__in": ids}) for relation in self.user_search_relations]
        return found | queryset.filter(functools.reduce(operator.or_, related)), duplicates


def list_users(model_admin: admin.ModelAdmin[Any], request: HttpRequest) -> Any:
    """The changelist's ``list_select_related``: none when the users are in another
    database (:func:`users_listed` fetches them apart)."""
    if users_apart(model_admin.model._default_manager.all()):
        return ()
    return model_admin.list_select_related


def users_listed(
    model_admin: admin.ModelAdmin[Any], queryset: QuerySet[Any], request: HttpRequest
) -> QuerySet[Any]:
    """``queryset`` with its users prefetched from their own database, when apart."""
    if users_apart(queryset):
        return queryset.prefetch_related(*cast(Sequence[str], model_admin.list_select_related))
    return queryset


def user_search_fields(relations: Sequence[str]) -> list[str]:
    """``<relation>__<field>`` for the user model's USERNAME_FIELD and email field."""
    user_model = get_user_model()
    names = [user_model.USERNAME_FIELD]
    email = user_model.get_email_field_name()
    if email not in names and email in {f.name for f in user_model._meta.get_fields()}:
        names.append(email)
    return [f"{relation}__{name}" for relation in relations for name in names]


class StaleFilter(admin.SimpleListFilter):
    title = _("issued under the current app permission")
    parameter_name = "stale"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("No (stale)")), ("no", _("Yes"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        # The model's own definition of stale (AccessTokenQuerySet), not a copy of it.
        tokens = cast(AccessTokenQuerySet, queryset)
        if self.value() == "yes":
            return tokens.stale()
        if self.value() == "no":
            return tokens.current()
        return queryset


@admin.register(AccessToken)
class AccessTokenAdmin(UserSearch, NoSecretLookups, AccessTokenAdminBase):
    list_display = (
        "screen_name",
        "user",
        "twitter_user_id",
        "access_level",
        "app_permission",
        "current_permission",
        "created_at",
        "verified_at",
    )
    list_filter = ("access_level", StaleFilter, "app_permission")
    #: Also searched: the user's USERNAME_FIELD and email field (any user model).
    search_fields = ("screen_name", "=twitter_user_id")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = (
        "user",
        "twitter_user_id",
        "screen_name",
        "token_hint",
        "access_level",
        "app_permission",
        "created_at",
        "updated_at",
        "verified_at",
    )
    fields = readonly_fields
    actions = ("revoke_selected", "discard_selected", "verify_selected")
    change_list_template = "admin/twitter_oauth/accesstoken/change_list.html"
    date_hierarchy = "created_at"

    #: Longest wait, in seconds, for a 429's reset during an action: the staff member's
    #: request is held meanwhile. TWITTER_OAUTH_RATE_LIMIT_MAX_WAIT applies when lower.
    #: Tokens left are reported as not attempted; run the action again later.
    rate_limit_max_wait: float = 10.0
    #: Failures listed one message each; the rest are summed up in one more message.
    max_failure_messages = 10

    # -- no secret, no add, no edit ---------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[AccessToken]:
        # The changelist never decrypts: the encrypted columns are not even loaded.
        return users_listed(self, super().get_queryset(request).defer(*SECRET_COLUMNS), request)

    def get_list_select_related(self, request: HttpRequest) -> Any:
        return list_users(self, request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("twitter_oauth.revoke_accesstoken")

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        # Django 6.1 passes action_location (and warns about overrides without it);
        # 5.2 and 6.0 know no such argument.
        location = {} if action_location is None else {"action_location": action_location}
        actions: dict[str, Any] = super().get_actions(request, **location)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description=_("token (last 4 characters)"))
    def token_hint(self, obj: AccessToken) -> str:
        try:
            return f"…{obj.token[-4:]}"
        except TokenDecryptionError:
            return str(_("unreadable with the configured FERNET_KEYS"))

    @admin.display(boolean=True, description=_("current permission"))
    def current_permission(self, obj: AccessToken) -> bool:
        return not obj.is_stale

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        stale = AccessToken.objects.stale().count()
        context = {
            "stale_count": stale,
            "app_permission": app_settings.APP_PERMISSION,
            "stale_url": f"?{urlencode({'stale': 'yes'})}",
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Nothing on the page is editable: no Save buttons (see save_model).
        context = {
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra_context=context)

    def save_model(self, request: HttpRequest, obj: AccessToken, form: Any, change: bool) -> None:
        # Every field is read-only, so there is nothing to save; saving anyway would
        # rewrite the encrypted columns and move updated_at, which marks
        # re-authorizations (revocation keeps a row whose updated_at moved).
        return

    def delete_model(self, request: HttpRequest, obj: AccessToken) -> None:
        # The change page's Delete button: a discard, so the audit trail is kept.
        revocation.discard([obj], actor=request.user, reason="deleted in the admin")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AccessToken]) -> None:
        # Not reachable from this admin (delete_selected is removed), but a subclass or a
        # site-wide action calling it still goes through the service.
        revocation.discard(queryset, actor=request.user, reason="deleted in the admin")

    # -- actions ------------------------------------------------------------------------

    def _confirm(
        self, request: HttpRequest, queryset: QuerySet[AccessToken], action: str
    ) -> TemplateResponse:
        """Django's delete_selected convention: a page listing the tokens, with the
        action's _CONFIRMATIONS words; the second POST carries post=yes."""
        title, question = _CONFIRMATIONS[action]
        context = {
            **self.admin_site.each_context(request),
            "title": str(title),
            "question": str(question),
            "queryset": with_users(queryset),
            "opts": self.model._meta,
            "action": action,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "admin/twitter_oauth/accesstoken/action_confirmation.html", context
        )

    @staticmethod
    def _log(request: HttpRequest, tokens: Iterable[AccessToken], flag: int, message: str) -> None:
        staff_id = cast(int, request.user.pk)  # actions run for signed-in staff only
        LogEntry.objects.log_actions(staff_id, list(tokens), flag, message)

    @staticmethod
    def _selected(
        queryset: QuerySet[AccessToken], seen: list[AccessToken], *, credentials: bool = True
    ) -> Iterator[AccessToken]:
        """The selected tokens from the revocation service, with their credentials when
        asked (a token no key decrypts then fails alone), each also kept in ``seen`` for
        the log. The admin's queryset defers the credentials."""
        if credentials:
            queryset = queryset.defer(None)
        for token in revocation.iterate(with_users(queryset)):
            seen.append(token)
            yield token

    def _delete_selected(
        self,
        request: HttpRequest,
        queryset: QuerySet[AccessToken],
        action: str,
        delete: Callable[[Iterator[AccessToken]], revocation.Report],
        *,
        credentials: bool,
        message: str,
    ) -> HttpResponse | None:
        """The body of revoke and discard: the confirmation page first; once confirmed,
        ``delete`` the selection through the service, log each token deleted, report."""
        if request.POST.get("post") != "yes":
            return self._confirm(request, queryset, action)
        tokens: list[AccessToken] = []
        report = delete(self._selected(queryset, tokens, credentials=credentials))
        self._log(request, self._deleted(tokens), DELETION, message)
        self._report(request, report)
        return None

    def _max_wait(self) -> float:
        return min(app_settings.RATE_LIMIT_MAX_WAIT, self.rate_limit_max_wait)

    def _report_failures(
        self, request: HttpRequest, failures: list[revocation.Failure], text: Any
    ) -> None:
        for failure in failures[: self.max_failure_messages]:
            self.message_user(
                request,
                text % {"screen_name": failure.screen_name, "reason": failure.reason},
                messages.ERROR,
            )
        more = len(failures) - self.max_failure_messages
        if more > 0:
            self.message_user(
                request,
                ngettext(
                    "%(count)d more token failed likewise.",
                    "%(count)d more tokens failed likewise.",
                    more,
                )
                % {"count": more},
                messages.ERROR,
            )

    def _report(self, request: HttpRequest, report: revocation.Report) -> None:
        if report.revoked or report.already_invalid:
            count = report.revoked + report.already_invalid
            self.message_user(
                request,
                ngettext(
                    "%(count)d token revoked at Twitter and deleted.",
                    "%(count)d tokens revoked at Twitter and deleted.",
                    count,
                )
                % {"count": count},
                messages.SUCCESS,
            )
        if report.discarded:
            self.message_user(
                request,
                ngettext(
                    "%(count)d token discarded.", "%(count)d tokens discarded.", report.discarded
                )
                % {"count": report.discarded},
                messages.SUCCESS,
            )
        self._report_failures(
            request, report.failed, _("@%(screen_name)s was not revoked and is kept: %(reason)s")
        )
        if report.not_attempted:
            self.message_user(
                request,
                ngettext(
                    "%(count)d token was not attempted (Twitter rate limit); it is kept. "
                    "Try again later.",
                    "%(count)d tokens were not attempted (Twitter rate limit); they are "
                    "kept. Try again later.",
                    report.not_attempted,
                )
                % {"count": report.not_attempted},
                messages.WARNING,
            )

    @staticmethod
    def _deleted(tokens: list[AccessToken]) -> list[AccessToken]:
        pks = [token.pk for token in tokens]
        # On the database the service wrote to (not a replica that may lag behind).
        written = AccessToken.objects.using(router.db_for_write(AccessToken))
        kept = set(written.filter(pk__in=pks).values_list("pk", flat=True))
        return [token for token in tokens if token.pk not in kept]

    @admin.action(description=_("Revoke selected tokens at Twitter"), permissions=["revoke"])
    def revoke_selected(
        self, request: HttpRequest, queryset: QuerySet[AccessToken]
    ) -> HttpResponse | None:
        return self._delete_selected(
            request,
            queryset,
            "revoke_selected",
            functools.partial(
                revocation.revoke,
                actor=request.user,
                reason="revoked in the admin",
                max_wait=self._max_wait(),
            ),
            credentials=True,
            message="Revoked at Twitter and deleted.",
        )

    @admin.action(description=_("Discard selected tokens"), permissions=["delete"])
    def discard_selected(
        self, request: HttpRequest, queryset: QuerySet[AccessToken]
    ) -> HttpResponse | None:
        return self._delete_selected(
            request,
            queryset,
            "discard_selected",
            functools.partial(
                revocation.discard, actor=request.user, reason="discarded in the admin"
            ),
            credentials=False,
            message="Discarded.",
        )

    @admin.action(description=_("Verify selected tokens"), permissions=["change"])
    def verify_selected(
        self, request: HttpRequest, queryset: QuerySet[AccessToken]
    ) -> HttpResponse | None:
        tokens: list[AccessToken] = []
        report = revocation.verify(
            self._selected(queryset, tokens), actor=request.user, max_wait=self._max_wait()
        )
        invalid = {token.pk for token in report.invalid}
        failed = {failure.token_id for failure in report.failed}
        self._log(
            request,
            [token for token in tokens if token.pk not in invalid | failed],
            CHANGE,
            "Verified at Twitter.",
        )
        self._log(request, report.invalid, CHANGE, "Twitter says the token is invalid.")
        if report.valid:
            self.message_user(
                request,
                ngettext("%(count)d token verified.", "%(count)d tokens verified.", report.valid)
                % {"count": report.valid},
                messages.SUCCESS,
            )
        self._report_failures(
            request, report.failed, _("@%(screen_name)s could not be verified: %(reason)s")
        )
        if not report.invalid:
            return None
        self.message_user(
            request,
            ngettext(
                "Twitter says %(count)d token is invalid.",
                "Twitter says %(count)d tokens are invalid.",
                len(report.invalid),
            )
            % {"count": len(report.invalid)},
            messages.WARNING,
        )
        # Offer to discard them: always the confirmation page for just those tokens,
        # even should the verify POST carry post=yes.
        if not self.has_delete_permission(request):
            return None
        return self._confirm(
            request, self.get_queryset(request).filter(pk__in=invalid), "discard_selected"
        )


@admin.register(TokenEvent)
class TokenEventAdmin(ReadOnly, UserSearch, NoSecretLookups, TokenEventAdminBase):
    list_display = ("created_at", "action", "screen_name", "twitter_user_id", "user", "actor")
    list_filter = ("action",)
    #: Also searched: the user's and the actor's USERNAME_FIELD and email field.
    search_fields = ("screen_name", "=twitter_user_id")
    user_search_relations = ("user", "actor")
    list_select_related = ("user", "actor")
    date_hierarchy = "created_at"

    def get_list_select_related(self, request: HttpRequest) -> Any:
        return list_users(self, request)

    def get_queryset(self, request: HttpRequest) -> QuerySet[TokenEvent]:
        return users_listed(self, super().get_queryset(request), request)


@admin.register(RequestToken)
class RequestTokenAdmin(ReadOnly, NoSecretLookups, RequestTokenAdminBase):
    list_display = ("__str__", "user", "created_at", "expired")
    list_select_related = ("user",)
    fields = ("user", "next_url", "created_at")
    readonly_fields = fields

    def get_list_select_related(self, request: HttpRequest) -> Any:
        return list_users(self, request)

    def get_queryset(self, request: HttpRequest) -> QuerySet[RequestToken]:
        return users_listed(self, super().get_queryset(request).defer("secret"), request)

    @admin.display(boolean=True, description=_("expired"))
    def expired(self, obj: RequestToken) -> bool:
        return obj.is_expired
