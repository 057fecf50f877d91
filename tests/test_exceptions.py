from __future__ import annotations

import datetime as dt

from django_twitter_oauth import exceptions


def test_hierarchy() -> None:
    for cls in (
        exceptions.TwitterUnavailable,
        exceptions.TwitterRateLimited,
        exceptions.TwitterRejected,
        exceptions.MalformedResponse,
    ):
        assert issubclass(cls, exceptions.TwitterError)
    assert issubclass(exceptions.TokenInvalid, exceptions.TwitterRejected)
    assert issubclass(exceptions.CallbackNotApproved, exceptions.TwitterRejected)
    assert issubclass(exceptions.TwitterError, exceptions.TwitterOAuthError)
    assert issubclass(exceptions.TokenDecryptionError, exceptions.TwitterOAuthError)
    assert not issubclass(exceptions.TokenDecryptionError, exceptions.TwitterError)


def test_twitter_error_attributes() -> None:
    error = exceptions.TwitterRejected(
        "refused", endpoint="oauth/request_token", status_code=401, code=32, twitter_message="no"
    )
    assert str(error) == "refused"
    assert (error.endpoint, error.status_code, error.code, error.twitter_message) == (
        "oauth/request_token",
        401,
        32,
        "no",
    )


def test_rate_limited_seconds_until_reset() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
    error = exceptions.TwitterRateLimited(
        "slow down", reset_at=now + dt.timedelta(seconds=90), code=88
    )
    assert error.status_code == 429
    assert error.code == 88
    assert error.seconds_until_reset(now) == 90
    assert error.seconds_until_reset(now + dt.timedelta(seconds=120)) == 0
    soon = exceptions.TwitterRateLimited(
        "slow down", reset_at=dt.datetime.now(tz=dt.timezone.utc) + dt.timedelta(seconds=60)
    )
    assert 0 < soon.seconds_until_reset() <= 60  # type: ignore[operator]
    assert exceptions.TwitterRateLimited("slow down").seconds_until_reset(now) is None


def test_decryption_error_names_fernet_keys() -> None:
    assert "FERNET_KEYS" in str(exceptions.TokenDecryptionError())
    assert "(app.Model.field)" in str(exceptions.TokenDecryptionError("app.Model.field"))
