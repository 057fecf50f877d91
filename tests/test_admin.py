from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.admin.sites import site
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from pytest_django import DjangoAssertNumQueries, DjangoCaptureOnCommitCallbacks

from django_twitter_oauth import fields, revocation
from django_twitter_oauth.admin import AccessTokenAdmin
from django_twitter_oauth.models import AccessToken, RequestToken, TokenEvent
from django_twitter_oauth.testing import FakeTwitter
from django_twitter_oauth.testing.provider import (
    INVALIDATE_TOKEN,
    USERS_ME,
    twitter_error,
)
from tests.utils import (
    credentials,
    held,
    hold_tokens,
    make_superuser,
    make_user,
    secrets_of,
    users_apart,
)

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:twitter_oauth_accesstoken_changelist"
NOT_PERMITTED = twitter_error(87, "Client is not permitted to perform this action.")


def staff(username: str, *codenames: str) -> User:
    user = make_user(username, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="twitter_oauth", codename__in=codenames)
    )
    assert user.user_permissions.count() == len(codenames)
    return user


def superuser() -> User:
    return make_superuser()


def logged_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def changelist(query: str = "") -> str:
    return reverse(CHANGELIST) + query


def act(client: Client, action: str, tokens: list[AccessToken], **extra: str) -> Response:
    data: dict[str, Any] = {"action": action, "_selected_action": [t.pk for t in tokens]}
    if not extra:
        data["index"] = "0"  # the changelist's own form
    data.update(extra)
    return client.post(changelist(), data)


def confirm(client: Client, action: str, tokens: list[AccessToken]) -> Response:
    """The second POST, as the confirmation page sends it."""
    return act(client, action, tokens, post="yes")


def messages_of(response: Any) -> list[tuple[str, str]]:
    """The messages of this response; read once (the next request starts without them)."""
    found = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    response.client.cookies.pop("messages", None)
    return found


def html(response: Response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def assert_no_secret(text: str, tokens: list[AccessToken]) -> None:
    for secret in secrets_of(tokens):
        assert secret not in text


def log_entries() -> list[tuple[int, str | None, int, str]]:
    return sorted(
        LogEntry.objects.values_list("user_id", "object_id", "action_flag", "change_message")
    )


def action_options(text: str) -> set[str]:
    return {
        name
        for name in ("revoke_selected", "discard_selected", "verify_selected", "delete_selected")
        if f'<option value="{name}">' in text
    }


# -- what staff see -----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["superuser", "staff"])
def test_changelist_lists_tokens_without_secrets(
    client: Client, fake_twitter: FakeTwitter, who: str
) -> None:
    tokens = held(fake_twitter, 3)
    user = superuser() if who == "superuser" else staff("viewer", "view_accesstoken")
    text = html(logged_in(client, user).get(changelist()))
    for token in tokens:
        assert f"user{token.twitter_user_id}" in text
    assert_no_secret(text, tokens)
    assert reverse("admin:twitter_oauth_accesstoken_add") not in text
    expected = {"revoke_selected", "discard_selected", "verify_selected"}
    assert action_options(text) == (expected if who == "superuser" else set())
    assert fake_twitter.calls == []


def test_changelist_never_decrypts(
    client: Client, fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = held(fake_twitter, 2)
    client = logged_in(client, superuser())

    def no_decryption() -> None:
        raise AssertionError("decrypted")

    monkeypatch.setattr(fields, "get_fernet", no_decryption)
    text = html(client.get(changelist()))
    assert "user1" in text
    # Nor does the confirmation page of an action.
    text = html(act(client, "revoke_selected", tokens))
    assert "user1" in text
    assert "user2" in text
    with pytest.raises(AssertionError, match="decrypted"):
        AccessToken.objects.get(pk=tokens[0].pk).token  # noqa: B018  # the patch works


@pytest.mark.parametrize("count", [10, 1000])
def test_changelist_queries_do_not_grow_with_the_tokens(
    client: Client, django_assert_num_queries: DjangoAssertNumQueries, count: int
) -> None:
    users = [make_user(f"user{number}") for number in range(3)]
    AccessToken.objects.bulk_create(
        AccessToken(
            user=users[number % 3],
            twitter_user_id=str(number),
            screen_name=f"user{number}",
            token=f"token{number}",
            secret=f"secret{number}",
            access_level="read-write",
            app_permission="read" if number % 2 else "read-write",
        )
        for number in range(count)
    )
    client = logged_in(client, superuser())
    # Session, user, stale count, two result counts, the page, the date hierarchy's
    # bounds and its links; with the users apart, one more: the page's users.
    with django_assert_num_queries(8 + users_apart()):
        text = html(client.get(changelist()))
    assert text.count('name="_selected_action"') == min(count, 100)


def test_change_page_shows_only_a_hint_of_the_token(
    client: Client, fake_twitter: FakeTwitter
) -> None:
    token = held(fake_twitter)[0]
    key, secret = credentials(1)
    client = logged_in(client, staff("manager", "view_accesstoken", "change_accesstoken"))
    text = html(client.get(reverse("admin:twitter_oauth_accesstoken_change", args=[token.pk])))
    assert f"…{key[-4:]}" in text
    assert key not in text
    assert secret not in text
    assert secret[-4:] != key[-4:]
    assert 'name="_save"' not in text
    assert 'name="_continue"' not in text
    assert "deletelink" not in text  # no delete permission


def test_change_page_hint_of_an_unreadable_token(client: Client) -> None:
    token = held(None)[0]
    client = logged_in(client, superuser())
    with override_settings(FERNET_KEYS=["another-key"]):
        text = html(client.get(reverse("admin:twitter_oauth_accesstoken_change", args=[token.pk])))
    assert "unreadable with the configured FERNET_KEYS" in text


def test_saving_the_change_page_changes_nothing(client: Client) -> None:
    token = held(None)[0]
    client = logged_in(client, superuser())
    url = reverse("admin:twitter_oauth_accesstoken_change", args=[token.pk])
    response = client.post(url, {"_save": "Save"})
    assert response.status_code == 302
    row = AccessToken.objects.get()
    assert row.updated_at == token.updated_at
    assert (row.token, row.secret) == credentials(1)


def test_event_and_pending_authorization_pages_are_read_only_and_show_no_secret(
    client: Client, fake_twitter: FakeTwitter
) -> None:
    tokens = held(fake_twitter, 2)
    revocation.revoke(tokens[:1], reason="test")
    revocation.verify(held(None, 1, start=3))
    pending = RequestToken.objects.create(
        token_hash="requestTOKENrequest", secret="requestSECRETrequest", flow_key_hash="h" * 64
    )
    client = logged_in(client, staff("viewer", "view_tokenevent", "view_requesttoken"))
    event = TokenEvent.objects.get(action="revoked")
    pages = [
        reverse("admin:twitter_oauth_tokenevent_changelist"),
        reverse("admin:twitter_oauth_requesttoken_changelist"),
        reverse("admin:twitter_oauth_tokenevent_change", args=[event.pk]),
        reverse("admin:twitter_oauth_requesttoken_change", args=[pending.pk]),
    ]
    for page in pages:
        text = html(client.get(page))
        assert_no_secret(text, tokens)
        assert "requestTOKENrequest" not in text
        assert "requestSECRETrequest" not in text
        assert "h" * 64 not in text
        assert "/add/" not in text.replace("/auth/group/add/", "").replace("/auth/user/add/", "")
        assert "deletelink" not in text
        assert 'name="_save"' not in text
    text = html(client.get(pages[0]))
    assert "user1" in text
    assert "user3" in text
    assert action_options(text) == set()
    # Even a superuser cannot change or delete them.
    client = logged_in(client, superuser())
    text = html(client.get(pages[1]))
    assert "Pending authorization from" in text
    assert 'name="action"' not in text  # no actions at all
    change = reverse("admin:twitter_oauth_tokenevent_change", args=[event.pk])
    assert client.post(change, {"reason": "forged"}).status_code == 403
    delete = reverse("admin:twitter_oauth_requesttoken_delete", args=[pending.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert TokenEvent.objects.get(pk=event.pk).reason != "forged"
    assert RequestToken.objects.exists()


# -- revoke -------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["superuser", "staff"])
def test_revoke_selected_confirms_then_revokes(
    client: Client,
    fake_twitter: FakeTwitter,
    received: dict[str, list[dict[str, Any]]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    who: str,
) -> None:
    tokens = held(fake_twitter, 3)
    user = (
        superuser()
        if who == "superuser"
        else staff("revoker", "view_accesstoken", "revoke_accesstoken")
    )
    client = logged_in(client, user)
    assert "revoke_selected" in action_options(html(client.get(changelist())))
    text = html(act(client, "revoke_selected", tokens[:2]))
    assert "Revoke tokens at Twitter" in text
    assert "2 tokens" in text
    assert "@user1 (1)" in text
    assert "@user2 (2)" in text
    assert "@user3" not in text
    assert '<input type="hidden" name="post" value="yes">' in text
    assert '<input type="hidden" name="action" value="revoke_selected">' in text
    assert_no_secret(text, tokens)
    assert fake_twitter.calls == []
    assert AccessToken.objects.count() == 3
    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(client, "revoke_selected", tokens[:2])
    assert response.status_code == 302
    assert response["Location"] == changelist()
    assert messages_of(response) == [("success", "2 tokens revoked at Twitter and deleted.")]
    assert set(AccessToken.objects.values_list("twitter_user_id", flat=True)) == {"3"}
    assert fake_twitter.count(INVALIDATE_TOKEN) == 2
    assert not fake_twitter.access_token_valid(tokens[0].token)
    assert fake_twitter.access_token_valid(tokens[2].token)
    assert sorted(
        TokenEvent.objects.values_list("twitter_user_id", "action", "actor", "reason")
    ) == [
        ("1", "revoked", user.pk, "revoked in the admin"),
        ("2", "revoked", user.pk, "revoked in the admin"),
    ]
    assert log_entries() == [
        (user.pk, str(tokens[0].pk), DELETION, "Revoked at Twitter and deleted."),
        (user.pk, str(tokens[1].pk), DELETION, "Revoked at Twitter and deleted."),
    ]
    assert LogEntry.objects.filter(object_repr="@user1 (1)").exists()
    assert sorted(
        (kwargs["token"].twitter_user_id, kwargs["user"], kwargs["revoked_by"], kwargs["reason"])
        for kwargs in received["revoked"]
    ) == [
        ("1", tokens[0].user, user, "revoked in the admin"),
        ("2", tokens[1].user, user, "revoked in the admin"),
    ]
    assert received["discarded"] == []


def test_revoke_selected_partial_failure(
    client: Client, fake_twitter: FakeTwitter, received: dict[str, list[dict[str, Any]]]
) -> None:
    tokens = held(fake_twitter, 3)
    fake_twitter.fail(INVALIDATE_TOKEN, status=403, body=NOT_PERMITTED)
    user = superuser()
    response = confirm(logged_in(client, user), "revoke_selected", tokens)
    [(kept, _token)] = AccessToken.objects.values_list("twitter_user_id", "token")
    revoked = sorted({"1", "2", "3"} - {kept})
    found = messages_of(response)
    assert len(found) == 2
    assert found[0] == ("success", "2 tokens revoked at Twitter and deleted.")
    level, text = found[1]
    assert level == "error"
    assert text.startswith(f"@user{kept} was not revoked and is kept: Twitter refused")
    assert "code 87" in text
    assert_no_secret(text, tokens)
    assert sorted(TokenEvent.objects.values_list("twitter_user_id", flat=True)) == revoked
    assert sorted(LogEntry.objects.values_list("object_repr", flat=True)) == [
        f"@user{number} ({number})" for number in revoked
    ]


def test_revoke_selected_rate_limited(
    client: Client, fake_twitter: FakeTwitter, received: dict[str, list[dict[str, Any]]]
) -> None:
    tokens = held(fake_twitter, 3)
    fake_twitter.rate_limit(INVALIDATE_TOKEN, reset_in=60, times=3)
    response = confirm(logged_in(client, superuser()), "revoke_selected", tokens)
    assert messages_of(response) == [
        (
            "warning",
            "3 tokens were not attempted (Twitter rate limit); they are kept. Try again later.",
        )
    ]
    assert AccessToken.objects.count() == 3
    assert 1 <= fake_twitter.count(INVALIDATE_TOKEN) <= 3
    assert not TokenEvent.objects.exists()
    assert not LogEntry.objects.exists()
    assert received["revoked"] == []


def test_admin_waits_no_longer_than_its_bound_or_the_setting(
    rf: RequestFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_admin = AccessTokenAdmin(AccessToken, site)
    assert model_admin._max_wait() == 10
    with override_settings(TWITTER_OAUTH_RATE_LIMIT_MAX_WAIT=3):
        assert model_admin._max_wait() == 3
    seen: dict[str, Any] = {}

    def revoke(tokens: list[AccessToken], **kwargs: Any) -> revocation.Report:
        seen.update(kwargs)
        return revocation.Report()

    monkeypatch.setattr(revocation, "revoke", revoke)
    request = rf.post("/", {"post": "yes"})
    request.user = superuser()
    model_admin.revoke_selected(request, AccessToken.objects.all())
    assert seen["max_wait"] == 10


def test_revoke_selected_during_a_twitter_outage(
    client: Client,
    fake_twitter: FakeTwitter,
    monkeypatch: pytest.MonkeyPatch,
    received: dict[str, list[dict[str, Any]]],
) -> None:
    monkeypatch.setattr(revocation, "RETRY_BACKOFF", (0, 0))
    monkeypatch.setattr(AccessTokenAdmin, "max_failure_messages", 2)
    tokens = held(fake_twitter, 3)
    fake_twitter.fail_connection(INVALIDATE_TOKEN, times=9)
    response = confirm(logged_in(client, superuser()), "revoke_selected", tokens)
    found = messages_of(response)
    assert [level for level, _text in found] == ["error"] * 3
    for _level, text in found[:2]:
        assert "was not revoked and is kept: Could not reach Twitter" in text
    assert found[2] == ("error", "1 more token failed likewise.")
    assert fake_twitter.count(INVALIDATE_TOKEN) == 9  # each tried three times
    assert AccessToken.objects.count() == 3
    assert not TokenEvent.objects.exists()
    assert not LogEntry.objects.exists()
    assert received["revoked"] == []


def test_revoke_and_verify_selected_with_an_undecryptable_token(
    client: Client, fake_twitter: FakeTwitter
) -> None:
    # A lost key: as in the command, that token fails alone; the others are done.
    readable = held(fake_twitter, 1)
    with override_settings(FERNET_KEYS=["a-key-since-lost"]):
        lost = hold_tokens(1, twitter=fake_twitter, start=2)
    tokens = readable + lost
    admin = superuser()
    client = logged_in(client, admin)
    verified = messages_of(act(client, "verify_selected", tokens))
    assert verified[0] == ("success", "1 token verified.")
    [(level, text)] = verified[1:]
    assert level == "error"
    assert text.startswith("@user2 could not be verified: A stored Twitter credential")
    assert "FERNET_KEYS" in text
    revoked = messages_of(confirm(client, "revoke_selected", tokens))
    assert revoked[0] == ("success", "1 token revoked at Twitter and deleted.")
    [(level, text)] = revoked[1:]
    assert level == "error"
    assert text.startswith("@user2 was not revoked and is kept: A stored Twitter credential")
    assert fake_twitter.count(INVALIDATE_TOKEN) == 1
    assert list(AccessToken.objects.values_list("pk", flat=True)) == [lost[0].pk]
    staff_id = admin.pk
    assert log_entries() == sorted(
        [
            (staff_id, str(readable[0].pk), CHANGE, "Verified at Twitter."),
            (staff_id, str(readable[0].pk), DELETION, "Revoked at Twitter and deleted."),
        ]
    )


def test_staff_without_revoke_permission_cannot_revoke(
    client: Client, fake_twitter: FakeTwitter
) -> None:
    tokens = held(fake_twitter, 2)
    user = staff("manager", "view_accesstoken", "change_accesstoken", "delete_accesstoken")
    client = logged_in(client, user)
    text = html(client.get(changelist()))
    assert action_options(text) == {"discard_selected", "verify_selected"}
    for extra in ({"post": "yes"}, {"index": "0"}):
        response = act(client, "revoke_selected", tokens, **extra)
        assert response.status_code == 302
        assert messages_of(response) == [("warning", "No action selected.")]
    assert fake_twitter.calls == []
    assert AccessToken.objects.count() == 2
    assert not TokenEvent.objects.exists()
    assert not LogEntry.objects.exists()


def test_no_plain_delete_selected(client: Client, fake_twitter: FakeTwitter) -> None:
    tokens = held(fake_twitter, 1)
    client = logged_in(client, superuser())
    assert "delete_selected" not in action_options(html(client.get(changelist())))
    response = confirm(client, "delete_selected", tokens)
    assert messages_of(response) == [("warning", "No action selected.")]
    assert AccessToken.objects.count() == 1


# -- discard ------------------------------------------------------------------------------


def test_discard_selected_confirms_then_discards(
    client: Client,
    fake_twitter: FakeTwitter,
    received: dict[str, list[dict[str, Any]]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    tokens = held(fake_twitter, 3, app_permission="read")
    user = staff("cleaner", "view_accesstoken", "delete_accesstoken")
    client = logged_in(client, user)
    assert action_options(html(client.get(changelist()))) == {"discard_selected"}
    text = html(act(client, "discard_selected", tokens[:2]))
    assert "Discard tokens" in text
    assert "without telling Twitter" in text
    assert "@user1 (1)" in text
    assert "@user3" not in text
    assert AccessToken.objects.count() == 3
    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(client, "discard_selected", tokens[:2])
    assert messages_of(response) == [("success", "2 tokens discarded.")]
    assert fake_twitter.calls == []
    assert set(AccessToken.objects.values_list("twitter_user_id", flat=True)) == {"3"}
    assert sorted(
        TokenEvent.objects.values_list("twitter_user_id", "action", "actor", "reason")
    ) == [
        ("1", "discarded", user.pk, "discarded in the admin"),
        ("2", "discarded", user.pk, "discarded in the admin"),
    ]
    assert log_entries() == [
        (user.pk, str(tokens[0].pk), DELETION, "Discarded."),
        (user.pk, str(tokens[1].pk), DELETION, "Discarded."),
    ]
    assert sorted(
        (kwargs["token"].twitter_user_id, kwargs["user"], kwargs["revoked_by"], kwargs["reason"])
        for kwargs in received["discarded"]
    ) == [
        ("1", tokens[0].user, user, "discarded in the admin"),
        ("2", tokens[1].user, user, "discarded in the admin"),
    ]
    assert received["revoked"] == []


def test_staff_without_delete_permission_cannot_discard(
    client: Client, fake_twitter: FakeTwitter
) -> None:
    tokens = held(fake_twitter, 2)
    client = logged_in(client, staff("verifier", "view_accesstoken", "change_accesstoken"))
    assert action_options(html(client.get(changelist()))) == {"verify_selected"}
    response = confirm(client, "discard_selected", tokens)
    assert messages_of(response) == [("warning", "No action selected.")]
    assert AccessToken.objects.count() == 2
    assert not TokenEvent.objects.exists()


def test_the_delete_button_discards(
    client: Client,
    fake_twitter: FakeTwitter,
    received: dict[str, list[dict[str, Any]]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    token = held(fake_twitter)[0]
    user = staff("cleaner", "view_accesstoken", "delete_accesstoken")
    client = logged_in(client, user)
    change = html(client.get(reverse("admin:twitter_oauth_accesstoken_change", args=[token.pk])))
    delete = reverse("admin:twitter_oauth_accesstoken_delete", args=[token.pk])
    assert delete in change
    assert_no_secret(html(client.get(delete)), [token])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(delete, {"post": "yes"})
    assert response.status_code == 302
    assert not AccessToken.objects.exists()
    assert fake_twitter.calls == []
    event = TokenEvent.objects.get()
    assert (event.action, event.actor, event.reason) == ("discarded", user, "deleted in the admin")
    assert [(kwargs["token"].pk, kwargs["revoked_by"]) for kwargs in received["discarded"]] == [
        (token.pk, user)
    ]
    assert LogEntry.objects.get().action_flag == DELETION


def test_delete_queryset_discards(rf: RequestFactory) -> None:
    held(None, 2)
    request = rf.post("/")
    request.user = superuser()
    AccessTokenAdmin(AccessToken, site).delete_queryset(request, AccessToken.objects.all())
    assert not AccessToken.objects.exists()
    assert list(TokenEvent.objects.values_list("action", flat=True)) == ["discarded"] * 2


# -- verify -------------------------------------------------------------------------------


def test_verify_selected_updates_valid_tokens(client: Client, fake_twitter: FakeTwitter) -> None:
    tokens = held(fake_twitter, 2)
    user = staff("verifier", "view_accesstoken", "change_accesstoken")
    response = act(logged_in(client, user), "verify_selected", tokens)
    assert response.status_code == 302
    assert messages_of(response) == [("success", "2 tokens verified.")]
    assert AccessToken.objects.filter(verified_at__isnull=False).count() == 2
    assert fake_twitter.count(USERS_ME) == 2
    assert log_entries() == [
        (user.pk, str(tokens[0].pk), CHANGE, "Verified at Twitter."),
        (user.pk, str(tokens[1].pk), CHANGE, "Verified at Twitter."),
    ]
    assert not TokenEvent.objects.exists()


def test_verify_selected_offers_to_discard_invalid_tokens(
    client: Client,
    fake_twitter: FakeTwitter,
    received: dict[str, list[dict[str, Any]]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    valid = held(fake_twitter, 1)[0]
    invalid = held(None, 1, start=2)[0]
    user = staff("keeper", "view_accesstoken", "change_accesstoken", "delete_accesstoken")
    client = logged_in(client, user)
    response = act(client, "verify_selected", [valid, invalid])
    text = html(response)
    assert "Discard tokens" in text
    assert "1 token" in text
    assert "@user2 (2)" in text
    assert "@user1" not in text
    assert f'name="_selected_action" value="{invalid.pk}"' in text
    assert f'name="_selected_action" value="{valid.pk}"' not in text
    assert messages_of(response) == [
        ("success", "1 token verified."),
        ("warning", "Twitter says 1 token is invalid."),
    ]
    assert AccessToken.objects.count() == 2
    event = TokenEvent.objects.get()
    assert (event.twitter_user_id, event.action, event.actor) == ("2", "found_invalid", user)
    assert log_entries() == [
        (user.pk, str(valid.pk), CHANGE, "Verified at Twitter."),
        (user.pk, str(invalid.pk), CHANGE, "Twitter says the token is invalid."),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(client, "discard_selected", [invalid])
    assert messages_of(response) == [("success", "1 token discarded.")]
    assert list(AccessToken.objects.values_list("twitter_user_id", flat=True)) == ["1"]
    assert [kwargs["token"].pk for kwargs in received["discarded"]] == [invalid.pk]


def test_verify_selected_never_discards_without_the_confirmation(
    client: Client, fake_twitter: FakeTwitter
) -> None:
    # A hand-made verify POST carrying post=yes still gets the confirmation page.
    invalid = held(None, 1)
    user = staff("keeper", "view_accesstoken", "change_accesstoken", "delete_accesstoken")
    response = act(logged_in(client, user), "verify_selected", invalid, post="yes")
    assert "Discard tokens" in html(response)
    assert AccessToken.objects.count() == 1
    assert not TokenEvent.objects.filter(action=TokenEvent.Action.DISCARDED).exists()


def test_verify_selected_without_delete_permission_only_reports(
    client: Client, fake_twitter: FakeTwitter
) -> None:
    invalid = held(None, 2)
    client = logged_in(client, staff("verifier", "view_accesstoken", "change_accesstoken"))
    response = act(client, "verify_selected", invalid)
    assert response.status_code == 302
    assert messages_of(response) == [("warning", "Twitter says 2 tokens are invalid.")]
    assert AccessToken.objects.count() == 2
    assert TokenEvent.objects.count() == 2


def test_verify_selected_reports_failures(
    client: Client, fake_twitter: FakeTwitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(revocation, "RETRY_BACKOFF", (0,))
    token = held(fake_twitter, 1)[0]
    fake_twitter.fail(USERS_ME, status=503, times=2)
    response = act(logged_in(client, superuser()), "verify_selected", [token])
    [(level, text)] = messages_of(response)
    assert level == "error"
    assert text.startswith("@user1 could not be verified: Twitter failed")
    assert "HTTP 503" in text
    assert AccessToken.objects.get().verified_at is None
    assert not LogEntry.objects.exists()


def test_staff_without_change_permission_cannot_verify(
    client: Client, fake_twitter: FakeTwitter
) -> None:
    tokens = held(fake_twitter, 1)
    client = logged_in(client, staff("viewer", "view_accesstoken", "revoke_accesstoken"))
    assert action_options(html(client.get(changelist()))) == {"revoke_selected"}
    response = act(client, "verify_selected", tokens)
    assert messages_of(response) == [("warning", "No action selected.")]
    assert fake_twitter.calls == []


# -- stale tokens, filters, search --------------------------------------------------------

BANNER = '<a href="?stale=yes">Show the stale tokens</a>'


def test_stale_banner_only_with_stale_tokens(client: Client) -> None:
    held(None, 2)
    client = logged_in(client, superuser())
    text = html(client.get(changelist()))
    assert BANNER not in text
    assert "issued under another app permission" not in text
    held(None, 1, start=3, app_permission="read")
    text = html(client.get(changelist()))
    assert BANNER in text
    assert "1 token was issued under another app permission than the current one" in text
    assert "(read-write)" in text
    with override_settings(TWITTER_OAUTH_APP_PERMISSION="read"):
        text = html(client.get(changelist()))
    assert "2 tokens were issued under another app permission" in text


@pytest.mark.parametrize(
    ("query", "expected"),
    [("", {"1", "2", "3"}), ("?stale=yes", {"3"}), ("?stale=no", {"1", "2"})],
)
def test_stale_filter(client: Client, query: str, expected: set[str]) -> None:
    held(None, 2)
    held(None, 1, start=3, app_permission="read")
    response = logged_in(client, superuser()).get(changelist(query))
    assert response.status_code == 200
    found = {token.twitter_user_id for token in response.context["cl"].result_list}
    assert found == expected
    assert 'href="?stale=yes"' in html(response)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("alice", {"1", "2"}),
        ("gamma", {"3"}),
        ("GAM", {"3"}),
        ("3", {"3"}),
        ("33", set()),  # the Twitter id is matched exactly
        # Staff typing a stored token or secret into the search box see their own query
        # typed back: an echo of the request, not of anything stored.
        pytest.param(
            credentials(1)[0], set(), marks=pytest.mark.leaks_allowed("search query echoed")
        ),
        pytest.param(
            credentials(1)[1], set(), marks=pytest.mark.leaks_allowed("search query echoed")
        ),
    ],
)
def test_search(client: Client, query: str, expected: set[str]) -> None:
    held(None, 2, user=make_user("alice"))
    held(None, 1, user=make_user("bob"), start=3)
    for number, name in (("1", "alpha"), ("2", "beta"), ("3", "gamma")):
        AccessToken.objects.filter(twitter_user_id=number).update(screen_name=name)
    response = logged_in(client, superuser()).get(changelist(), {"q": query})
    assert response.status_code == 200
    assert {token.twitter_user_id for token in response.context["cl"].result_list} == expected
