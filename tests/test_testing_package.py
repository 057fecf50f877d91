from __future__ import annotations

import subprocess
import sys

import pytest

import django_twitter_oauth.testing as testing
from django_twitter_oauth.testing import fake, provider


def test_exports() -> None:
    assert testing.FakeTwitter is fake.FakeTwitter
    assert testing.FakeCall is fake.FakeCall
    assert testing.FakeProvider is provider.FakeProvider
    assert testing.FakeResponse is provider.FakeResponse
    assert testing.Fault is provider.Fault
    assert sorted(testing.__all__) == [
        "FakeCall",
        "FakeProvider",
        "FakeResponse",
        "FakeTwitter",
        "Fault",
    ]
    from django_twitter_oauth.testing import FakeTwitter

    assert FakeTwitter is fake.FakeTwitter


def test_unknown_name() -> None:
    with pytest.raises(
        AttributeError, match="^module 'django_twitter_oauth.testing' has no attribute 'Nope'$"
    ):
        testing.Nope  # noqa: B018
    with pytest.raises(ImportError):
        from django_twitter_oauth.testing import Nope  # noqa: F401


@pytest.mark.slow
def test_fake_twitter_is_imported_on_first_use() -> None:
    # The sandbox needs only the provider: importing the package must not import
    # ``responses`` (not a dependency of the app).
    code = (
        "import sys, django_twitter_oauth.testing as t; "
        "assert 'responses' not in sys.modules; "
        "assert 'django_twitter_oauth.testing.fake' not in sys.modules; "
        "t.FakeTwitter; "
        "assert 'responses' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
