"""Outbound webhooks on the network: DNS resolution, and a POST pinned to a checked address.

The sender resolves an endpoint's host, checks every address (billing.domain.webhook_endpoints)
and connects to the one it checked: http.client is given the address to connect to, while the
request's Host header and TLS (SNI and certificate verification) use the URL's host name, so a
DNS answer that changes between the check and the connection cannot redirect the request.
Redirects are never followed (http.client does not), and only the status is read.
"""

from __future__ import annotations

import http.client
import socket
import ssl

from billing.domain.webhook_endpoints import EndpointUrl
from billing.errors import DependencyUnavailableError

_MAX_ANSWER_BYTES = 4096  # read and dropped: the status is all a delivery needs


class SocketResolver:
    """The system resolver (getaddrinfo)."""

    def addresses(self, host: str, port: int) -> list[str]:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)):
                return []
            raise DependencyUnavailableError(f"DNS lookup failed: {exc.strerror}") from exc
        addresses: list[str] = []
        for *_, address in found:
            text = str(address[0])
            if text not in addresses:
                addresses.append(text)
        return addresses


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(
        self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._context = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


class PinnedPoster:
    """POSTs a delivery to the address the sender checked; TLS verified for the URL's host."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self._context = context or ssl.create_default_context()

    def post(
        self,
        url: EndpointUrl,
        address: str,
        body: bytes,
        headers: dict[str, str],
        timeout: float,
    ) -> int:
        connection: http.client.HTTPConnection
        if url.scheme == "https":
            connection = _PinnedHTTPSConnection(url.host, url.port, address, timeout, self._context)
        else:
            connection = _PinnedHTTPConnection(url.host, url.port, address, timeout)
        try:
            connection.request(
                "POST",
                url.target,
                body=body,
                headers={
                    **headers,
                    "Content-Type": "application/json",
                    "User-Agent": "billing-webhooks/1",
                },
            )
            answer = connection.getresponse()
            answer.read(_MAX_ANSWER_BYTES)
        except (http.client.HTTPException, ssl.SSLError) as exc:
            raise OSError(f"{type(exc).__name__}") from exc
        finally:
            connection.close()
        return answer.status
