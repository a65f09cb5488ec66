"""Stripe Billing Meters: meter events sent (off the request path), meters and their event
summaries read (reconciliation).

A meter event carries the usage's ``identifier`` (Stripe counts one identifier once) and the
same value as its ``Idempotency-Key``, so a report retried after a lost answer is answered
again rather than counted again, whichever of the two Stripe checks first. Meters are
expected with Stripe's default payload keys: ``stripe_customer_id`` and ``value``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import stripe
from stripe.params.billing import (
    MeterEventCreateParams,
    MeterEventSummaryListParams,
    MeterListParams,
)

from billing.adapters.stripe_gateway import stripe_errors

DAY_SECONDS = 86_400


class StripeMeters:
    def __init__(self, client: stripe.StripeClient, pace: Callable[[], None] | None = None) -> None:
        self._client = client
        self._pace = pace  # reconciliation's: under Stripe's rate limit

    def _paced(self) -> None:
        if self._pace is not None:
            self._pace()

    def send(
        self, meter: str, customer_id: str, value: int, identifier: str, timestamp: int
    ) -> None:
        """One meter event; PaymentProviderRejectedError when Stripe refuses it (a meter or a
        customer it does not know, a time too old), PaymentProviderUnavailableError when it
        does not answer."""
        params: MeterEventCreateParams = {
            "event_name": meter,
            "payload": {"stripe_customer_id": customer_id, "value": str(value)},
            "identifier": identifier,
            "timestamp": timestamp,
        }
        self._paced()
        with stripe_errors("create meter event"):
            self._client.v1.billing.meter_events.create(
                params, options={"idempotency_key": identifier}
            )

    def active_meters(self) -> dict[str, str]:
        """event_name -> meter id, of every active meter."""
        found: dict[str, str] = {}
        params: MeterListParams = {"status": "active", "limit": 100}
        while True:
            self._paced()
            with stripe_errors("list meters"):
                page = self._client.v1.billing.meters.list(params)
            found.update((meter.event_name, meter.id) for meter in page.data)
            if not page.has_more or not page.data:
                return found
            params = {**params, "starting_after": page.data[-1].id}

    def daily_totals(
        self, meter_id: str, customer_id: str, start: datetime, end: datetime
    ) -> dict[datetime, int]:
        """UTC day -> the meter's total for the customer, over the whole days [start, end)."""
        params: MeterEventSummaryListParams = {
            "customer": customer_id,
            "start_time": int(start.timestamp()),
            "end_time": int(end.timestamp()),
            "value_grouping_window": "day",
            "limit": 100,
        }
        totals: dict[datetime, int] = {}
        while True:
            self._paced()
            with stripe_errors("list meter event summaries"):
                page = self._client.v1.billing.meters.event_summaries.list(meter_id, params)
            for summary in page.data:
                day = datetime.fromtimestamp(summary.start_time, UTC)
                totals[day] = totals.get(day, 0) + round(summary.aggregated_value)
            if not page.has_more or not page.data:
                return totals
            params = {**params, "starting_after": page.data[-1].id}
