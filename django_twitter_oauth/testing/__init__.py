"""Test without Twitter: a signature-verifying fake, in-process or as the sandbox.

``FakeTwitter`` intercepts ``requests`` through the ``responses`` library, which
the ``testing`` extra installs (``pip install django-twitter-oauth[testing]``). It
is imported on first use, so the sandbox, which needs only the provider, runs
without ``responses``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django_twitter_oauth.testing.provider import FakeProvider, FakeResponse, Fault

if TYPE_CHECKING:
    from django_twitter_oauth.testing.fake import FakeCall, FakeTwitter

__all__ = ["FakeCall", "FakeProvider", "FakeResponse", "FakeTwitter", "Fault"]


def __getattr__(name: str) -> Any:
    if name in ("FakeTwitter", "FakeCall"):
        from django_twitter_oauth.testing import fake

        return getattr(fake, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
