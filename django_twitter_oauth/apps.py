from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.db.models.signals import pre_delete
from django.utils.translation import gettext_lazy as _

__all__ = ["TwitterOAuthConfig"]


class TwitterOAuthConfig(AppConfig):
    name = "django_twitter_oauth"
    label = "twitter_oauth"
    verbose_name = _("Twitter OAuth")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_twitter_oauth import checks as app_checks
        from django_twitter_oauth.deletion import revoke_tokens_of_deleted_user

        # A lazy sender ("app_label.ModelName"): any user model, swapped or not.
        pre_delete.connect(
            revoke_tokens_of_deleted_user,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="django_twitter_oauth.revoke_tokens_of_deleted_user",
        )

        checks.register(app_checks.check_settings)
        checks.register(app_checks.check_encryption)
        checks.register(app_checks.check_sessions)
        checks.register(app_checks.check_sandbox)
        checks.register(app_checks.check_backend)
        checks.register(app_checks.check_deploy, checks.Tags.security, deploy=True)
