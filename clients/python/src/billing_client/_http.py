"""The wire: one HTTP exchange behind a small protocol, so tests can hand the client a fake."""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit


@dataclass(frozen=True)
class HttpRequest:
    """One request as the transport sends it. The headers hold the API key: not in the repr."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    body: bytes | None = None
    timeout: float = 5.0


@dataclass(frozen=True)
class HttpResponse:
    """One answer; header names are kept lower-case."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json_object(self) -> dict[str, Any] | None:
        """The body as a JSON object, or None when it is not one."""
        try:
            parsed = json.loads(self.body)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None


class Transport(Protocol):
    """Sends one request and returns the answer, whatever its status.

    Raises ``OSError`` when no answer arrives (``TimeoutError`` for a timeout,
    ``ConnectionError`` for a refused or broken connection): the client retries those.
    """

    def send(self, request: HttpRequest) -> HttpResponse: ...


class HttpClientTransport:
    """``http.client`` with a fresh connection per request: nothing pooled, nothing to close,
    safe to share between threads. No redirects are followed and no proxy is used.

    ``timeout`` applies to the connect and to each read of the socket.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl_context = ssl_context

    def send(self, request: HttpRequest) -> HttpResponse:
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                host, parts.port, timeout=request.timeout, context=self._ssl_context
            )
        else:
            connection = http.client.HTTPConnection(host, parts.port, timeout=request.timeout)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request(
                request.method, target, body=request.body, headers=dict(request.headers)
            )
            answer = connection.getresponse()
            body = answer.read()
        except http.client.HTTPException as exc:  # a malformed or cut-off answer
            raise ConnectionError(f"broken HTTP answer: {type(exc).__name__}") from exc
        finally:
            connection.close()
        headers = {name.lower(): value for name, value in answer.getheaders()}
        return HttpResponse(answer.status, headers, body)
