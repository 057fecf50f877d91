"""Create the demo staff user (idempotent) and print how to sign in."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

USERNAME = "demo"
PASSWORD = "demo"  # noqa: S105  (a local demo on 127.0.0.1, printed on purpose)
FAKE_TWITTER_USERS = ("alice", "bob", "carol")


class Command(BaseCommand):
    help = "Create the demo staff user and print the login."

    def handle(self, *args: Any, **options: Any) -> None:
        user, created = get_user_model().objects.get_or_create(
            username=USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(PASSWORD)
            user.save()
        if apps.is_installed("django_twitter_oauth.sandbox"):
            from django_twitter_oauth.sandbox.models import SandboxUser

            for screen_name in FAKE_TWITTER_USERS:
                SandboxUser.objects.get_or_create(
                    screen_name=screen_name, defaults={"name": screen_name.title()}
                )
            self.stdout.write(
                "Fake Twitter users in the sandbox: "
                + ", ".join(f"@{name}" for name in FAKE_TWITTER_USERS)
            )
        self.stdout.write(
            f"Demo staff user: {USERNAME} / {PASSWORD} "
            f"({'created' if created else 'already there'}). "
            "Open http://127.0.0.1:8000/"
        )
