"""The suite's own fixtures that stand in for pytest-django's (tests/conftest.py)."""

from __future__ import annotations

import pytest
from pytest_django import DjangoAssertNumQueries

from django_twitter_oauth.models import AccessToken

pytestmark = pytest.mark.django_db


def test_the_statement_count_fails_on_a_wrong_count(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    with (
        pytest.raises(pytest.fail.Exception) as failed,
        django_assert_num_queries(0, info="one count"),
    ):
        AccessToken.objects.count()
    assert "Expected to perform 0 queries but 1 were done\none count" in str(failed.value)
    assert 'FROM "twitter_oauth_accesstoken"' in str(failed.value)
