"""Stripe's lists for reconciliation: one page per call, paced, backing off when limited.

Stripe allows about 25 requests a second in test mode and 100 in live mode, shared by
everything using the account (Checkout for every project included), so reconciliation keeps
well under it (``RECONCILIATION_REQUESTS_PER_SECOND``) and, when Stripe still answers 429,
waits with a growing delay and tries again instead of failing the run. The SDK does not retry
a 429 by itself; its own retries still cover connection errors and 5xx.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import stripe
from stripe.params import (
    DisputeListParams,
    InvoiceListParams,
    PaymentIntentListParams,
    RefundListParams,
    SubscriptionListParams,
)

from billing.adapters.stripe_gateway import stripe_errors
from billing.domain.reconciliation import ObjectKind, StripePage
from billing.observability import logger

_PATHS: dict[ObjectKind, str] = {
    "subscription": "/v1/subscriptions",
    "invoice": "/v1/invoices",
    "payment_intent": "/v1/payment_intents",
    "refund": "/v1/refunds",
    "dispute": "/v1/disputes",
}
RATE_LIMIT_RETRIES = 6
MAX_BACKOFF_SECONDS = 30.0


class StripeListing:
    def __init__(
        self,
        client: stripe.StripeClient,
        requests_per_second: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._interval = 1.0 / requests_per_second
        self._sleep = sleep
        self._monotonic = monotonic
        self._next_call = 0.0
        self.requests = 0  # calls made, retries included (for the run's log)

    def page(
        self, kind: ObjectKind, *, since: int, starting_after: str | None, limit: int
    ) -> StripePage:
        """One page; a 429 waits and tries again, a few times, before it fails the page."""
        with stripe_errors(f"list {kind}"):
            for attempt in range(RATE_LIMIT_RETRIES):
                self.pace()
                try:
                    return self._list(kind, since, starting_after, limit)
                except stripe.RateLimitError:
                    delay = min(MAX_BACKOFF_SECONDS, 2.0**attempt)
                    logger.warning(
                        "Stripe rate limit: backing off",
                        extra={"kind": kind, "delay_seconds": delay},
                    )
                    self._sleep(delay)
            self.pace()
            return self._list(kind, since, starting_after, limit)

    def pace(self) -> None:
        """At most one call per interval, whatever the caller does between calls."""
        now = self._monotonic()
        if now < self._next_call:
            self._sleep(self._next_call - now)
            now = self._next_call
        self._next_call = now + self._interval
        self.requests += 1

    def _list(
        self, kind: ObjectKind, since: int, starting_after: str | None, limit: int
    ) -> StripePage:
        """The parameters are the SDK's typed ones (mypy checks them); the answer is read as
        plain JSON, not as StripeObjects: building those costs more than the rest of a page."""
        params: Mapping[str, Any]
        if kind == "subscription":
            # Each discount with its coupon: reconciliation compares what they take off too.
            sub_params: SubscriptionListParams = {
                "status": "all",
                "limit": limit,
                "expand": ["data.discounts.source.coupon"],
            }
            if starting_after:
                sub_params["starting_after"] = starting_after
            params = sub_params
        elif kind == "invoice":
            invoice_params: InvoiceListParams = {
                "status": "paid",
                "created": {"gte": since},
                "limit": limit,
            }
            if starting_after:
                invoice_params["starting_after"] = starting_after
            params = invoice_params
        elif kind == "payment_intent":
            intent_params: PaymentIntentListParams = {"created": {"gte": since}, "limit": limit}
            if starting_after:
                intent_params["starting_after"] = starting_after
            params = intent_params
        elif kind == "refund":
            refund_params: RefundListParams = {"created": {"gte": since}, "limit": limit}
            if starting_after:
                refund_params["starting_after"] = starting_after
            params = refund_params
        else:
            dispute_params: DisputeListParams = {"created": {"gte": since}, "limit": limit}
            if starting_after:
                dispute_params["starting_after"] = starting_after
            params = dispute_params
        response = self._client.raw_request("get", _PATHS[kind], **params)
        listed: dict[str, Any] = response.data
        return StripePage(list(listed["data"]), bool(listed["has_more"]))
