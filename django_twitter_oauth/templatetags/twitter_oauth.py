"""``{% load twitter_oauth %}{% twitter_oauth_button %}``: the sign-in / connect button."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext_lazy as _

__all__ = ["twitter_oauth_button"]

register = template.Library()


@register.inclusion_tag("twitter_oauth/button.html", takes_context=True)
def twitter_oauth_button(
    context: template.Context,
    label: str = "",
    next: str = "",  # shadows the builtin: the parameter's public name
    authorize: bool = False,
    force_login: bool = False,
    screen_name: str = "",
    css_class: str = "twitter-oauth-button",
    access_type: str = "",
) -> dict[str, Any]:
    """A POST form (with CSRF token) to ``twitter_oauth:begin``.

    ``label`` defaults to "Sign in with Twitter", or "Connect Twitter" for a signed-in
    user. ``authorize`` asks for full consent (``oauth/authorize``); ``force_login``
    makes Twitter ask for the password; ``screen_name`` pre-fills it;
    ``access_type`` (``"read"`` or ``"write"``) asks Twitter for that access for this
    flow only (overriding TWITTER_OAUTH_ACCESS_TYPE).
    """
    request = context.get("request")
    user = getattr(request, "user", None)
    signed_in = bool(user is not None and user.is_authenticated)
    if not label:
        label = str(_("Connect Twitter") if signed_in else _("Sign in with Twitter"))
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "label": label,
        "next": next,
        "authorize": authorize,
        "force_login": force_login,
        "screen_name": screen_name,
        "css_class": css_class,
        "access_type": access_type,
    }
