"""No query string in the admin may filter on a credential or its hash (issue 14.2).

A lookup such as ``?token__regex=^a`` answers yes or no about a secret: with a row's
``id`` beside it, a staff member who may only *view* pending authorizations rebuilt a
victim's request token one character at a time.
"""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.contrib.auth.models import Permission, User
from django.db.models import Model
from django.test import Client, RequestFactory
from django.urls import reverse

from django_twitter_oauth.admin import AccessTokenAdmin, RequestTokenAdmin, TokenEventAdmin
from django_twitter_oauth.models import AccessToken, RequestToken, TokenEvent
from tests.utils import make_token, make_user

pytestmark = pytest.mark.django_db

CHANGELISTS = {
    "accesstoken": "admin:twitter_oauth_accesstoken_changelist",
    "tokenevent": "admin:twitter_oauth_tokenevent_changelist",
    "requesttoken": "admin:twitter_oauth_requesttoken_changelist",
}

REFUSED = [
    ("accesstoken", "token__regex=^a"),
    ("accesstoken", "token__startswith=6"),
    ("accesstoken", "secret__gt="),
    ("accesstoken", "token="),
    ("accesstoken", "secret__isnull=False"),
    ("accesstoken", "user__twitter_tokens__token__regex=^a"),
    ("accesstoken", "user__twitter_request_tokens__flow_key_hash__startswith=0"),
    ("accesstoken", "user__twitter_request_tokens__token_hash__startswith=0"),
    ("tokenevent", "user__twitter_tokens__secret__regex=^a"),
    ("requesttoken", "token__regex=^a"),
    ("requesttoken", "token_hash__startswith="),
    ("requesttoken", "flow_key_hash__startswith=0"),
    ("requesttoken", "flow_key_hash=0"),
    ("requesttoken", "secret__gt="),
    ("requesttoken", "user__twitter_tokens__token__lt=z"),
]

ALLOWED = [
    ("accesstoken", ""),
    ("accesstoken", "access_level__exact=read"),
    ("accesstoken", "stale=yes"),
    ("accesstoken", "app_permission__exact=read-write"),
    ("accesstoken", "q=alice"),
    ("accesstoken", "created_at__year=2020"),
    ("tokenevent", "action__exact=revoked"),
    ("requesttoken", ""),
]


@pytest.fixture
def viewer(client: Client) -> Client:
    """Staff who may only view this app's models."""
    user: User = make_user("viewer", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="twitter_oauth",
            codename__in=["view_accesstoken", "view_tokenevent", "view_requesttoken"],
        )
    )
    client.force_login(user)
    make_token(make_user("alice"))
    return client


@pytest.mark.parametrize(("model", "query"), REFUSED)
def test_lookups_on_credentials_are_refused(viewer: Client, model: str, query: str) -> None:
    response = viewer.get(f"{reverse(CHANGELISTS[model])}?{query}")
    assert response.status_code == 400


@pytest.mark.parametrize(("model", "query"), ALLOWED)
def test_the_admins_own_filters_still_work(viewer: Client, model: str, query: str) -> None:
    response = viewer.get(f"{reverse(CHANGELISTS[model])}?{query}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("model", "admin_class"),
    [
        (AccessToken, AccessTokenAdmin),
        (TokenEvent, TokenEventAdmin),
        (RequestToken, RequestTokenAdmin),
    ],
)
def test_every_admin_of_the_app_refuses_them(model: type[Model], admin_class: type) -> None:
    model_admin = site._registry[model]
    request = RequestFactory().get("/")
    assert isinstance(model_admin, admin_class)
    for lookup in ("token", "secret__regex", "token_hash__gt", "flow_key_hash__startswith"):
        assert not model_admin.lookup_allowed(lookup, "x", request)
    assert model_admin.lookup_allowed("created_at__gte", "2020-01-01", request)
