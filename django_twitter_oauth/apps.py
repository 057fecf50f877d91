from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class TwitterOAuthConfig(AppConfig):
    name = "django_twitter_oauth"
    label = "twitter_oauth"
    verbose_name = _("Twitter OAuth")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_twitter_oauth import checks as app_checks

        checks.register(app_checks.check_settings)
        checks.register(app_checks.check_encryption)
        checks.register(app_checks.check_sessions)
        checks.register(app_checks.check_sandbox)
        checks.register(app_checks.check_backend)
        checks.register(app_checks.check_deploy, checks.Tags.security, deploy=True)
