"""The service's meter adapter (billing.adapters.stripe_meters) through the real SDK against the
stand-in: reporting sends each usage once under its identifier, what Stripe refuses is
dead-lettered, and reconciliation finds the drift between Stripe's totals and ours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import stripe

from billing.adapters.stripe_meters import StripeMeters
from billing.domain.metering import MeteredUsage
from billing.domain.usage import meter_identifier
from billing.services.metering import compare_meters, report_metered_usage
from tests.support.fakes import FakeMeterDeadLetters, FakeMeteredUsageStore
from tests.unit.devstack.stripe_standin.conftest import START, Clock, Harness
from tests.unit.devstack.stripe_standin.test_meters import customer, meter, report, total

DAY = 86_400
NOW = datetime.fromtimestamp(START + 2 * DAY, UTC)  # 2026-01-03T00:00:00Z


def usage(key: str, quantity: int, at: datetime, source_id: str = "sub_1") -> MeteredUsage:
    return MeteredUsage(
        key=key,
        project_id="1",
        user_id="user_42",
        feature_code="api_calls",
        meter="api_requests",
        quantity=quantity,
        recorded_at=at,
        source_id=source_id,
    )


def test_usage_is_reported_once_per_identifier_and_refusals_are_dead_lettered(
    harness: Harness, client: stripe.StripeClient, clock: Clock
) -> None:
    clock.now = NOW.timestamp()
    meter_id = meter(client)
    alice = customer(client)
    store = FakeMeteredUsageStore(customers={"sub_1": alice, "sub_gone": "cus_unknown"})
    yesterday = NOW - timedelta(hours=12)
    store.add(usage("1#req_1", 5, yesterday))
    store.add(usage("1#req_2", 7, yesterday + timedelta(minutes=1)))
    store.add(usage("1#req_3", 9, yesterday, source_id="sub_gone"))
    adapter, parked = StripeMeters(client), FakeMeterDeadLetters()

    outcome = report_metered_usage(store, adapter, parked, now=NOW)

    assert (outcome.reported, outcome.retried, outcome.dead_lettered) == (2, 0, 1)
    ((parked_key, reason),) = parked.parked
    assert parked_key == "1#req_3"
    assert "refused" in reason
    assert adapter.active_meters() == {"api_requests": meter_id}
    sent = [(u.key, u.quantity, u.recorded_at) for u in store.usages.values() if u.reported]
    for key, quantity, at in sent:  # a report retried after a lost answer counts nothing
        adapter.send("api_requests", alice, quantity, meter_identifier(key), int(at.timestamp()))
    start = int((NOW - timedelta(days=1)).timestamp())
    assert total(client, meter_id, alice, start, int(NOW.timestamp())) == 12


def test_reconciliation_reports_the_days_stripe_and_we_differ(
    harness: Harness, client: stripe.StripeClient, clock: Clock
) -> None:
    clock.now = NOW.timestamp()
    meter(client)
    alice = customer(client)
    store = FakeMeteredUsageStore(customers={"sub_1": alice})
    day_one, day_two = NOW - timedelta(days=2), NOW - timedelta(days=1)
    store.add(usage("1#a", 4, day_one + timedelta(hours=3)))
    store.add(usage("1#b", 6, day_two + timedelta(hours=3)))
    adapter = StripeMeters(client)
    assert report_metered_usage(store, adapter, FakeMeterDeadLetters(), now=NOW).reported == 2
    # Stripe counts 3 more on day two than we recorded (e.g. sent by another system).
    report(client, alice, 3, "elsewhere_1", int((day_two + timedelta(hours=5)).timestamp()))

    found = compare_meters(store, adapter, since=day_one, until=NOW)

    ((drift),) = found
    assert (drift.meter, drift.customer_id, drift.day) == ("api_requests", alice, day_two)
    assert (drift.ours, drift.stripe, drift.pending) == (6, 9, 0)
