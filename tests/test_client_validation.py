"""Values from Twitter out of shape never reach the database (issue 14.7): through the
callback view, on every database the suite runs on."""

from __future__ import annotations

import urllib.parse

import pytest
from django.test import Client

from django_twitter_oauth.models import AccessToken, RequestToken
from django_twitter_oauth.testing import FakeTwitter

pytestmark = pytest.mark.django_db

GOOD = {
    "oauth_token": "6253282-eWudHldSbIaelX7swmsiHImEL4KinwaGloHANdrY",
    "oauth_token_secret": "2EEfA6BG5ly3sR3XjE0IBSnlQu4ZrUzPiYTmrkVU",
    "user_id": "6253282",
    "screen_name": "twitterapi",
}


def start_token(client: Client) -> str:
    response = client.post("/twitter/begin/")
    assert response.status_code == 302
    query = urllib.parse.urlsplit(response["Location"]).query
    return dict(urllib.parse.parse_qsl(query))["oauth_token"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("oauth_token", "A" * 300),
        ("oauth_token", "abc\x00def"),
        ("oauth_token_secret", "abc\x00def"),
        ("user_id", "12\x0034"),
        ("screen_name", "a" * 300),
        ("screen_name", "nul\x00name"),
    ],
    ids=[
        "token-300",
        "token-nul",
        "secret-nul",
        "user-id-nul",
        "screen-name-300",
        "screen-name-nul",
    ],
)
def test_callback_refuses_values_out_of_shape(
    client: Client, fake_twitter: FakeTwitter, field: str, value: str
) -> None:
    oauth_token = start_token(client)
    verifier = fake_twitter.approve(oauth_token, user_id="6253282")
    body = urllib.parse.urlencode({**GOOD, field: value})
    fake_twitter.fail(
        "oauth/access_token", status=200, body=body, headers={"content-type": "text/html"}
    )

    response = client.get(fake_twitter.redirect_url(oauth_token, verifier))

    assert response.status_code == 502
    assert not AccessToken.objects.exists()
    assert not RequestToken.objects.exists()
    assert value not in response.content.decode()
