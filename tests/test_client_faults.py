"""Whose fault an error is: the client's type decides (issue 19.2), and the error page
maps by type only."""

from __future__ import annotations

import html

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from django_twitter_oauth import views
from django_twitter_oauth.exceptions import (
    AccessTierError,
    CallbackNotApproved,
    ConfigurationRejected,
    TokenInvalid,
    TwitterOAuthError,
    TwitterRejected,
)
from tests.utils import make_user

pytestmark = pytest.mark.django_db

MISCONFIGURED = "This site&#x27;s Twitter app settings need attention."
NOT_ACCEPTED = "The PIN or the link from Twitter was not accepted"
TIER = (
    "The app's X API access tier does not include 1.1/account/verify_credentials.json "
    "(HTTP 403, code 453: You currently have access to a subset.)."
)


def page(exc: TwitterOAuthError, *, staff: bool = True) -> tuple[int, str]:
    request = RequestFactory().get("/twitter/callback/")
    request.user = make_user(is_staff=True) if staff else AnonymousUser()
    response = views._error_page(request, exc, authorization=False)
    return response.status_code, response.content.decode()


@pytest.mark.parametrize(
    "exc",
    [
        AccessTierError(
            TIER, endpoint="1.1/account/verify_credentials.json", status_code=403, code=453
        ),
        # On any endpoint, with any code: the type alone decides.
        ConfigurationRejected("Refused.", endpoint="oauth/access_token", status_code=401, code=32),
        ConfigurationRejected("Refused.", endpoint="1.1/x", status_code=400),
        CallbackNotApproved("Not approved.", endpoint="oauth/request_token", status_code=403),
    ],
    ids=["453", "32", "no-code", "415"],
)
def test_configuration_is_the_staff_page(exc: ConfigurationRejected) -> None:
    status, content = page(exc)

    assert status == 502
    assert MISCONFIGURED in content
    assert html.escape(str(exc)) in content
    assert NOT_ACCEPTED not in content


def test_the_staff_hint_is_for_staff_only() -> None:
    exc = AccessTierError(TIER, endpoint="1.1/account/verify_credentials.json", code=453)

    status, content = page(exc, staff=False)

    assert status == 502
    assert "verify_credentials" not in content


@pytest.mark.parametrize(
    "exc",
    [
        # Codes or endpoints that once meant "the site's" mean nothing without the type.
        TwitterRejected("Refused.", endpoint="oauth/request_token", status_code=401, code=32),
        TwitterRejected("Refused.", endpoint="oauth/access_token", status_code=403, code=417),
        TokenInvalid("Invalid.", endpoint="oauth/access_token", status_code=401, code=89),
    ],
    ids=["request-token-32", "access-token-417", "89"],
)
def test_other_refusals_are_the_users(exc: TwitterRejected) -> None:
    status, content = page(exc)

    assert status == 400
    assert NOT_ACCEPTED in content
    assert "For the site" not in content


def test_the_old_code_list_is_gone() -> None:
    assert not hasattr(views, "CONFIGURATION_CODES")
