"""A TwitterClient that reaches the sandbox's views in-process, through Django's test
client (for tests of the sandbox without a server)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

import requests
from django.test import Client

#: The sandbox's base URL under tests/urls.py.
SANDBOX = "http://testserver/sandbox"


def text(value: object) -> str:
    """requests-oauthlib sets the Authorization header as bytes."""
    return value.decode() if isinstance(value, bytes) else str(value)


class DjangoClientAdapter(requests.adapters.BaseAdapter):
    """Sends TwitterClient's HTTP calls to the sandbox through Django's test client."""

    def __init__(self, client: Client) -> None:
        super().__init__()
        self.client = client

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        url = urllib.parse.urlsplit(request.url or "")
        headers = {
            name: text(value)
            for name, value in request.headers.items()
            if name.lower() not in ("content-type", "content-length")
        }
        answer = self.client.generic(
            request.method or "GET",
            f"{url.path}?{url.query}" if url.query else url.path,
            data=request.body or b"",
            content_type=text(request.headers.get("Content-Type", "")),
            headers=headers,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response._content = answer.content
        response.headers.update(dict(answer.headers))
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass
