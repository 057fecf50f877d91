"""The German catalog reaches the pages, and visitor-facing messages stay lazy.

.ci/check_translations.py (make translations-check) checks that the catalog is complete
and compiled; these tests check that the shipped .mo is found and used at run time.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation
from django.utils.functional import Promise

from django_twitter_oauth import exceptions, flow, signup


def test_cancelled_page_in_german(client: Client) -> None:
    with translation.override("de"):
        html = client.get("/twitter/denied/").content.decode()
    assert '<html lang="de">' in html
    assert "Sie haben bei Twitter abgebrochen" in html
    assert "Zurück zur Website" in html


@pytest.mark.django_db
def test_error_page_and_its_exception_message_in_german(client: Client) -> None:
    with translation.override("de"):
        response = client.get("/twitter/pin/")
    html = response.content.decode()
    assert response.status_code == 400
    assert "Twitter-Autorisierung fehlgeschlagen" in html
    # InvalidCallback's default message, translated when the page shows it.
    assert "Der Link, mit dem Twitter Sie zurückgeschickt hat" in html


@pytest.mark.django_db
def test_sandbox_page_in_german(client: Client) -> None:
    with translation.override("de"):
        html = client.get("/sandbox/").content.decode()
    assert '<html lang="de">' in html
    assert "<h1>Twitter-Sandbox</h1>" in html
    assert "Testbenutzer" in html


def test_exception_messages_are_translated_when_shown_not_when_raised() -> None:
    # Built under one language, shown under another: nothing is cached at import or
    # when the exception is made.
    with translation.override("en"):
        error = exceptions.UnknownRequestToken()
        refused = exceptions.SignInRefused(flow.SIGN_IN_OFF)
        no_email = exceptions.SignInRefused(signup.NO_EMAIL)
    assert isinstance(exceptions.AuthorizationError.default_message, Promise)
    with translation.override("de"):
        assert str(error) == (
            "Diese Autorisierung ist unbekannt oder wurde bereits abgeschlossen. "
            "Bitte beginnen Sie von vorn."
        )
        assert str(refused).startswith("Bitte melden Sie sich zuerst")
        assert str(no_email).startswith("Diese Website benötigt eine E-Mail-Adresse")
    with translation.override("en"):
        assert str(error).startswith("This authorization is unknown")
        assert str(refused).startswith("Sign in to this site first")


def test_a_plain_message_is_kept_as_given() -> None:
    with translation.override("de"):
        assert str(exceptions.SignInRefused("Custom refusal.")) == "Custom refusal."
        assert str(exceptions.AccountConflict("")).startswith("Dieses Twitter-Konto")
