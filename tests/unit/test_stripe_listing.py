"""Stripe's lists for reconciliation: typed params, pacing, and backing off on 429."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import stripe

from billing.adapters.stripe_listing import RATE_LIMIT_RETRIES, StripeListing
from billing.errors import PaymentProviderUnavailableError


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def fake_client(answers: list[Any], calls: list[tuple[str, dict[str, Any]]]) -> Any:
    """A StripeClient whose raw GETs answer (or raise) from ``answers`` in turn."""

    def raw_request(method: str, url: str, **params: Any) -> Any:
        assert method == "get"
        calls.append((url.removeprefix("/v1/"), params))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return SimpleNamespace(data={"object": "list", "data": answer, "has_more": False})

    return SimpleNamespace(raw_request=raw_request)


def listing(answers: list[Any], calls: list[Any], clock: FakeClock, rate: float = 10.0) -> Any:
    return StripeListing(
        fake_client(answers, calls), rate, sleep=clock.sleep, monotonic=clock.monotonic
    )


def test_each_kind_asks_stripe_for_what_reconciliation_compares() -> None:
    calls: list[Any] = []
    pages = listing([[{"id": "a"}], [], [], [], []], calls, FakeClock())
    first = pages.page("subscription", since=5, starting_after="sub_0", limit=100)
    for kind in ("invoice", "payment_intent", "refund", "dispute"):
        pages.page(kind, since=5, starting_after=None, limit=50)
    assert first.objects == [{"id": "a"}]
    assert calls == [
        (
            "subscriptions",
            {
                "status": "all",
                "limit": 100,
                "expand": ["data.discounts.source.coupon"],
                "starting_after": "sub_0",
            },
        ),
        ("invoices", {"status": "paid", "created": {"gte": 5}, "limit": 50}),
        ("payment_intents", {"created": {"gte": 5}, "limit": 50}),
        ("refunds", {"created": {"gte": 5}, "limit": 50}),
        ("disputes", {"created": {"gte": 5}, "limit": 50}),
    ]


def test_calls_are_paced_under_the_configured_rate() -> None:
    clock = FakeClock()
    pages = listing([[], [], []], [], clock, rate=4.0)
    for _ in range(3):
        pages.page("subscription", since=0, starting_after=None, limit=1)
    assert clock.slept == [0.25, 0.25]


def test_a_rate_limit_waits_longer_each_time_then_succeeds() -> None:
    clock = FakeClock()
    limited = stripe.RateLimitError("Request rate limit exceeded.", http_status=429)
    pages = listing([limited, limited, [{"id": "sub_1"}]], [], clock, rate=1000.0)
    page = pages.page("subscription", since=0, starting_after=None, limit=1)
    assert page.objects == [{"id": "sub_1"}]
    backoffs = [s for s in clock.slept if s >= 1]
    assert backoffs == [1.0, 2.0]


def test_a_rate_limit_that_never_ends_fails_the_page_as_unavailable() -> None:
    clock = FakeClock()
    answers: list[Any] = [
        stripe.RateLimitError("limited", http_status=429) for _ in range(RATE_LIMIT_RETRIES + 1)
    ]
    pages = listing(answers, [], clock, rate=1000.0)
    with pytest.raises(PaymentProviderUnavailableError):
        pages.page("refund", since=0, starting_after=None, limit=1)
    assert answers == []
