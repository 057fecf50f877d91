"""``manage.py twitter_oauth_rotate_keys``: re-encrypt every stored secret with the first
key of FERNET_KEYS, through call_command and as a subprocess."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from django_twitter_oauth import fields, rotation
from django_twitter_oauth.models import AccessToken, RequestToken, TokenEvent
from tests.utils import (
    NEW,
    OLD,
    ciphertexts,
    manage,
    manage_env,
    summary,
    this_settings_module,
    tokens_connection,
    tokens_to_rotate,
)

pytestmark = pytest.mark.django_db

LOST = "a-key-nobody-kept"


def everything() -> dict[Any, tuple[bytes, ...]]:
    """The raw encrypted columns of every access token and request token."""
    return {
        **{("access", pk): row for pk, row in ciphertexts(AccessToken).items()},
        **{("request", pk): row for pk, row in ciphertexts(RequestToken).items()},
    }


def written_with(key: str, value: bytes) -> bool:
    with override_settings(FERNET_KEYS=[key]):
        return rotation._readable_by(fields.build_fernet(primary_only=True), value)


def pending(count: int) -> list[RequestToken]:
    return [
        RequestToken.objects.create(
            token_hash=f"request{number}", secret=f"requestSECRET{number}", flow_key_hash="h" * 64
        )
        for number in range(1, count + 1)
    ]


def plaintexts() -> list[tuple[str, str]]:
    """Every stored secret, decrypted with the keys configured now."""
    return [
        *AccessToken.objects.order_by("pk").values_list("token", "secret"),
        *((token.token_hash, token.secret) for token in RequestToken.objects.order_by("pk")),
    ]


@dataclass
class Run:
    out: str
    err: str
    error: CommandError | None


def rotate(*args: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("twitter_oauth_rotate_keys", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return Run(out.getvalue(), err.getvalue(), exc)
    return Run(out.getvalue(), err.getvalue(), None)


def test_rotates_every_row_to_the_first_key_then_finds_them_current() -> None:
    tokens_to_rotate(3)
    pending(2)
    before_values = plaintexts()
    before = everything()
    with override_settings(FERNET_KEYS=[NEW, OLD]):
        run = rotate()
    assert run.error is None
    assert run.out == summary("Access tokens", 3, 0) + summary("Pending authorizations", 2, 0)
    after = everything()
    assert after.keys() == before.keys()
    assert all(after[pk] != before[pk] for pk in before)
    assert all(written_with(NEW, value) for row in after.values() for value in row)
    # The old key can go now.
    with override_settings(FERNET_KEYS=[NEW]):
        assert plaintexts() == before_values
        # A second run finds nothing to do, and rewrites nothing.
        again = rotate()
    assert again.error is None
    assert again.out == summary("Access tokens", 0, 3) + summary("Pending authorizations", 0, 2)
    assert everything() == after


def test_each_rotated_access_token_gets_an_event() -> None:
    rotated = tokens_to_rotate(2)
    with override_settings(FERNET_KEYS=[NEW, OLD]):
        tokens_to_rotate(1, start=3)  # already under the new key: no event
        assert rotate().error is None
    events = TokenEvent.objects.order_by("twitter_user_id")
    assert [(e.twitter_user_id, e.user_id, e.action, e.reason) for e in events] == [
        (t.twitter_user_id, t.user_id, "reencrypted", "key rotation") for t in rotated
    ]


def test_progress_per_batch_on_stderr() -> None:
    tokens_to_rotate(5)
    pending(1)
    with override_settings(FERNET_KEYS=[NEW, OLD]):
        run = rotate("--batch-size", "2")
    assert run.err == (
        "access tokens: 2 re-encrypted, 0 already current, 0 unreadable so far\n"
        "access tokens: 4 re-encrypted, 0 already current, 0 unreadable so far\n"
        "access tokens: 5 re-encrypted, 0 already current, 0 unreadable so far\n"
        "pending authorizations: 1 re-encrypted, 0 already current, 0 unreadable so far\n"
    )


def test_reads_in_batches_for_constant_memory() -> None:
    tokens_to_rotate(5)
    with (
        override_settings(FERNET_KEYS=[NEW, OLD]),
        CaptureQueriesContext(tokens_connection()) as queries,
    ):
        run = rotate("--batch-size", "2")
    assert run.error is None
    table = AccessToken._meta.db_table
    selects = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and table in q["sql"]]
    # 2 + 2 + 1 rows, then an empty batch; each at most 2 rows (LIMIT 2).
    assert len(selects) == 4
    assert all(sql.rstrip().endswith("LIMIT 2") for sql in selects)
    # The events are copied from the rows by the database, one INSERT ... SELECT a batch.
    events = TokenEvent._meta.db_table
    inserts = [q["sql"] for q in queries if q["sql"].startswith(f'INSERT INTO "{events}"')]
    assert len(inserts) == 3
    assert TokenEvent.objects.count() == 5


@pytest.mark.parametrize("value", ["0", "-1"])
def test_batch_size_must_be_positive(value: str) -> None:
    tokens_to_rotate(1)
    before = ciphertexts(AccessToken)
    with override_settings(FERNET_KEYS=[NEW, OLD]):
        run = rotate("--batch-size", value)
    assert str(run.error) == "--batch-size must be at least 1."
    assert ciphertexts(AccessToken) == before


def test_batch_size_must_be_a_number() -> None:
    with pytest.raises(CommandError, match="--batch-size: invalid int value: 'lots'"):
        call_command("twitter_oauth_rotate_keys", "--batch-size", "lots")


def test_unreadable_rows_are_reported_and_never_rewritten() -> None:
    readable = tokens_to_rotate(2)
    with override_settings(FERNET_KEYS=[LOST]):
        tokens_to_rotate(1, start=3)
        RequestToken.objects.create(token_hash="lost", secret="s", flow_key_hash="h" * 64)
    before = ciphertexts(AccessToken)
    lost_request = ciphertexts(RequestToken)
    with override_settings(FERNET_KEYS=[NEW, OLD]):
        run = rotate()
    assert run.out == summary("Access tokens", 2, 0, 1) + summary("Pending authorizations", 0, 0, 1)
    assert run.error is not None
    assert run.error.returncode == 1
    assert str(run.error) == (
        "2 row(s) could not be decrypted with any key in FERNET_KEYS and were left "
        "untouched. Add the key they were written with to FERNET_KEYS, or discard those "
        "tokens."
    )
    after = ciphertexts(AccessToken)
    lost_pk = AccessToken.objects.values_list("pk", flat=True).get(twitter_user_id="3")
    assert after[lost_pk] == before[lost_pk]
    assert all(after[t.pk] != before[t.pk] for t in readable)
    assert ciphertexts(RequestToken) == lost_request
    assert TokenEvent.objects.count() == 2


@pytest.mark.parametrize(
    ("keys", "use_hkdf", "error"),
    [
        ([], True, "ValueError"),
        ("one-key-as-a-string", True, "TypeError"),
        (["not a Fernet key"], False, "ValueError"),
    ],
)
def test_unusable_fernet_keys_are_refused(keys: Any, use_hkdf: bool, error: str) -> None:
    tokens_to_rotate(1)
    before = ciphertexts(AccessToken)
    with override_settings(FERNET_KEYS=keys, FERNET_USE_HKDF=use_hkdf):
        run = rotate()
    assert str(run.error) == f"FERNET_KEYS cannot be used ({error}): run 'manage.py check'."
    assert run.out == ""
    assert ciphertexts(AccessToken) == before


def test_a_row_rewritten_between_read_and_write_keeps_its_new_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Compare-and-set: a re-authorization stores a new token after the batch was read;
    the rotation must not put the old token back."""
    first, second = tokens_to_rotate(2)
    original = rotation._readable_by
    rewritten: list[int] = []

    def reauthorized_meanwhile(key: Any, value: bytes) -> bool:
        if not rewritten:
            # The flow stores the new token (under the new key) right now.
            first.token, first.secret = "reauthorizedTOKEN", "reauthorizedSECRET"
            first.save()
            rewritten.append(first.pk)
        return original(key, value)

    monkeypatch.setattr(rotation, "_readable_by", reauthorized_meanwhile)
    with override_settings(FERNET_KEYS=[NEW, OLD]):
        run = rotate()
        assert run.out.startswith(summary("Access tokens", 1, 0, 0, 1))
        first.refresh_from_db()
        second.refresh_from_db()
    assert (first.token, first.secret) == ("reauthorizedTOKEN", "reauthorizedSECRET")
    assert second.token == "2-rotateTOKEN0002"
    assert list(TokenEvent.objects.values_list("twitter_user_id", flat=True)) == ["2"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_as_a_subprocess(tmp_path: Path) -> None:
    """``manage.py twitter_oauth_rotate_keys`` with the new key first in FERNET_KEYS."""
    (tmp_path / "rotation_settings.py").write_text(
        f"from {this_settings_module()} import *  # noqa: F403\nFERNET_KEYS = [{NEW!r}, {OLD!r}]\n"
    )
    tokens_to_rotate(3)
    with override_settings(FERNET_KEYS=[LOST]):
        tokens_to_rotate(1, start=4)
    before = ciphertexts(AccessToken)
    result = manage(
        "twitter_oauth_rotate_keys",
        "--batch-size",
        "2",
        env=manage_env(pythonpath=str(tmp_path)),
        settings_module="rotation_settings",
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout == (
        summary("Access tokens", 3, 0, 1) + summary("Pending authorizations", 0, 0)
    )
    assert "access tokens: 2 re-encrypted, 0 already current, 0 unreadable so far" in result.stderr
    assert "CommandError: 1 row(s) could not be decrypted" in result.stderr
    after = ciphertexts(AccessToken)
    assert sum(after[pk] != before[pk] for pk in before) == 3
    with override_settings(FERNET_KEYS=[NEW]):
        assert AccessToken.objects.exclude(twitter_user_id="4").count() == 3
        assert [
            t.secret for t in AccessToken.objects.exclude(twitter_user_id="4").order_by("pk")
        ] == [
            "rotateSECRET0001",
            "rotateSECRET0002",
            "rotateSECRET0003",
        ]
    assert TokenEvent.objects.filter(action="reencrypted").count() == 3
