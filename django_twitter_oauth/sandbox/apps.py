from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

__all__ = ["SandboxConfig"]


class SandboxConfig(AppConfig):
    name = "django_twitter_oauth.sandbox"
    label = "twitter_oauth_sandbox"
    verbose_name = _("Twitter sandbox")
    default_auto_field = "django.db.models.BigAutoField"
