"""The PIN (oob) flow in a terminal: link a Twitter account to a user.

In one run (the URL is printed, the PIN read from standard input), or in two for
terminals that cannot wait: ``--begin`` prints the URL and a resume handle, and
``--resume HANDLE`` finishes with the PIN from standard input (or ``--pin``).
"""

from __future__ import annotations

import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.core import signing
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_twitter_oauth import flow
from django_twitter_oauth.conf import ACCESS_TYPES, app_settings
from django_twitter_oauth.exceptions import (
    AuthorizationError,
    ConfigurationRejected,
    InvalidCallback,
    TwitterOAuthError,
    TwitterRejected,
)

NO_PIN = "No PIN given; nothing was linked."
#: Salt of the signed resume handle (``--begin`` prints it, ``--resume`` reads it).
HANDLE_SALT = "django_twitter_oauth.connect.resume"
BAD_HANDLE = (
    "That resume handle is not one this site printed, or it has expired; run --begin again."
)


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
        steps = parser.add_mutually_exclusive_group()
        steps.add_argument(
            "--begin",
            action="store_true",
            help="Only start: print the URL to open and a handle for --resume, then exit.",
        )
        steps.add_argument(
            "--resume",
            metavar="HANDLE",
            help="Finish an authorization started with --begin, with the PIN Twitter showed.",
        )
        parser.add_argument(
            "--pin",
            help=(
                "With --resume: the PIN, instead of reading it from standard input (which "
                "keeps it out of the process list)."
            ),
        )

    def handle(
        self,
        *args: Any,
        username: str,
        access_type: str | None,
        force_login: bool,
        begin: bool,
        resume: str | None,
        pin: str | None,
        **options: Any,
    ) -> None:
        if pin is not None and resume is None:
            # A PIN cannot be known before the run that asks for it: each run starts a new
            # authorization.
            raise CommandError(
                "--pin goes with --resume: start with --begin, open the URL, then run "
                "--resume HANDLE with the PIN Twitter showed."
            )
        if pin is not None and not pin.strip():
            raise CommandError(NO_PIN)
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None
        if resume is not None:
            oauth_token, flow_key, access_type = self.read_handle(resume)
        else:
            try:
                begun, flow_key = flow.begin_pin(
                    user, access_type=access_type, force_login=force_login
                )
            except TwitterOAuthError as exc:
                raise CommandError(f"Twitter could not start the authorization: {exc}") from None
            oauth_token = begun.oauth_token
            self.stdout.write("Open this URL, authorize the app, and note the PIN Twitter shows:")
            self.stdout.write(begun.authorization_url)
            if begin:
                handle = signing.dumps(
                    {"t": oauth_token, "k": flow_key, "a": access_type},
                    salt=HANDLE_SALT,
                    compress=True,
                )
                self.stdout.write(
                    "Then finish within "
                    f"{app_settings.REQUEST_TOKEN_TTL // 60} minutes with (the PIN is read "
                    "from standard input):"
                )
                self.stdout.write(f"  manage.py twitter_oauth_connect {username} --resume {handle}")
                return
        if pin is None:
            pin = self.read_pin()
        pin = "".join(pin.split())
        try:
            completed = flow.complete_pin(user, flow_key, oauth_token, pin, access_type=access_type)
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

    @staticmethod
    def read_handle(handle: str) -> tuple[str, str, str | None]:
        """The request token, flow key and access type a --begin run printed."""
        try:
            data = signing.loads(handle, salt=HANDLE_SALT, max_age=app_settings.REQUEST_TOKEN_TTL)
        except signing.BadSignature:
            raise CommandError(BAD_HANDLE) from None
        return data["t"], data["k"], data["a"]

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
