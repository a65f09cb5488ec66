"""Deliveries in an order a test chooses: held events wait, ``/_standin/events/deliver`` sends
exactly the ones named, in that order, now (again: a duplicate), and releasing sends the rest
in emission order."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import pytest
import stripe

from billing_devstack.stripe_standin import StripeStandIn, WebhookSender
from tests.unit.devstack.stripe_standin.conftest import (
    HOOK_URL,
    SECRET,
    SUCCESS_URL,
    Clock,
    Harness,
)

CHECKOUT = (
    "mode=subscription&line_items[0][price]=price_123&line_items[0][quantity]=1"
    f"&success_url={SUCCESS_URL}"
)


def hold(harness: Harness, held: bool) -> Any:
    status, _, answer = harness.call("POST", "/_standin/webhooks", json.dumps({"held": held}))
    assert status == 200, answer
    return answer


def deliver(harness: Harness, ids: list[str]) -> tuple[int, Any]:
    status, _, answer = harness.call(
        "POST", "/_standin/events/deliver", json.dumps({"ids": ids}), key=None
    )
    return status, answer


def paid_while_held(harness: Harness) -> dict[str, str]:
    """Pay a subscription checkout while deliveries are held: event type -> id."""
    hold(harness, True)
    session = harness.call("POST", "/v1/checkout/sessions", CHECKOUT)[2]
    harness.standin.pay_checkout(session["id"])
    return {event["type"]: event["id"] for event in harness.standin.emitted()}


def reports(harness: Harness) -> dict[str, dict[str, Any]]:
    data = harness.call("GET", "/_standin/events", key=None)[2]["data"]
    return {report["type"]: report["delivery"] for report in data}


def test_held_events_are_recorded_and_wait(harness: Harness) -> None:
    ids = paid_while_held(harness)
    assert harness.deliver() == []
    assert len(ids) == 6
    assert {delivery["status"] for delivery in reports(harness).values()} == {"held"}
    assert all(
        event["pending_webhooks"] == 1 for event in harness.call("GET", "/v1/events")[2]["data"]
    )
    assert harness.call("GET", "/_standin/webhooks", key=None)[2] == {"paused": False, "held": True}


def test_deliver_sends_exactly_the_named_events_in_that_order(harness: Harness) -> None:
    ids = paid_while_held(harness)
    harness.clock.now += 42
    wanted = [ids["invoice.paid"], ids["customer.subscription.created"]]
    status, answer = deliver(harness, wanted)

    assert status == 200
    assert [(row["id"], row["status"], row["http_status"]) for row in answer["data"]] == [
        (wanted[0], "delivered", 200),
        (wanted[1], "delivered", 200),
    ]
    assert harness.outbox.types() == ["invoice.paid", "customer.subscription.created"]
    for _, body, headers in harness.outbox.posts:  # signed when sent, not when emitted
        assert headers["Stripe-Signature"].startswith(f"t={int(harness.clock.now)},v1=")
        stripe.Webhook.construct_event(
            body.decode(), headers["Stripe-Signature"], SECRET, tolerance=10**10
        )
    assert harness.deliver() == []  # the others still wait
    assert reports(harness)["invoice.paid"]["status"] == "delivered"
    assert reports(harness)["checkout.session.completed"]["status"] == "held"


def test_an_event_sent_again_is_a_duplicate_with_the_same_body(harness: Harness) -> None:
    ids = paid_while_held(harness)
    deliver(harness, [ids["invoice.paid"]])
    status, answer = deliver(harness, [ids["invoice.paid"], ids["invoice.paid"]])
    assert status == 200
    assert [row["status"] for row in answer["data"]] == ["delivered", "delivered"]
    bodies = [body for _, body, _ in harness.outbox.posts]
    assert len(bodies) == 3
    assert len(set(bodies)) == 1
    assert reports(harness)["invoice.paid"]["attempts"] == 3


def test_a_refused_delivery_is_failed_once_without_retry(harness: Harness) -> None:
    ids = paid_while_held(harness)
    harness.outbox.answers = [500]
    status, answer = deliver(harness, [ids["customer.created"]])
    assert status == 200
    assert [(row["status"], row["http_status"]) for row in answer["data"]] == [("failed", 500)]
    assert len(harness.outbox.posts) == 1
    assert harness.deliver() == []


def test_releasing_sends_the_rest_in_emission_order(harness: Harness) -> None:
    ids = paid_while_held(harness)
    deliver(harness, [ids["invoice.paid"]])
    assert hold(harness, False) == {"paused": False, "held": False}
    assert harness.deliver() == [
        "customer.created",
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.payment_succeeded",
        "payment_intent.succeeded",
    ]
    harness.call("POST", "/v1/customers", "email=after@x.io")
    assert harness.deliver() == ["customer.created"]  # no longer held


def test_releasing_while_paused_drops_what_was_held(harness: Harness) -> None:
    ids = paid_while_held(harness)
    harness.standin.pause_webhooks(True)
    hold(harness, False)
    assert harness.deliver() == []
    assert reports(harness)["invoice.paid"]["status"] == "dropped"
    assert deliver(harness, [ids["invoice.paid"]])[0] == 200  # a test may still send it


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ('{"ids": ["evt_missing"]}', "ids"),
        ('{"ids": []}', "ids"),
        ("{}", "ids"),
        ('{"ids": "evt_1"}', "ids"),
        ('{"ids": [1]}', "ids"),
        ('{"ids": [], "order": 1}', "order"),
    ],
)
def test_deliver_refuses_what_names_no_event_and_takes_nothing(
    harness: Harness, body: str, param: str
) -> None:
    ids = paid_while_held(harness)
    if "evt_missing" in body:
        body = json.dumps({"ids": [ids["invoice.paid"], "evt_missing"]})
    status, _, answer = harness.call("POST", "/_standin/events/deliver", body, key=None)
    assert (status, answer["error"]["param"]) == (400, param)
    assert harness.outbox.posts == []
    assert reports(harness)["invoice.paid"]["status"] == "held"


def test_deliver_needs_a_webhook_url() -> None:
    standin = StripeStandIn()
    standin.handle("POST", "/v1/customers", {"Authorization": "Bearer sk_test_x"}, b"")
    [event] = standin.emitted()
    status, _, body = standin.handle(
        "POST", "/_standin/events/deliver", {}, json.dumps({"ids": [event["id"]]}).encode()
    )
    assert (status, json.loads(body)["error"]["param"]) == (400, "ids")


def test_a_receiver_may_call_the_stand_in_back_while_it_delivers(clock: Clock) -> None:
    """Delivery runs outside the stand-in's lock: a receiver asking Stripe for the truth from
    another thread (as the service's worker does) is answered before the delivery ends."""
    seen: list[int] = []
    standin: StripeStandIn

    def receiver(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        event_id = json.loads(body)["id"]

        def ask() -> None:
            answer = standin.handle(
                "GET", f"/v1/events/{event_id}", {"Authorization": "Bearer sk_test_x"}
            )
            seen.append(answer.status)

        worker = threading.Thread(target=ask)
        worker.start()
        worker.join(5)
        return 200 if seen else 503

    sender = WebhookSender(HOOK_URL, [SECRET], transport=receiver, backoff=0.0, clock=clock)
    standin = StripeStandIn(webhooks=sender, clock=clock)
    standin.hold_webhooks()
    standin.handle("POST", "/v1/customers", {"Authorization": "Bearer sk_test_x"}, b"")
    [event] = standin.emitted()
    assert standin.deliver_events([event["id"]])[0]["http_status"] == 200
    assert seen == [200]
