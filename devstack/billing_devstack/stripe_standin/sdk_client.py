"""A stripe-python ``HTTPClient`` that calls a :class:`StripeStandIn` in the same process.

No socket is opened, so the service's unit tests (sockets disabled) can run the real SDK
against the stand-in::

    standin = StripeStandIn()
    client = stripe.StripeClient(
        "sk_test_x",
        base_addresses={"api": "http://standin.invalid"},
        http_client=InProcessHTTPClient(standin),
    )
    client.v1.customers.create(params={"email": "a@example.com"})

The host of the URL is ignored; only the path and query reach the stand-in. Responses carry
case-insensitive headers, as the SDK expects from ``requests``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import stripe

from billing_devstack.stripe_standin.core import StripeStandIn


class CaseInsensitiveHeaders(Mapping[str, str]):
    """Response headers found by any spelling (``request-id``, ``Request-Id``)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._items = {name.lower(): (name, value) for name, value in headers.items()}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items


class InProcessHTTPClient(stripe.HTTPClient):
    """Hands each SDK request to ``standin.handle`` and returns its answer unchanged."""

    name = "in-process-standin"

    def __init__(self, standin: StripeStandIn) -> None:
        super().__init__()
        self.standin = standin

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        """One API call: ``(body, status, headers)`` as the SDK's own clients return it."""
        body, status, answer_headers = self._call(method, url, headers, post_data)
        return body.decode("utf-8"), status, answer_headers

    def request_stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        """The streaming variant (file downloads); the body is a file-like object."""
        body, status, answer_headers = self._call(method, url, headers, post_data)
        return io.BytesIO(body), status, answer_headers

    def close(self) -> None:
        """Nothing to release."""

    def _call(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any
    ) -> tuple[bytes, int, CaseInsensitiveHeaders]:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        if isinstance(post_data, str):
            post_data = post_data.encode("utf-8")
        status, answer_headers, body = self.standin.handle(
            method, target, dict(headers or {}), post_data or b""
        )
        return body, status, CaseInsensitiveHeaders(answer_headers)
