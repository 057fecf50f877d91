from __future__ import annotations

import pytest
import requests
from pytest_django import Settings

from django_twitter_oauth.client import TwitterClient
from django_twitter_oauth.testing.fake import FakeTwitter


def test_fixture_uses_the_site_settings(fake_twitter: FakeTwitter) -> None:
    assert isinstance(fake_twitter, FakeTwitter)
    assert fake_twitter.provider.consumers == {"tests-consumer-key": "tests-consumer-secret"}
    assert fake_twitter.provider.api_url == "https://api.twitter.com"
    assert fake_twitter.app_permission == "read-write"


def test_fixture_is_active(fake_twitter: FakeTwitter) -> None:
    assert TwitterClient().fetch_request_token("oob").token
    assert fake_twitter.count("oauth/request_token") == 1
    with pytest.raises(requests.ConnectionError):
        requests.get("https://example.com/", timeout=5)


def test_fixture_follows_changed_settings(
    settings: Settings, request: pytest.FixtureRequest
) -> None:
    settings.TWITTER_OAUTH_CONSUMER_KEY = "other-key"
    settings.TWITTER_OAUTH_CONSUMER_SECRET = "other-secret"
    settings.TWITTER_OAUTH_API_URL = "https://api.x.com/"
    settings.TWITTER_OAUTH_APP_PERMISSION = "read"

    fake: FakeTwitter = request.getfixturevalue("fake_twitter")

    assert fake.provider.consumers == {"other-key": "other-secret"}
    assert fake.provider.api_url == "https://api.x.com"
    assert fake.app_permission == "read"
    pending = TwitterClient().fetch_request_token("oob", access_type="write")
    verifier = fake.approve(pending.token)
    result = TwitterClient().fetch_access_token(pending.token, pending.secret, verifier)
    assert result.access_level == "read"
