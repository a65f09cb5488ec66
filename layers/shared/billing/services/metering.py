"""Report metered usage to Stripe Billing Meters, off the request path, and compare Stripe's
totals with ours.

Reporting: each pass takes the usage not reported yet (oldest first), finds each one's
Stripe customer (the subscription that meters it), sends one meter event per usage with its
identifier, and marks it reported. Stripe not answering (or rate limiting) leaves the usage
to be tried again after a growing delay; Stripe refusing it, no customer to bill, or
MAX_REPORT_ATTEMPTS failures park it in the dead-letter queue (sent first, then marked: a
crash in between parks it twice, never loses it). A usage sent but not marked (a crash) is
sent again by the next pass: Stripe counts its identifier once.

Reconciliation: per active meter, the usage we recorded over whole UTC days against Stripe's
daily event summaries, per customer; every day that differs is drift in the run's report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from billing.domain.metering import (
    MAX_REPORT_ATTEMPTS,
    MeterDrift,
    MeteredUsage,
    ReportOutcome,
    daily_totals,
    drift,
    retry_at,
    whole_days,
)
from billing.domain.usage import meter_identifier
from billing.errors import DependencyUnavailableError, PaymentProviderRejectedError
from billing.observability import logger
from billing.ports.metering import MeterDeadLetters, MeteredUsageStore, MeterEvents

REPORT_BATCH = 100  # per shard of the unreported index, per pass


def report_metered_usage(
    store: MeteredUsageStore,
    stripe: MeterEvents,
    dead_letters: MeterDeadLetters,
    *,
    now: datetime,
    has_time: Callable[[], bool] = lambda: True,
    batch: int = REPORT_BATCH,
) -> ReportOutcome:
    """One pass over what waits; stops early when ``has_time`` says so (the rest waits for
    the next pass)."""
    waiting = store.unreported(batch)
    due = [usage for usage in waiting if usage.due(now)]
    customers = store.customers_of(u.source_id for u in due if u.source_id)
    reported = retried = parked = 0
    for usage in due:
        if not has_time():
            break
        customer = customers.get(usage.source_id or "")
        if customer is None:
            _park(store, dead_letters, usage, "no Stripe customer: the metered subscription "
                  f"{usage.source_id} is not known", now)  # fmt: skip
            parked += 1
            continue
        try:
            stripe.send(
                usage.meter,
                customer,
                usage.quantity,
                meter_identifier(usage.key),
                int(usage.recorded_at.timestamp()),
            )
        except PaymentProviderRejectedError as exc:
            _park(store, dead_letters, usage, f"Stripe refused it: {exc}", now)
            parked += 1
        except DependencyUnavailableError as exc:
            tried = replace(usage, attempts=usage.attempts + 1)
            if tried.attempts >= MAX_REPORT_ATTEMPTS:
                _park(store, dead_letters, tried, f"Stripe kept failing: {exc}", now)
                parked += 1
            else:
                store.mark_retry(usage, str(exc), retry_at(tried.attempts, now))
                retried += 1
        else:
            store.mark_reported(usage, customer, now)
            reported += 1
    outcome = ReportOutcome(reported, retried, parked, len(waiting) - len(due))
    if waiting:
        logger.info("metered usage reported", extra=outcome.__dict__)
    return outcome


def _park(
    store: MeteredUsageStore,
    dead_letters: MeterDeadLetters,
    usage: MeteredUsage,
    reason: str,
    now: datetime,
) -> None:
    logger.warning(
        "metered usage dead-lettered",
        extra={"record_key": usage.key, "meter": usage.meter, "reason": reason},
    )
    dead_letters.park(usage, reason)
    store.mark_dead_lettered(usage, reason, now)


def compare_meters(
    store: MeteredUsageStore,
    stripe: MeterEvents,
    *,
    since: datetime,
    until: datetime,
) -> list[MeterDrift]:
    """Every (meter, customer, UTC day) of the whole days in [since, until) where the usage
    recorded and Stripe's total differ. Customers are those our usage names (Stripe lists no
    customers per meter); usage not reported yet is resolved to its subscription's customer
    and shows as ``pending``."""
    window = whole_days(since, until)
    if window is None:
        return []
    start, end = window
    found: list[MeterDrift] = []
    for meter, meter_id in sorted(stripe.active_meters().items()):
        usages = store.of_meter(meter, start, end)
        unresolved = {u.source_id for u in usages if u.customer_id is None and u.source_id}
        customers = store.customers_of(unresolved)
        resolved = [
            u if u.customer_id else replace(u, customer_id=customers.get(u.source_id or ""))
            for u in usages
        ]
        ours = daily_totals(resolved)
        for customer in sorted({customer for customer, _ in ours}):
            by_day = {day: totals for (c, day), totals in ours.items() if c == customer}
            theirs = stripe.daily_totals(meter_id, customer, start, end)
            found.extend(drift(meter, customer, by_day, theirs))
    return found
