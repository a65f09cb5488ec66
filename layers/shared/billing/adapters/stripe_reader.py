"""Stripe's objects as they are now, for the engine (when a payload cannot decide) and for
reconciliation (the payment behind a refund or a dispute).

Parameters are the SDK's typed ones (mypy checks them); answers are read as plain JSON, like
reconciliation's lists. Each answer is dated by Stripe's own clock (its ``Date`` header), so a
fact read from it is ordered against event times from the same clock: an event of an earlier
second is in the answer; one of the same second may or may not be, so the engine compares it
(and reads again if it says something else). An event of the second before, that happened
in the instant between the read and an answer dated a second later, would be taken as stale:
the nightly reconciliation repairs that rare case. Calls share the time their caller has
left (:meth:`StripeObjectReader.within`): a read that cannot fit is a
PaymentProviderUnavailableError, and the SQS message is retried later, unmarked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import stripe
from stripe.params import (
    ChargeRetrieveParams,
    DisputeListParams,
    InvoicePaymentListParams,
    InvoiceRetrieveParams,
    PaymentIntentRetrieveParams,
    SubscriptionRetrieveParams,
)

from billing.adapters.stripe_gateway import ATTEMPT_SECONDS, MAX_NETWORK_RETRIES, stripe_errors
from billing.domain.stripe_reads import StripeRead
from billing.errors import PaymentProviderUnavailableError

DISPUTES_PER_PAYMENT = 100  # Stripe's page size limit; a payment has a handful at most
# A subscription as the engine reads it: the invoice that dates a payment failure, and each
# discount with its coupon (what it takes off, for how long).
SUBSCRIPTION_EXPAND = ["latest_invoice", "discounts.source.coupon"]


def answered_at(headers: Mapping[str, str], fallback: float) -> int:
    """The second of Stripe's answer (its ``Date``; this machine's clock without one)."""
    date = headers.get("date") or headers.get("Date")
    try:
        when = parsedate_to_datetime(date).timestamp() if date else fallback
    except (TypeError, ValueError):
        when = fallback
    return int(when)


class StripeObjectReader:
    def __init__(
        self,
        client: stripe.StripeClient,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        pace: Callable[[], None] | None = None,
    ) -> None:
        self._client = client
        self._deadline = deadline  # on ``clock``; None: every call gets all its retries
        self._clock = clock
        self._wall_clock = wall_clock
        self._pace = pace  # reconciliation's: keeps every call under Stripe's rate limit
        self.requests = 0  # calls made (for metrics and benchmarks)

    def within(self, seconds: float) -> StripeObjectReader:
        """This reader (same client) for work that must be done in ``seconds``."""
        return StripeObjectReader(
            self._client, self._clock() + seconds, self._clock, self._wall_clock, self._pace
        )

    def _get(self, operation: str, path: str, params: Mapping[str, Any]) -> StripeRead | None:
        """One GET; None when Stripe has no such object (404)."""
        options: dict[str, Any] = {}
        if self._deadline is not None:
            attempts = int((self._deadline - self._clock()) // ATTEMPT_SECONDS)
            if attempts < 1:
                raise PaymentProviderUnavailableError(f"Stripe {operation}: no time left", 503)
            options["max_network_retries"] = min(attempts - 1, MAX_NETWORK_RETRIES)
        if self._pace is not None:
            self._pace()
        self.requests += 1
        with stripe_errors(operation):
            try:
                response = self._client.raw_request("get", path, **params, **options)
            except stripe.InvalidRequestError as exc:
                if exc.http_status == HTTPStatus.NOT_FOUND:
                    return None
                raise
        data: dict[str, Any] = response.data
        return StripeRead(data, answered_at(response.headers, self._wall_clock()))

    def subscription(self, subscription_id: str) -> StripeRead | None:
        params: SubscriptionRetrieveParams = {"expand": SUBSCRIPTION_EXPAND}
        return self._get("retrieve subscription", f"/v1/subscriptions/{subscription_id}", params)

    def payment_intent(self, payment_intent_id: str) -> StripeRead | None:
        params: PaymentIntentRetrieveParams = {"expand": ["latest_charge"]}
        path = f"/v1/payment_intents/{payment_intent_id}"
        return self._get("retrieve payment intent", path, params)

    def charge(self, charge_id: str) -> StripeRead | None:
        params: ChargeRetrieveParams = {}
        return self._get("retrieve charge", f"/v1/charges/{charge_id}", params)

    def invoice(self, invoice_id: str) -> StripeRead | None:
        params: InvoiceRetrieveParams = {"expand": ["payments"]}
        return self._get("retrieve invoice", f"/v1/invoices/{invoice_id}", params)

    def invoice_of_payment(self, payment_intent_id: str) -> str | None:
        params: InvoicePaymentListParams = {
            "payment": {"type": "payment_intent", "payment_intent": payment_intent_id},
            "limit": 1,
        }
        listed = self._get("list invoice payments", "/v1/invoice_payments", params)
        for payment in (listed.obj.get("data") if listed else None) or []:
            invoice = payment.get("invoice")
            found = invoice.get("id") if isinstance(invoice, dict) else invoice
            if isinstance(found, str):
                return found
        return None

    def disputes(self, payment_intent_id: str) -> list[dict[str, Any]]:
        params: DisputeListParams = {
            "payment_intent": payment_intent_id,
            "limit": DISPUTES_PER_PAYMENT,
        }
        listed = self._get("list disputes", "/v1/disputes", params)
        data = listed.obj.get("data") if listed else None
        return [d for d in data or [] if isinstance(d, dict)]
