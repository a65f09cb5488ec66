"""Paying, renewing, failing, cancelling and refunding: the objects Stripe would have, and the
signed events it would send, in the documented order."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from billing_devstack.stripe_standin.objects import API_VERSION
from tests.unit.devstack.stripe_standin.conftest import SECRET, SUCCESS_URL, Harness

SUBSCRIPTION_CHECKOUT = (
    "mode=subscription&line_items[0][price]=price_123&line_items[0][quantity]=1"
    f"&success_url={SUCCESS_URL}&client_reference_id=u1&metadata[project_id]=1"
    "&subscription_data[metadata][project_id]=1&subscription_data[metadata][user_id]=u1"
)
PAYMENT_CHECKOUT = (
    "mode=payment&line_items[0][price]=price_once&line_items[0][quantity]=1"
    f"&success_url={SUCCESS_URL}&payment_intent_data[metadata][user_id]=u1"
)
MONTH = 31 * 86_400  # January


def get(harness: Harness, path: str) -> Any:
    status, _, answer = harness.call("GET", path)
    assert status == 200, answer
    return answer


def control(harness: Harness, path: str, body: str = "") -> Any:
    status, _, answer = harness.call("POST", f"/_standin/{path}", body, key=None)
    assert status == 200, answer
    return answer


def paid_subscription(harness: Harness, extra: str = "") -> dict[str, Any]:
    _, _, session = harness.call("POST", "/v1/checkout/sessions", SUBSCRIPTION_CHECKOUT + extra)
    paid: dict[str, Any] = control(harness, f"checkout/{session['id']}/pay")
    harness.deliver()
    return paid


def test_paying_a_subscription_checkout_creates_what_stripe_would(harness: Harness) -> None:
    _, _, session = harness.call("POST", "/v1/checkout/sessions", SUBSCRIPTION_CHECKOUT)
    paid = control(harness, f"checkout/{session['id']}/pay")
    start = int(harness.clock.now)

    assert paid["customer_created"] is True
    assert paid["success_url"] == SUCCESS_URL.replace("{CHECKOUT_SESSION_ID}", session["id"])
    completed = get(harness, f"/v1/checkout/sessions/{session['id']}")
    assert (completed["status"], completed["payment_status"]) == ("complete", "paid")
    assert (completed["customer"], completed["subscription"]) == (
        paid["customer"],
        paid["subscription"],
    )
    sub = get(harness, f"/v1/subscriptions/{paid['subscription']}")
    assert (sub["status"], sub["customer"]) == ("active", paid["customer"])
    assert sub["metadata"] == {"project_id": "1", "user_id": "u1"}
    assert "current_period_end" not in sub  # on the item, in this API version
    item = sub["items"]["data"][0]
    assert (item["current_period_start"], item["current_period_end"]) == (start, start + MONTH)
    assert (item["price"]["id"], item["plan"]["id"], item["plan"]["object"]) == (
        "price_123",
        "price_123",
        "plan",
    )
    invoice = get(harness, f"/v1/invoices/{sub['latest_invoice']}?expand[]=payments")
    assert (invoice["status"], invoice["billing_reason"], invoice["amount_paid"]) == (
        "paid",
        "subscription_create",
        900,
    )
    assert invoice["parent"]["subscription_details"]["subscription"] == sub["id"]
    assert "subscription" not in invoice
    assert invoice["payments"]["data"][0]["payment"]["payment_intent"] == paid["payment_intent"]
    intent = get(harness, f"/v1/payment_intents/{paid['payment_intent']}")
    assert (intent["status"], intent["amount"], intent["latest_charge"]) == (
        "succeeded",
        900,
        paid["charge"],
    )
    charge = get(harness, f"/v1/charges/{paid['charge']}")
    assert (charge["paid"], charge["amount_captured"], charge["customer"]) == (
        True,
        900,
        paid["customer"],
    )


def test_paying_emits_signed_events_in_stripes_order(harness: Harness) -> None:
    _, _, session = harness.call("POST", "/v1/checkout/sessions", SUBSCRIPTION_CHECKOUT)
    control(harness, f"checkout/{session['id']}/pay")

    assert harness.deliver() == [
        "customer.created",
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.payment_succeeded",
        "invoice.paid",
        "payment_intent.succeeded",
    ]
    for url, body, headers in harness.outbox.posts:
        assert url.endswith("/api/v1/webhooks/stripe")
        assert headers["Stripe-Signature"].startswith(f"t={int(harness.clock.now)},v1=")
        event = stripe.Webhook.construct_event(
            body.decode(), headers["Stripe-Signature"], SECRET, tolerance=10**10
        )
        assert event.id.startswith("evt_")
        assert (event.object, event.api_version, event.livemode) == ("event", API_VERSION, False)
        assert event.pending_webhooks == 1
        assert event.data.object.id  # a full object, not an id
    completed = harness.outbox.events()[1]["data"]["object"]
    assert (completed["status"], completed["client_reference_id"]) == ("complete", "u1")
    created = harness.outbox.events()[2]["data"]["object"]
    assert created["metadata"] == {"project_id": "1", "user_id": "u1"}


def test_events_are_kept_for_the_events_api(harness: Harness) -> None:
    paid_subscription(harness)
    events = get(harness, "/v1/events?limit=100")["data"]
    assert len(events) == 6
    assert all(event["pending_webhooks"] == 0 for event in events)  # delivered
    first = events[-1]
    assert get(harness, f"/v1/events/{first['id']}")["type"] == "customer.created"
    invoices = get(harness, "/v1/events?type=invoice.*")["data"]
    assert [event["type"] for event in invoices] == ["invoice.paid", "invoice.payment_succeeded"]


def test_an_existing_customer_is_kept_and_no_customer_event_is_sent(harness: Harness) -> None:
    _, _, customer = harness.call("POST", "/v1/customers", "email=c@x.io")
    harness.deliver()
    paid = paid_subscription(harness, f"&customer={customer['id']}")
    assert (paid["customer"], paid["customer_created"]) == (customer["id"], False)
    assert "customer.created" not in harness.outbox.types()[1:]


def test_a_trial_starts_trialing_with_a_free_invoice(harness: Harness) -> None:
    _, _, session = harness.call(
        "POST",
        "/v1/checkout/sessions",
        SUBSCRIPTION_CHECKOUT + "&subscription_data[trial_period_days]=14",
    )
    assert session["amount_total"] == 0
    paid = control(harness, f"checkout/{session['id']}/pay")
    sub = get(harness, f"/v1/subscriptions/{paid['subscription']}")
    start = int(harness.clock.now)
    assert (sub["status"], sub["trial_start"], sub["trial_end"]) == (
        "trialing",
        start,
        start + 14 * 86_400,
    )
    assert sub["items"]["data"][0]["current_period_end"] == sub["trial_end"]
    assert paid["payment_intent"] is None
    assert get(harness, f"/v1/checkout/sessions/{session['id']}")["payment_status"] == (
        "no_payment_required"
    )
    assert "payment_intent.succeeded" not in harness.deliver()


def test_paying_a_one_time_checkout(harness: Harness) -> None:
    _, _, session = harness.call("POST", "/v1/checkout/sessions", PAYMENT_CHECKOUT)
    paid = control(harness, f"checkout/{session['id']}/pay")
    assert harness.deliver() == [
        "customer.created",
        "checkout.session.completed",
        "payment_intent.succeeded",
    ]
    assert paid["subscription"] is None
    intent = get(harness, f"/v1/payment_intents/{paid['payment_intent']}")
    assert (intent["status"], intent["amount"], intent["metadata"]) == (
        "succeeded",
        2500,
        {"user_id": "u1"},
    )
    session = get(harness, f"/v1/checkout/sessions/{session['id']}")
    assert session["payment_intent"] == intent["id"]


def test_a_session_is_paid_once(harness: Harness) -> None:
    _, _, session = harness.call("POST", "/v1/checkout/sessions", PAYMENT_CHECKOUT)
    control(harness, f"checkout/{session['id']}/pay")
    status, _, answer = harness.call("POST", f"/_standin/checkout/{session['id']}/pay", key=None)
    assert status == 400
    assert "complete" in answer["error"]["message"]


def test_an_expired_session_cannot_be_paid(harness: Harness) -> None:
    _, _, session = harness.call("POST", "/v1/checkout/sessions", PAYMENT_CHECKOUT)
    control(harness, f"checkout/{session['id']}/expire")
    assert harness.deliver() == ["checkout.session.expired"]
    status, _, _ = harness.call("POST", f"/_standin/checkout/{session['id']}/pay", key=None)
    assert status == 400


# ------------------------------------------------------------------ renewals
def test_advance_renews_into_the_next_period(harness: Harness) -> None:
    paid = paid_subscription(harness)
    before = get(harness, f"/v1/subscriptions/{paid['subscription']}")
    renewed = control(harness, f"subscriptions/{paid['subscription']}/advance")

    assert harness.deliver() == [
        "invoice.payment_succeeded",
        "invoice.paid",
        "payment_intent.succeeded",
        "customer.subscription.updated",
    ]
    sub = get(harness, f"/v1/subscriptions/{paid['subscription']}")
    old_end = before["items"]["data"][0]["current_period_end"]
    item = sub["items"]["data"][0]
    assert item["current_period_start"] == old_end
    assert item["current_period_end"] == old_end + 28 * 86_400  # February 2026
    invoice = get(harness, f"/v1/invoices/{renewed['invoice']}")
    assert (invoice["billing_reason"], invoice["status"]) == ("subscription_cycle", "paid")
    assert sub["latest_invoice"] == invoice["id"]
    updated = harness.outbox.events()[-1]["data"]
    assert updated["previous_attributes"]["latest_invoice"] == before["latest_invoice"]
    assert updated["previous_attributes"]["items"]["data"][0]["current_period_end"] == old_end


def test_fail_renewal_leaves_an_open_invoice_and_past_due(harness: Harness) -> None:
    paid = paid_subscription(harness)
    failed = control(harness, f"subscriptions/{paid['subscription']}/fail_renewal")

    assert harness.deliver() == [
        "invoice.payment_failed",
        "payment_intent.payment_failed",
        "customer.subscription.updated",
    ]
    assert get(harness, f"/v1/subscriptions/{paid['subscription']}")["status"] == "past_due"
    invoice = get(harness, f"/v1/invoices/{failed['invoice']}")
    assert (invoice["status"], invoice["amount_paid"], invoice["attempted"]) == ("open", 0, True)
    intent = get(harness, f"/v1/payment_intents/{failed['payment_intent']}")
    assert intent["status"] == "requires_payment_method"
    assert intent["last_payment_error"]["code"] == "card_declined"
    assert get(harness, f"/v1/charges/{failed['charge']}")["status"] == "failed"
    updated = harness.outbox.events()[-1]["data"]
    assert updated["previous_attributes"]["status"] == "active"
    control(harness, f"subscriptions/{paid['subscription']}/advance")
    assert get(harness, f"/v1/subscriptions/{paid['subscription']}")["status"] == "active"


def test_cancel_now_deletes(harness: Harness) -> None:
    paid = paid_subscription(harness)
    control(harness, f"subscriptions/{paid['subscription']}/cancel")
    assert harness.deliver() == ["customer.subscription.deleted"]
    sub = get(harness, f"/v1/subscriptions/{paid['subscription']}")
    now = int(harness.clock.now)
    assert (sub["status"], sub["canceled_at"], sub["ended_at"]) == ("canceled", now, now)
    status, _, _ = harness.call(
        "POST", f"/_standin/subscriptions/{paid['subscription']}/advance", key=None
    )
    assert status == 400


def test_cancel_at_period_end_updates_then_the_period_end_deletes(harness: Harness) -> None:
    paid = paid_subscription(harness)
    control(harness, f"subscriptions/{paid['subscription']}/cancel", '{"at_period_end": true}')
    assert harness.deliver() == ["customer.subscription.updated"]
    event = harness.outbox.events()[-1]["data"]
    assert event["object"]["cancel_at_period_end"] is True
    assert event["object"]["status"] == "active"
    assert event["previous_attributes"]["cancel_at_period_end"] is False
    control(harness, f"subscriptions/{paid['subscription']}/advance")
    assert harness.deliver() == ["customer.subscription.deleted"]


def test_the_subscription_api_cancels_and_resumes(harness: Harness) -> None:
    paid = paid_subscription(harness)
    path = f"/v1/subscriptions/{paid['subscription']}"
    assert harness.call("POST", path, "cancel_at_period_end=true")[2]["cancel_at_period_end"]
    resumed = harness.call("POST", path, "cancel_at_period_end=false&metadata[note]=x")[2]
    assert (resumed["cancel_at_period_end"], resumed["cancel_at"]) == (False, None)
    assert resumed["metadata"]["note"] == "x"
    assert harness.call("DELETE", path)[2]["status"] == "canceled"
    assert harness.deliver() == [
        "customer.subscription.updated",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    ]


# ------------------------------------------------------------------ refunds
def test_refunds_partial_then_full(harness: Harness) -> None:
    paid = paid_subscription(harness)
    partial = control(harness, f"charges/{paid['charge']}/refund", '{"amount": 300}')
    assert harness.deliver() == ["charge.refunded", "refund.created"]
    assert (partial["amount"], partial["charge"], partial["status"]) == (
        300,
        paid["charge"],
        "succeeded",
    )
    charge = get(harness, f"/v1/charges/{paid['charge']}")
    assert (charge["amount_refunded"], charge["refunded"]) == (300, False)
    refunded_event = harness.outbox.events()[-2]["data"]
    assert refunded_event["previous_attributes"]["amount_refunded"] == 0

    control(harness, f"charges/{paid['charge']}/refund")
    charge = get(harness, f"/v1/charges/{paid['charge']}")
    assert (charge["amount_refunded"], charge["refunded"]) == (900, True)
    assert len(get(harness, f"/v1/refunds?charge={paid['charge']}")["data"]) == 2
    status, _, answer = harness.call("POST", f"/_standin/charges/{paid['charge']}/refund", key=None)
    assert (status, answer["error"]["code"]) == (400, "charge_already_refunded")


@pytest.mark.parametrize("amount", [0, 901])
def test_a_refund_outside_the_charge_is_refused(harness: Harness, amount: int) -> None:
    paid = paid_subscription(harness)
    status, _, answer = harness.call(
        "POST", f"/_standin/charges/{paid['charge']}/refund", f'{{"amount": {amount}}}', key=None
    )
    assert (status, answer["error"]["param"]) == (400, "amount")


def test_the_refunds_api_takes_a_payment_intent(harness: Harness) -> None:
    paid = paid_subscription(harness)
    status, _, refund = harness.call(
        "POST", "/v1/refunds", f"payment_intent={paid['payment_intent']}&amount=100&metadata[a]=b"
    )
    assert status == 200
    assert (refund["charge"], refund["amount"], refund["metadata"]) == (
        paid["charge"],
        100,
        {"a": "b"},
    )
