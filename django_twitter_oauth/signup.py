"""Sign-up: the user created when an unlinked Twitter account signs in
(``TWITTER_OAUTH_ALLOW_SIGNUP``).

``TWITTER_OAUTH_SIGNUP`` names the callable that does it (this module's
:func:`default_signup` unless set)::

    def signup(request, identity, email):
        ...
        return user  # saved; or None, or raise SignInRefused, to refuse

``request`` is the callback's (None from the ``twitter_oauth_connect`` command, which
never signs up), ``identity`` a :class:`TwitterIdentity`, ``email`` the address
Twitter gave (``TWITTER_OAUTH_REQUEST_EMAIL``) or None. It runs inside the flow's
transaction: when it refuses or raises, nothing is stored (no user, no token).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import FieldDoesNotExist
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from django_twitter_oauth.exceptions import SignInRefused

__all__ = ["TwitterIdentity", "default_signup"]

logger = logging.getLogger(__name__)

NO_EMAIL = _(
    "This site needs an email address to create an account, and Twitter did not give "
    "one. Please sign up on this site first, then connect your Twitter account."
)
EMAIL_TAKEN = _(
    "An account with the email address of this Twitter account exists already. Please "
    "sign in to it, then connect your Twitter account."
)


@dataclass(frozen=True)
class TwitterIdentity:
    """Who signs up, as Twitter says: ``user_id`` (digits), ``screen_name`` (the handle,
    without ``@``) and ``name`` (the display name, ``""`` when not known: the flow knows
    it only when it asked Twitter who the user is, as with TWITTER_OAUTH_REQUEST_EMAIL)."""

    user_id: str
    screen_name: str
    name: str = ""


def default_signup(
    request: HttpRequest | None, identity: TwitterIdentity, email: str | None
) -> AbstractBaseUser:
    """A new user for ``identity``, through the user model's ``USERNAME_FIELD`` and
    ``EMAIL_FIELD``: the username is the screen name, made unique (``jack``,
    ``jack-2``, ...); ``email``, when Twitter gave one, fills ``EMAIL_FIELD``; the
    password is unusable (they sign in with Twitter). The screen name never goes into
    an email field: a model whose ``USERNAME_FIELD`` is its email field needs ``email``,
    and without it sign-up is refused."""
    user_model: Any = get_user_model()
    username_field = user_model.USERNAME_FIELD
    email_field = _email_field(user_model)
    values: dict[str, Any] = {}
    if username_field == email_field:
        if not email:
            logger.warning(
                "Sign-up refused: the user model's USERNAME_FIELD is its email field and "
                "Twitter gave no email address. Set TWITTER_OAUTH_REQUEST_EMAIL = True "
                "(the Twitter app needs the 'Request email from users' permission) or "
                "TWITTER_OAUTH_SIGNUP to a sign-up of your own."
            )
            raise SignInRefused(NO_EMAIL)
        if user_model._default_manager.filter(**{f"{email_field}__iexact": email}).exists():
            # Never link to an existing account by email: Twitter's address proves
            # nothing about who holds that account here.
            raise SignInRefused(EMAIL_TAKEN)
        values[username_field] = email
    else:
        values[username_field] = _unique_username(user_model, identity.screen_name)
        if email and email_field is not None:
            values[email_field] = email
    user = user_model(**values)
    user.set_unusable_password()
    user.save()
    return user  # type: ignore[no-any-return]


def _email_field(user_model: Any) -> str | None:
    """The model's ``EMAIL_FIELD``, or None when it has no such field."""
    name = user_model.get_email_field_name()
    try:
        user_model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return name  # type: ignore[no-any-return]


def _unique_username(user_model: Any, screen_name: str) -> str:
    field_name = user_model.USERNAME_FIELD
    max_length = getattr(user_model._meta.get_field(field_name), "max_length", None) or 150
    base = screen_name[:max_length]
    taken = {
        str(name).lower()
        for name in user_model._default_manager.filter(
            **{f"{field_name}__istartswith": base}
        ).values_list(field_name, flat=True)
    }
    candidate, suffix = base, 1
    while candidate.lower() in taken:
        suffix += 1
        candidate = f"{base[: max_length - len(str(suffix)) - 1]}-{suffix}"
    return candidate
