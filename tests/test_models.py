from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import responses
from django.core.exceptions import FieldError
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries
from requests_oauthlib import OAuth1Session

from django_twitter_oauth import models
from django_twitter_oauth.exceptions import TokenDecryptionError
from django_twitter_oauth.models import AccessToken, RequestToken, TokenEvent
from tests.utils import SECRET, TOKEN, make_token, make_user, tokens_alias, tokens_connection

pytestmark = pytest.mark.django_db

REQUEST_SECRET = "veNRnAWe6inFuo8o2u8SLLZLjolYDmDP7SzL0YfYI"


def raw_columns(table: str, columns: str) -> list[bytes]:
    with tokens_connection().cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table}")  # noqa: S608
        return [bytes(value) for row in cursor.fetchall() for value in row]


def test_raw_select_shows_no_plaintext() -> None:
    make_token()
    RequestToken.objects.create(token_hash="NPcudxy0yU5T3tBzho7iCotZ3", secret=REQUEST_SECRET)
    stored = raw_columns("twitter_oauth_accesstoken", "token, secret")
    stored += raw_columns("twitter_oauth_requesttoken", "secret")
    assert len(stored) == 3
    for value in stored:
        assert TOKEN.encode() not in value
        assert SECRET.encode() not in value
        assert REQUEST_SECRET.encode() not in value
        assert value.startswith(b"gAAAAA")  # a Fernet token: version byte 0x80, base64


def test_values_round_trip() -> None:
    make_token()
    token = AccessToken.objects.get()
    assert (token.token, token.secret) == (TOKEN, SECRET)


def test_encrypted_columns_cannot_be_searched() -> None:
    with pytest.raises(FieldError, match="does not support lookups"):
        AccessToken.objects.filter(token=TOKEN).exists()
    assert not AccessToken.objects.filter(secret__isnull=True).exists()


def test_null_stays_null() -> None:
    from django_twitter_oauth.fields import EncryptedTextField

    field = AccessToken._meta.get_field("token")
    assert isinstance(field, EncryptedTextField)
    assert field.from_db_value(None, None, connection) is None


def test_rotated_keys_still_read_old_rows() -> None:
    with override_settings(FERNET_KEYS=["old-key"]):
        make_token()
    with override_settings(FERNET_KEYS=["new-key", "old-key"]):
        assert AccessToken.objects.get().secret == SECRET
        make_token(make_user("bob"), twitter_user_id="2", token="new-token", secret="new-secret")
    # New rows are written with the newest key: the old key alone cannot read them.
    with override_settings(FERNET_KEYS=["new-key"]):
        assert AccessToken.objects.get(twitter_user_id="2").secret == "new-secret"
    with override_settings(FERNET_KEYS=["old-key"]), pytest.raises(TokenDecryptionError):
        AccessToken.objects.get(twitter_user_id="2")


def test_wrong_key_raises_clear_error_without_ciphertext() -> None:
    make_token()
    ciphertext = raw_columns("twitter_oauth_accesstoken", "token")[0].decode()
    with (
        override_settings(FERNET_KEYS=["some-other-key"]),
        pytest.raises(TokenDecryptionError) as excinfo,
    ):
        AccessToken.objects.get()
    message = str(excinfo.value)
    assert "FERNET_KEYS" in message
    assert "twitter_oauth.AccessToken.token" in message
    assert excinfo.value.field == "twitter_oauth.AccessToken.token"
    assert ciphertext not in message
    assert TOKEN not in message
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__suppress_context__


def test_secret_key_fallback_when_fernet_keys_unset(settings: object) -> None:
    del settings.FERNET_KEYS  # type: ignore[attr-defined]
    make_token()
    assert AccessToken.objects.get().token == TOKEN
    settings.SECRET_KEY = "another-secret-key"  # type: ignore[attr-defined]
    with pytest.raises(TokenDecryptionError):
        AccessToken.objects.get()


def test_fernet_keys_without_hkdf() -> None:
    from cryptography.fernet import Fernet

    key = Fernet.generate_key()
    with override_settings(FERNET_KEYS=[key], FERNET_USE_HKDF=False):
        make_token()
        stored = raw_columns("twitter_oauth_accesstoken", "secret")[0]
        assert Fernet(key).decrypt(stored).decode() == SECRET


def test_str_and_repr_show_no_secret() -> None:
    token = make_token()
    request_token = RequestToken.objects.create(token_hash="req-token-value", secret=REQUEST_SECRET)
    for text in (str(token), repr(token), str(request_token), repr(request_token)):
        for secret in (TOKEN, SECRET, REQUEST_SECRET, "req-token-value"):
            assert secret not in text
    assert str(token) == "@twitterapi (6253282)"
    assert str(request_token).startswith("Pending authorization from ")


@override_settings(TWITTER_OAUTH_APP_PERMISSION="read-write")
def test_stale() -> None:
    current = make_token()
    old = make_token(
        make_user("bob"), twitter_user_id="2", app_permission="read", access_level="read"
    )
    assert not current.is_stale
    assert old.is_stale
    assert list(AccessToken.objects.stale()) == [old]
    assert list(AccessToken.objects.current()) == [current]
    with override_settings(TWITTER_OAUTH_APP_PERMISSION="read"):
        assert AccessToken.objects.get(pk=current.pk).is_stale
        assert list(AccessToken.objects.stale()) == [current]


def test_user_may_link_several_accounts_and_account_is_unique() -> None:
    from django.db import IntegrityError, transaction

    user = make_user()
    make_token(user)
    make_token(user, twitter_user_id="2")
    assert user.twitter_tokens.count() == 2
    with transaction.atomic(using=tokens_alias()), pytest.raises(IntegrityError):
        make_token(make_user("bob"))


@override_settings(TWITTER_OAUTH_REQUEST_TOKEN_TTL=60)
def test_request_token_expiry() -> None:
    now = timezone.now()
    fresh = RequestToken.objects.create(token_hash="fresh", secret="s", created_at=now)
    old = RequestToken.objects.create(
        token_hash="old", secret="s", created_at=now - dt.timedelta(seconds=61)
    )
    assert list(RequestToken.objects.expired(now)) == [old]
    assert list(RequestToken.objects.unexpired(now)) == [fresh]
    assert list(RequestToken.objects.expired()) == [old]
    assert old.is_expired
    assert not fresh.is_expired
    assert fresh.expires_at == now + dt.timedelta(seconds=60)


@override_settings(TWITTER_OAUTH_API_URL="https://api.x.com", TWITTER_OAUTH_TIMEOUT=3)
@responses.activate
def test_session_is_signed_as_the_user() -> None:
    token = make_token()
    session = token.session()
    assert isinstance(session, OAuth1Session)
    responses.get("https://api.x.com/1.1/account/verify_credentials.json", json={"id_str": "1"})
    session.get("https://api.x.com/1.1/account/verify_credentials.json")
    request = responses.calls[0].request
    # requests-oauthlib sets the header as bytes, whatever the stubs say.
    authorization = bytes(request.headers["Authorization"]).decode()  # type: ignore[arg-type]
    assert f'oauth_token="{TOKEN}"' in authorization
    assert 'oauth_consumer_key="tests-consumer-key"' in authorization
    assert request.req_kwargs["timeout"] == 3  # type: ignore[attr-defined]  # set by responses


# -- RequestToken.objects.claim(): the pending authorization removed and returned ------


@pytest.fixture(params=["delete-returning", "select-then-delete"])
def claim_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Both ways of claiming: one DELETE ... RETURNING (PostgreSQL, SQLite 3.35+), and a
    SELECT then a DELETE where a database lacks it. Returns its number of statements."""
    if request.param == "select-then-delete":
        monkeypatch.setattr(models, "_deletes_returning", lambda connection: False)
        return 2
    assert models._deletes_returning(tokens_connection())  # both test databases have it
    return 1


def pending(token_hash: str, *, user: Any = None, flow_key_hash: str = "flow") -> RequestToken:
    return RequestToken.objects.create(
        token_hash=token_hash,
        secret=REQUEST_SECRET,
        flow_key_hash=flow_key_hash,
        user=user,
        access_type="write",
        next_url="/after/",
    )


@pytest.mark.parametrize("bound", ["anyone", "the user"])
def test_claim_removes_and_returns_the_pending_authorization(
    claim_path: int, django_assert_num_queries: DjangoAssertNumQueries, bound: str
) -> None:
    alice = make_user("alice")
    user = alice if bound == "the user" else None
    stored = pending("mine", user=user)
    pending("other")
    with django_assert_num_queries(claim_path):
        claimed = RequestToken.objects.claim("mine", "flow", alice.pk)
    assert claimed is not None
    # The values as a SELECT gives them: decrypted, an aware time, the user's key.
    assert (claimed.pk, claimed.token_hash, claimed.secret, claimed.flow_key_hash) == (
        stored.pk,
        "mine",
        REQUEST_SECRET,
        "flow",
    )
    assert (claimed.user_id, claimed.access_type, claimed.next_url) == (
        stored.user_id,
        "write",
        "/after/",
    )
    assert claimed.created_at == stored.created_at
    assert timezone.is_aware(claimed.created_at)
    assert claimed._state.db == tokens_alias()
    assert list(RequestToken.objects.values_list("token_hash", flat=True)) == ["other"]
    # Used once: a second claim finds nothing.
    assert RequestToken.objects.claim("mine", "flow", alice.pk) is None


def test_claim_leaves_what_is_not_this_browsers_or_this_users(claim_path: int) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    pending("alices", user=alice)
    pending("elsewhere", flow_key_hash="another browser")
    assert RequestToken.objects.claim("alices", "flow", bob.pk) is None
    assert RequestToken.objects.claim("alices", "flow", None) is None  # signed out
    assert RequestToken.objects.claim("elsewhere", "flow", None) is None
    assert RequestToken.objects.claim("unknown", "flow", alice.pk) is None
    assert RequestToken.objects.count() == 2
    assert RequestToken.objects.claim("alices", "flow", alice.pk) is not None


# -- TokenEvent.objects.save_unless_revoked_since() ------------------------------------


@pytest.mark.parametrize("revoked", ["never", "before", "since", "another account since"])
def test_save_unless_revoked_since(
    revoked: str, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    since = timezone.now()
    offsets = {"before": -1, "since": 0, "another account since": 1}
    if revoked != "never":
        TokenEvent.objects.create(
            twitter_user_id="7" if revoked == "another account since" else "42",
            action=TokenEvent.Action.REVOKED,
            created_at=since + dt.timedelta(seconds=offsets[revoked]),
        )
    alice, staff = make_user("alice"), make_user("staff")
    event = TokenEvent(
        twitter_user_id="42",
        screen_name="jack",
        user_id=alice.pk,
        actor_id=staff.pk,
        action=TokenEvent.Action.AUTHORIZED,
        reason="sign-up",
    )
    with django_assert_num_queries(1):
        saved = TokenEvent.objects.save_unless_revoked_since(event, since)
    authorized = TokenEvent.objects.filter(action=TokenEvent.Action.AUTHORIZED)
    assert saved is (revoked != "since")
    if saved:
        row = authorized.get()
        assert (row.twitter_user_id, row.screen_name, row.user_id, row.actor_id) == (
            "42",
            "jack",
            alice.pk,
            staff.pk,
        )
        assert (row.reason, row.created_at) == ("sign-up", event.created_at)
    else:
        assert not authorized.exists()


def test_save_unless_revoked_since_without_a_user() -> None:
    """NULL user and actor keys (an event about a user since deleted)."""
    event = TokenEvent(twitter_user_id="42", action=TokenEvent.Action.DISCARDED)
    assert TokenEvent.objects.save_unless_revoked_since(event, timezone.now())
    row = TokenEvent.objects.get()
    assert (row.user, row.actor) == (None, None)
