"""Metered usage and Stripe Billing Meters: what waits to be reported, how a failed report is
tried again, and how our totals are compared with Stripe's.

A usage of a feature mapped to a meter is recorded with the request (billing.domain.usage);
a scheduled function reports it to Stripe as a meter event whose ``identifier`` is derived
from the usage (Stripe counts an identifier once), then marks it reported. Stripe failing is
tried again later with a growing delay; Stripe refusing (an unknown customer, a timestamp
too old...) or failing MAX_REPORT_ATTEMPTS times parks it in a dead-letter queue.
Reconciliation compares, per meter, customer and UTC day, the usage we recorded with Stripe's
event summaries, and reports any drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MAX_REPORT_ATTEMPTS = 8
FIRST_RETRY_DELAY = timedelta(minutes=1)
LONGEST_RETRY_DELAY = timedelta(hours=2)
# A reported usage is kept this long (reconciliation compares the last days with Stripe's).
REPORTED_RETENTION = timedelta(days=40)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class MeteredUsage:
    """A recorded usage of a metered feature, as its report to Stripe needs it."""

    key: str  # the usage's record key: <project>#<idempotency key>
    project_id: str
    user_id: str
    feature_code: str
    meter: str  # the Stripe meter's event_name
    quantity: int
    recorded_at: datetime
    source_id: str | None  # the subscription whose customer Stripe bills
    attempts: int = 0
    next_attempt_at: datetime | None = None
    customer_id: str | None = None  # once reported
    reported: bool = False
    dead_lettered: bool = False

    def due(self, now: datetime) -> bool:
        return self.next_attempt_at is None or self.next_attempt_at <= now


def retry_at(attempts: int, now: datetime) -> datetime:
    """When a report that failed ``attempts`` times is tried again: 1, 2, 4... minutes, at
    most LONGEST_RETRY_DELAY (eight attempts span about two hours)."""
    delay: timedelta = min(FIRST_RETRY_DELAY * 2 ** max(0, attempts - 1), LONGEST_RETRY_DELAY)
    return now + delay


@dataclass(frozen=True)
class ReportOutcome:
    """What one reporting pass did."""

    reported: int = 0
    retried: int = 0
    dead_lettered: int = 0
    not_due: int = 0


# ---------------------------------------------------------------------- reconciliation
def day_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def whole_days(since: datetime, until: datetime) -> tuple[datetime, datetime] | None:
    """The UTC days [since's day, until's day) that are over by ``until``: the window
    compared with Stripe's daily summaries (None when not one whole day)."""
    start, end = day_of(since), day_of(until)
    return (start, end) if end > start else None


@dataclass(frozen=True)
class MeterDrift:
    """One meter, customer and UTC day where our usage and Stripe's total differ; ``pending``
    is how much of ours is not reported yet (still to be sent, or dead-lettered)."""

    meter: str
    customer_id: str
    day: datetime
    ours: int
    stripe: int
    pending: int = 0


def daily_totals(usages: Iterable[MeteredUsage]) -> dict[tuple[str, datetime], tuple[int, int]]:
    """(customer, UTC day) -> (quantity recorded, quantity not reported) of usages whose
    customer is known."""
    totals: dict[tuple[str, datetime], tuple[int, int]] = {}
    for usage in usages:
        if usage.customer_id is None:
            continue
        key = (usage.customer_id, day_of(usage.recorded_at))
        ours, pending = totals.get(key, (0, 0))
        totals[key] = (ours + usage.quantity, pending + (0 if usage.reported else usage.quantity))
    return totals


def drift(
    meter: str,
    customer_id: str,
    ours: Mapping[datetime, tuple[int, int]],
    theirs: Mapping[datetime, int],
) -> list[MeterDrift]:
    """The days where the two totals differ, oldest first."""
    found = []
    for day in sorted(set(ours) | set(theirs)):
        recorded, pending = ours.get(day, (0, 0))
        if recorded != theirs.get(day, 0):
            found.append(MeterDrift(meter, customer_id, day, recorded, theirs.get(day, 0), pending))
    return found
