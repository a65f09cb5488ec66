"""Reporting metered usage to Stripe's meters off the request path, with retries and a
dead-letter queue, and comparing Stripe's totals with ours."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from billing import wiring
from billing.domain.allowances import FeatureLimit
from billing.domain.metering import MAX_REPORT_ATTEMPTS, MeteredUsage
from billing.domain.tenancy import Price
from billing.domain.usage import UsageRequest, meter_identifier
from billing.errors import PaymentProviderRejectedError, PaymentProviderUnavailableError
from billing.services import engine, tenancy
from billing.services.metering import compare_meters, report_metered_usage
from billing.services.usage import record_usage
from tests.support import stripe_events as se
from tests.support.fakes import FakeMeterDeadLetters, FakeMeteredUsageStore, FakeMeterEvents

NOW = datetime(2026, 12, 8, 12, tzinfo=UTC)
UNAVAILABLE = PaymentProviderUnavailableError("Stripe create meter event: APIError 500", 502)


def usage(key: str = "1#req_1", quantity: int = 5, **changes: object) -> MeteredUsage:
    fields: dict[str, object] = {
        "key": key,
        "project_id": "1",
        "user_id": "user_42",
        "feature_code": "api_calls",
        "meter": "api_requests",
        "quantity": quantity,
        "recorded_at": NOW - timedelta(minutes=3),
        "source_id": "sub_1",
        **changes,
    }
    return MeteredUsage(**fields)  # type: ignore[arg-type]


@pytest.fixture
def store() -> FakeMeteredUsageStore:
    return FakeMeteredUsageStore(customers={"sub_1": "cus_1"})


def report(
    store: FakeMeteredUsageStore, stripe: FakeMeterEvents, parked: FakeMeterDeadLetters
) -> tuple[int, int, int]:
    outcome = report_metered_usage(store, stripe, parked, now=NOW)
    return outcome.reported, outcome.retried, outcome.dead_lettered


def test_waiting_usage_is_sent_once_with_its_identifier_and_marked_reported(
    store: FakeMeteredUsageStore,
) -> None:
    store.add(usage())
    stripe, parked = FakeMeterEvents(), FakeMeterDeadLetters()
    assert report(store, stripe, parked) == (1, 0, 0)
    recorded_at = int((NOW - timedelta(minutes=3)).timestamp())
    assert stripe.sent == {meter_identifier("1#req_1"): ("api_requests", "cus_1", 5, recorded_at)}
    assert store.usages["1#req_1"].reported
    assert report(store, stripe, parked) == (0, 0, 0)  # nothing waits any more


def test_a_report_sent_but_not_marked_is_sent_again_and_counted_once(
    store: FakeMeteredUsageStore,
) -> None:
    store.add(usage())
    stripe, parked = FakeMeterEvents(), FakeMeterDeadLetters()
    lost_mark = replace(store, marks=[])
    lost_mark.mark_reported = lambda *_: None  # type: ignore[method-assign]
    report(lost_mark, stripe, parked)  # a crash between the send and the mark
    report(store, stripe, parked)
    assert stripe.calls == 2
    assert len(stripe.sent) == 1  # Stripe counts the identifier once


def test_stripe_failing_is_tried_again_later_then_dead_lettered(
    store: FakeMeteredUsageStore,
) -> None:
    store.add(usage())
    stripe, parked = FakeMeterEvents(fail=[UNAVAILABLE]), FakeMeterDeadLetters()
    assert report(store, stripe, parked) == (0, 1, 0)
    waiting = store.usages["1#req_1"]
    assert waiting.attempts == 1 and waiting.next_attempt_at == NOW + timedelta(minutes=1)
    assert report_metered_usage(store, stripe, parked, now=NOW).not_due == 1  # not yet
    store.add(replace(waiting, attempts=MAX_REPORT_ATTEMPTS - 1, next_attempt_at=None))
    stripe.fail = [UNAVAILABLE]
    assert report(store, stripe, parked) == (0, 0, 1)
    assert parked.parked == [("1#req_1", f"Stripe kept failing: {UNAVAILABLE}")]


def test_what_stripe_refuses_or_cannot_bill_is_dead_lettered_at_once(
    store: FakeMeteredUsageStore,
) -> None:
    store.add(usage("1#refused"))
    store.add(usage("1#nobody", source_id="sub_unknown"))
    refused = PaymentProviderRejectedError("No such customer: 'cus_1'")
    stripe, parked = FakeMeterEvents(fail=[refused]), FakeMeterDeadLetters()
    assert report(store, stripe, parked) == (0, 0, 2)
    assert dict(parked.parked) == {
        "1#refused": "Stripe refused it: No such customer: 'cus_1'",
        "1#nobody": "no Stripe customer: the metered subscription sub_unknown is not known",
    }
    assert ("1#refused", "dead_lettered") in store.marks
    assert not stripe.sent


def test_a_pass_out_of_time_leaves_the_rest_for_the_next(store: FakeMeteredUsageStore) -> None:
    store.add(usage("1#a"))
    store.add(usage("1#b"))
    stripe, parked = FakeMeterEvents(), FakeMeterDeadLetters()
    budget = iter([True, False])
    outcome = report_metered_usage(store, stripe, parked, now=NOW, has_time=lambda: next(budget))
    assert outcome.reported == 1
    assert len(store.unreported(10)) == 1


def test_reconciliation_reports_each_day_where_stripe_and_we_differ(
    store: FakeMeteredUsageStore,
) -> None:
    yesterday = NOW - timedelta(days=1)
    stripe, parked = FakeMeterEvents(), FakeMeterDeadLetters()
    store.add(usage("1#a", 5, recorded_at=yesterday))
    store.add(usage("1#b", 7, recorded_at=yesterday))
    report(store, stripe, parked)
    assert compare_meters(store, stripe, since=NOW - timedelta(days=3), until=NOW) == []
    store.add(usage("1#c", 4, recorded_at=yesterday))  # never reported (say, dead-lettered)
    (drift,) = compare_meters(store, stripe, since=NOW - timedelta(days=3), until=NOW)
    day = yesterday.replace(hour=0)
    assert (drift.meter, drift.customer_id, drift.day) == ("api_requests", "cus_1", day)
    assert (drift.ours, drift.stripe, drift.pending) == (16, 12, 4)
    today = usage("1#d", 1, recorded_at=NOW)  # today is not over: not compared
    store.add(today)
    assert len(compare_meters(store, stripe, since=NOW - timedelta(days=3), until=NOW)) == 1


def test_metered_usage_recorded_by_the_route_waits_in_the_index_until_reported(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On moto: a usage of a metered feature lands in the unreported index with its
    subscription, is reported to the meter under the subscription's customer, and leaves the
    index; a feature without a meter never enters it."""
    monkeypatch.setenv("METER_REPORT_DLQ_URL", aws["MeterReportDeadLetterQueue"])
    projects, prices = wiring.project_store(), wiring.price_store()
    tenancy.create_project(projects, name="p", project_id=1, now=NOW)
    limits = (
        FeatureLimit("api_calls", 100, "billing_period", "api_requests"),
        FeatureLimit("exports", 10, "month"),
    )
    price = Price("price_api", "1", ("api_calls", "exports"), 900, "usd", "month", limits=limits)
    tenancy.add_price(projects, prices, price)
    start = int((NOW - timedelta(days=2)).timestamp())
    subscription = se.subscription(prices=("price_api",), start=start, customer="cus_9")
    created = se.event("customer.subscription.created", subscription, start)
    engine.apply_event(created, wiring.billing_ledger(), NOW)
    for feature, key in (("api_calls", "req_1"), ("exports", "req_2")):
        record_usage(wiring.usage_store(), UsageRequest("1", "user_42", feature, 3, key), now=NOW)
    store = wiring.metered_usage_store()
    (waiting,) = store.unreported(10)
    assert (waiting.key, waiting.source_id, waiting.meter) == ("1#req_1", "sub_1", "api_requests")
    stripe = FakeMeterEvents()
    assert report_metered_usage(store, stripe, FakeMeterDeadLetters(), now=NOW).reported == 1
    assert store.unreported(10) == []
    (sent,) = stripe.sent.values()
    assert sent[:3] == ("api_requests", "cus_9", 3)
    (kept,) = store.of_meter("api_requests", NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert (kept.reported, kept.customer_id) == (True, "cus_9")


def test_a_refused_report_lands_in_the_dead_letter_queue_with_why(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On moto, with the real store and queue: a usage Stripe refuses leaves the unreported
    index, is marked dead-lettered, and the queue holds one message naming it and why."""
    monkeypatch.setenv("METER_REPORT_DLQ_URL", aws["MeterReportDeadLetterQueue"])
    projects, prices = wiring.project_store(), wiring.price_store()
    tenancy.create_project(projects, name="p", project_id=1, now=NOW)
    limit = FeatureLimit("api_calls", 100, "billing_period", "api_requests")
    price = Price("price_api", "1", ("api_calls",), 900, "usd", "month", limits=(limit,))
    tenancy.add_price(projects, prices, price)
    start = int((NOW - timedelta(days=2)).timestamp())
    subscription = se.subscription(prices=("price_api",), start=start, customer="cus_9")
    engine.apply_event(
        se.event("customer.subscription.created", subscription, start), wiring.billing_ledger(), NOW
    )
    record_usage(wiring.usage_store(), UsageRequest("1", "user_42", "api_calls", 4, "k1"), now=NOW)
    refusal = PaymentProviderRejectedError("Stripe create meter event: no such meter")
    stripe = FakeMeterEvents(fail=[refusal])

    outcome = report_metered_usage(
        wiring.metered_usage_store(), stripe, wiring.meter_dead_letters(), now=NOW
    )

    assert (outcome.reported, outcome.dead_lettered) == (0, 1)
    assert wiring.metered_usage_store().unreported(10) == []
    sqs = boto3.client("sqs", region_name="us-east-1")
    messages = sqs.receive_message(
        QueueUrl=aws["MeterReportDeadLetterQueue"], MaxNumberOfMessages=10
    )["Messages"]
    (body,) = [json.loads(m["Body"]) for m in messages]
    assert (body["record_key"], body["meter"], body["quantity"]) == ("1#k1", "api_requests", 4)
    assert "no such meter" in body["reason"]
