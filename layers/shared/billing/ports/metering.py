"""Metered billing's ports: the usage to report, Stripe's meters, and where refused usage
is parked."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from billing.domain.metering import MeteredUsage


class MeteredUsageStore(Protocol):
    """Metered usage and its report to Stripe (billing.adapters.dynamo.metering)."""

    def unreported(self, limit: int) -> list[MeteredUsage]:
        """Usage not reported yet (nor dead-lettered), oldest first."""

    def customers_of(self, subscription_ids: Iterable[str]) -> dict[str, str]:
        """The Stripe customer of each known subscription. One read."""

    def mark_reported(self, usage: MeteredUsage, customer_id: str, now: datetime) -> None: ...

    def mark_retry(self, usage: MeteredUsage, error: str, retry_at: datetime) -> None: ...

    def mark_dead_lettered(self, usage: MeteredUsage, error: str, now: datetime) -> None: ...

    def of_meter(self, meter: str, start: datetime, end: datetime) -> list[MeteredUsage]:
        """Every usage recorded for the meter in [start, end), reported or not."""


class MeterEvents(Protocol):
    """Stripe Billing Meters (billing.adapters.stripe_meters)."""

    def send(
        self, meter: str, customer_id: str, value: int, identifier: str, timestamp: int
    ) -> None:
        """One meter event; Stripe counts an identifier once."""

    def active_meters(self) -> dict[str, str]:
        """event_name -> meter id."""

    def daily_totals(
        self, meter_id: str, customer_id: str, start: datetime, end: datetime
    ) -> dict[datetime, int]:
        """UTC day -> the meter's total for the customer, over [start, end)."""


class MeterDeadLetters(Protocol):
    def park(self, usage: MeteredUsage, reason: str) -> None:
        """Keep a usage Stripe would not take, and why, for an operator."""
