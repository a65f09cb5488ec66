"""The stand-in in process: a settable clock, webhooks captured by a fake transport, and the
real stripe SDK wired to it through the in-process HTTP client (no sockets anywhere)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import stripe

from billing_devstack.stripe_standin import StripeStandIn, WebhookSender
from billing_devstack.stripe_standin.sdk_client import InProcessHTTPClient

API_KEY = "sk_test_unit"
SECRET = "whsec_standin_unit"
HOOK_URL = "http://receiver.invalid/api/v1/webhooks/stripe"
START = 1_767_225_600  # 2026-01-01T00:00:00Z
SUCCESS_URL = "https://app.example.com/done?session={CHECKOUT_SESSION_ID}"


@dataclass
class Clock:
    """Seconds since the epoch, moved by tests."""

    now: float = START

    def __call__(self) -> float:
        return self.now


@dataclass
class Outbox:
    """A webhook transport that records each POST and answers with the next queued status."""

    answers: list[int | Exception] = field(default_factory=list)
    posts: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        self.posts.append((url, body, dict(headers)))
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, Exception):
            raise answer
        return answer

    def events(self) -> list[dict[str, Any]]:
        """The bodies POSTed, parsed."""
        return [json.loads(body) for _, body, _ in self.posts]

    def types(self) -> list[str]:
        return [event["type"] for event in self.events()]


@dataclass
class Harness:
    """The stand-in, its sender and its outbox, and a short way to call it."""

    standin: StripeStandIn
    sender: WebhookSender
    outbox: Outbox
    clock: Clock

    def call(
        self,
        method: str,
        path: str,
        body: bytes | str = b"",
        headers: Mapping[str, str] | None = None,
        key: str | None = API_KEY,
    ) -> tuple[int, dict[str, str], Any]:
        """One request; answers (status, headers, parsed JSON or the HTML text)."""
        sent = dict(headers or {})
        if key is not None:
            sent.setdefault("Authorization", f"Bearer {key}")
        raw = body.encode() if isinstance(body, str) else body
        status, answer_headers, answer = self.standin.handle(method, path, sent, raw)
        if answer_headers.get("Content-Type", "").startswith("application/json"):
            return status, answer_headers, json.loads(answer)
        return status, answer_headers, answer.decode()

    def deliver(self) -> list[str]:
        """Deliver what is queued; the types sent since the last call."""
        before = len(self.outbox.posts)
        self.sender.drain()
        return self.outbox.types()[before:]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def harness(clock: Clock) -> Harness:
    outbox = Outbox()
    sender = WebhookSender(HOOK_URL, [SECRET], transport=outbox, backoff=0.0, clock=clock)
    standin = StripeStandIn(base_url="http://standin.test", webhooks=sender, clock=clock)
    standin.register_price("price_123", 900, "usd", {"interval": "month"}, product_name="Pro")
    standin.register_price("price_once", 2500, "usd", None, product_name="Lifetime")
    return Harness(standin, sender, outbox, clock)


@pytest.fixture
def client(harness: Harness) -> stripe.StripeClient:
    """The real SDK, as the service builds it, answering from the stand-in in process."""
    return stripe.StripeClient(
        API_KEY,
        base_addresses={"api": "http://standin.invalid"},
        http_client=InProcessHTTPClient(harness.standin),
        max_network_retries=2,
    )
