"""A pytest plugin with a ``fake_twitter`` fixture.

Opt in from a conftest.py::

    pytest_plugins = ["django_twitter_oauth.testing.pytest_plugin"]
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from django_twitter_oauth.testing.fake import FakeTwitter

__all__ = ["fake_twitter"]


@pytest.fixture
def fake_twitter() -> Iterator[FakeTwitter]:
    """A FakeTwitter configured from the site's TWITTER_OAUTH_* settings, active
    for the test: every ``requests`` call to TWITTER_OAUTH_API_URL is answered by it,
    and any other HTTP call fails."""
    with FakeTwitter() as fake:
        yield fake
