"""{% twitter_oauth_button %}: a POST form to twitter_oauth:begin."""

from __future__ import annotations

from typing import Any

import pytest
from django.template import Context, RequestContext, Template
from django.test import RequestFactory

from tests.utils import make_request, make_user

pytestmark = pytest.mark.django_db


def render(source: str, user: Any = None, **context: Any) -> str:
    request = make_request(user)
    return Template("{% load twitter_oauth %}" + source).render(RequestContext(request, context))


def test_anonymous_button() -> None:
    html = render("{% twitter_oauth_button %}")
    assert '<form method="post" action="/twitter/begin/" class="twitter-oauth-button">' in html
    assert 'name="csrfmiddlewaretoken" value="' in html
    assert '<button type="submit">Sign in with Twitter</button>' in html
    for name in ("next", "authorize", "force_login", "screen_name", "access_type"):
        assert f'name="{name}"' not in html


def test_signed_in_button() -> None:
    html = render("{% twitter_oauth_button %}", make_user())
    assert '<button type="submit">Connect Twitter</button>' in html


def test_button_options() -> None:
    html = render(
        '{% twitter_oauth_button label="Go" next=here authorize=True '
        'force_login=True screen_name="jack" css_class="btn" access_type="read" %}',
        here="/after/?a=1&b=2",
    )
    assert '<form method="post" action="/twitter/begin/" class="btn">' in html
    assert '<button type="submit">Go</button>' in html
    assert '<input type="hidden" name="next" value="/after/?a=1&amp;b=2">' in html
    assert '<input type="hidden" name="authorize" value="1">' in html
    assert '<input type="hidden" name="force_login" value="1">' in html
    assert '<input type="hidden" name="screen_name" value="jack">' in html
    assert '<input type="hidden" name="access_type" value="read">' in html


def test_values_from_variables_are_escaped() -> None:
    html = render(
        "{% twitter_oauth_button label=label screen_name=name %}",
        label="<b>Go</b>",
        name='"><script>',
    )
    assert '<button type="submit">&lt;b&gt;Go&lt;/b&gt;</button>' in html
    assert 'value="&quot;&gt;&lt;script&gt;"' in html
    assert "<script>" not in html


def test_without_a_request() -> None:
    """In a template rendered without a request (an e-mail, say) it still renders, as
    for an anonymous visitor, without a CSRF token."""
    html = Template("{% load twitter_oauth %}{% twitter_oauth_button %}").render(Context())
    assert "Sign in with Twitter" in html
    assert "csrfmiddlewaretoken" not in html


def test_csrf_token_matches_the_request() -> None:
    request = RequestFactory().get("/")
    request.user = make_user()
    html = Template("{% load twitter_oauth %}{% twitter_oauth_button %}").render(
        RequestContext(request)
    )
    assert "csrfmiddlewaretoken" in html
    assert "CSRF_COOKIE" in request.META
