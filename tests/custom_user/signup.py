"""The sign-up a site with :class:`~tests.custom_user.models.EmailUser` sets as
``TWITTER_OAUTH_SIGNUP`` (tests/settings_custom_user.py).

The built-in sign-up refuses for this model when Twitter gives no email address: it
never invents one. A site that wants sign-up anyway decides what to store: here the
address Twitter gave, or else an address of its own on the reserved ``.invalid``
domain (RFC 2606: it never delivers), unique per Twitter account. Like the built-in,
it never links to an existing account by email.
"""

from __future__ import annotations

from django.http import HttpRequest

from django_twitter_oauth.exceptions import SignInRefused
from django_twitter_oauth.signup import TwitterIdentity
from tests.custom_user.models import EmailUser

PLACEHOLDER_DOMAIN = "twitter.invalid"


def placeholder_email(identity: TwitterIdentity) -> str:
    """The address of a user signed up without one from Twitter."""
    return f"{identity.user_id}@{PLACEHOLDER_DOMAIN}"


def signup(request: HttpRequest | None, identity: TwitterIdentity, email: str | None) -> EmailUser:
    address = email or placeholder_email(identity)
    if EmailUser.objects.filter(email__iexact=address).exists():
        raise SignInRefused("An account with this email address exists already.")
    user = EmailUser(email=address)
    user.set_unusable_password()
    user.save()
    return user
