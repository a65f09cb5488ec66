"""Billing meters through the real SDK: meters, meter events counted once per identifier,
and event summaries per customer over a window, in Stripe's shapes."""

from __future__ import annotations

import pytest
import stripe

from tests.unit.devstack.stripe_standin.conftest import START, Clock, Harness

HOUR = 3600


def meter(client: stripe.StripeClient, event_name: str = "api_requests") -> str:
    created = client.v1.billing.meters.create(
        params={
            "display_name": "API requests",
            "event_name": event_name,
            "default_aggregation": {"formula": "sum"},
        }
    )
    return created.id


def customer(client: stripe.StripeClient) -> str:
    return client.v1.customers.create(params={"email": "u@example.com"}).id


def report(
    client: stripe.StripeClient, customer_id: str, value: int, identifier: str, at: int
) -> stripe.billing.MeterEvent:
    return client.v1.billing.meter_events.create(
        params={
            "event_name": "api_requests",
            "payload": {"stripe_customer_id": customer_id, "value": str(value)},
            "identifier": identifier,
            "timestamp": at,
        }
    )


def total(
    client: stripe.StripeClient, meter_id: str, customer_id: str, start: int, end: int
) -> int:
    summaries = client.v1.billing.meters.event_summaries.list(
        meter_id, params={"customer": customer_id, "start_time": start, "end_time": end}
    )
    (summary,) = summaries.data
    assert (summary.start_time, summary.end_time, summary.meter) == (start, end, meter_id)
    return int(summary.aggregated_value)


def test_a_meter_sums_its_events_per_customer_over_a_window(
    harness: Harness, client: stripe.StripeClient, clock: Clock
) -> None:
    clock.now = START + 2 * HOUR
    meter_id = meter(client)
    alice, bob = customer(client), customer(client)
    event = report(client, alice, 25, "u_1", START + 60)
    report(client, alice, 5, "u_2", START + HOUR + 5)
    report(client, bob, 7, "u_3", START + 120)
    assert event.object == "billing.meter_event"
    assert (event.identifier, event.payload["value"], event.timestamp) == ("u_1", "25", START + 60)
    assert total(client, meter_id, alice, START, START + 2 * HOUR) == 30
    assert total(client, meter_id, alice, START, START + HOUR) == 25
    assert total(client, meter_id, bob, START, START + 2 * HOUR) == 7


def test_the_same_identifier_counts_once_and_answers_the_first_event(
    harness: Harness, client: stripe.StripeClient, clock: Clock
) -> None:
    clock.now = START + HOUR
    meter_id = meter(client)
    alice = customer(client)
    first = report(client, alice, 25, "u_1", START + 60)
    again = report(client, alice, 25, "u_1", START + 60)
    assert again.to_dict() == first.to_dict()
    assert total(client, meter_id, alice, START, START + HOUR) == 25


def test_summaries_per_hour_are_newest_first(
    harness: Harness, client: stripe.StripeClient, clock: Clock
) -> None:
    clock.now = START + 3 * HOUR
    meter_id = meter(client)
    alice = customer(client)
    report(client, alice, 1, "a", START + 10)
    report(client, alice, 2, "b", START + 2 * HOUR + 10)
    found = client.v1.billing.meters.event_summaries.list(
        meter_id,
        params={
            "customer": alice,
            "start_time": START,
            "end_time": START + 3 * HOUR,
            "value_grouping_window": "hour",
        },
    )
    assert [(s.start_time, s.aggregated_value) for s in found.data] == [
        (START + 2 * HOUR, 2),
        (START + HOUR, 0),
        (START, 1),
    ]


def test_meters_are_listed_and_retrieved(harness: Harness, client: stripe.StripeClient) -> None:
    meter_id = meter(client)
    listed = client.v1.billing.meters.list(params={"status": "active"})
    assert [m.id for m in listed.data] == [meter_id]
    got = client.v1.billing.meters.retrieve(meter_id)
    assert (got.event_name, got.default_aggregation.formula) == ("api_requests", "sum")
    assert got.customer_mapping.event_payload_key == "stripe_customer_id"


ALICE = "{alice}"  # replaced by the test's customer


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"event_name": "nope"}, "event_name"),
        ({"payload": {"value": "3"}}, "payload[stripe_customer_id]"),
        (
            {"payload": {"stripe_customer_id": "cus_missing", "value": "3"}},
            "payload[stripe_customer_id]",
        ),
        ({"payload": {"stripe_customer_id": ALICE, "value": "x"}}, "payload[value]"),
        ({"timestamp": START - 36 * 86_400}, "timestamp"),
        ({"identifier": "i" * 101}, "identifier"),
    ],
)
def test_an_event_stripe_would_refuse_is_refused_and_counts_nothing(
    harness: Harness,
    client: stripe.StripeClient,
    clock: Clock,
    changes: dict[str, object],
    param: str,
) -> None:
    clock.now = START + HOUR
    meter_id = meter(client)
    alice = customer(client)
    sent: dict[str, object] = {
        "event_name": "api_requests",
        "payload": {"stripe_customer_id": alice, "value": "3"},
        "identifier": "u_1",
        "timestamp": START + 60,
    }
    for key, value in changes.items():
        sent[key] = (
            {k: alice if v == ALICE else v for k, v in value.items()}
            if isinstance(value, dict)
            else value
        )
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.billing.meter_events.create(params=sent)  # type: ignore[arg-type]
    assert refused.value.param == param
    assert total(client, meter_id, alice, START, START + HOUR) == 0


def test_summary_windows_must_sit_on_minutes(harness: Harness, client: stripe.StripeClient) -> None:
    meter_id = meter(client)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.billing.meters.event_summaries.list(
            meter_id, params={"customer": "cus_x", "start_time": START + 1, "end_time": START + 60}
        )
    assert refused.value.param == "start_time"
