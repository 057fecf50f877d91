"""The PIN (oob) flow in a terminal: link a Twitter account to a user."""

from __future__ import annotations

import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_twitter_oauth import flow
from django_twitter_oauth.conf import ACCESS_TYPES
from django_twitter_oauth.exceptions import (
    AuthorizationError,
    ConfigurationRejected,
    InvalidCallback,
    TwitterOAuthError,
    TwitterRejected,
)

NO_PIN = "No PIN given; nothing was linked."


class Command(BaseCommand):
    help = (
        "Link a Twitter account to USERNAME with the PIN flow: open the printed URL, "
        "authorize the app at Twitter, and type the PIN it shows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--access-type", choices=ACCESS_TYPES, help="Ask for read or write.")
        parser.add_argument(
            "--force-login", action="store_true", help="Make Twitter ask for the password."
        )
        parser.add_argument("--pin", help="The PIN, instead of reading it from standard input.")

    def handle(
        self,
        *args: Any,
        username: str,
        access_type: str | None,
        force_login: bool,
        pin: str | None,
        **options: Any,
    ) -> None:
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None
        if pin is not None and not pin.strip():
            raise CommandError(NO_PIN)
        try:
            begun, flow_key = flow.begin_pin(user, access_type=access_type, force_login=force_login)
        except TwitterOAuthError as exc:
            raise CommandError(f"Twitter could not start the authorization: {exc}") from None
        self.stdout.write("Open this URL, authorize the app, and note the PIN Twitter shows:")
        self.stdout.write(begun.authorization_url)
        if pin is None:
            pin = self.read_pin()
        pin = "".join(pin.split())
        try:
            completed = flow.complete_pin(
                user, flow_key, begun.oauth_token, pin, access_type=access_type
            )
        except ConfigurationRejected as exc:
            # The app's configuration, not the PIN (the client decides which refusals).
            raise CommandError(f"Twitter refused this app's configuration: {exc}") from None
        except TwitterRejected as exc:
            raise CommandError(
                f"Twitter did not accept the PIN (a wrong or used PIN?): {exc}"
            ) from None
        except InvalidCallback:
            raise CommandError(
                "That is not a PIN as Twitter shows them (a few digits); nothing was linked."
            ) from None
        except AuthorizationError as exc:
            raise CommandError(str(exc)) from None
        except TwitterOAuthError as exc:
            raise CommandError(f"Twitter could not complete the authorization: {exc}") from None
        token = completed.token
        self.stdout.write(
            f"{'Linked' if completed.created else 'Re-authorized'} @{token.screen_name} "
            f"({token.twitter_user_id}, {token.access_level}) to {username}."
        )

    def read_pin(self) -> str:
        # Read from standard input whether or not it is a terminal (pipes, expect, CI).
        self.stdout.write("PIN: ", ending="")
        self.stdout.flush()
        try:
            line = sys.stdin.readline()
        except KeyboardInterrupt:
            # As createsuperuser does: Ctrl-C at a prompt cancels, without a traceback.
            self.stdout.write("")
            raise CommandError("Cancelled; nothing was linked.") from None
        if not line.strip():
            raise CommandError(NO_PIN)
        return line
