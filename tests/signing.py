"""OAuth 1.0a signatures recomputed without oauthlib (RFC 5849 §3.4), for tests that check
what the client sent."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import requests

#: tests/settings.py's TWITTER_OAUTH_CONSUMER_SECRET.
CONSUMER_SECRET = "tests-consumer-secret"


def oauth_params(request: requests.PreparedRequest) -> dict[str, str]:
    """The Authorization header's parameters, decoded (independent of oauthlib)."""
    header: str | bytes = request.headers["Authorization"]
    text = header.decode() if isinstance(header, bytes) else header
    assert text.startswith("OAuth ")
    return {name: unquote(value) for name, value in re.findall(r'(\w+)="([^"]*)"', text)}


def body_text(request: requests.PreparedRequest) -> str:
    body = request.body
    return body.decode() if isinstance(body, bytes) else str(body)


def _enc(value: str) -> str:
    return quote(value, safe="~")


def expected_signature(
    request: requests.PreparedRequest, consumer_secret: str, token_secret: str = ""
) -> str:
    """HMAC-SHA1 of the request per RFC 5849 §3.4, computed here without oauthlib."""
    assert request.method is not None
    assert request.url is not None
    url = urlsplit(request.url)
    params = parse_qsl(url.query, keep_blank_values=True)
    params += [(k, v) for k, v in oauth_params(request).items() if k != "oauth_signature"]
    content_type: str | bytes = request.headers.get("Content-Type", "")
    if content_type in ("application/x-www-form-urlencoded", b"application/x-www-form-urlencoded"):
        params += parse_qsl(body_text(request), keep_blank_values=True)
    normalized = "&".join(f"{k}={v}" for k, v in sorted((_enc(k), _enc(v)) for k, v in params))
    base_url = f"{url.scheme}://{url.netloc}{url.path}"
    base = "&".join([request.method, _enc(base_url), _enc(normalized)])
    key = f"{_enc(consumer_secret)}&{_enc(token_secret)}"
    return base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()).decode()


def assert_signed(
    request: requests.PreparedRequest,
    *,
    consumer_secret: str = CONSUMER_SECRET,
    token_secret: str = "",
) -> None:
    assert oauth_params(request)["oauth_signature"] == expected_signature(
        request, consumer_secret, token_secret
    )
