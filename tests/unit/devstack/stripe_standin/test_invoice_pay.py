"""A renewal the card declined, retries running out (``unpaid``), and paying the invoice again
through ``POST /v1/invoices/{id}/pay`` with the SDK's typed params."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from stripe.params import InvoicePayParams

from tests.unit.devstack.stripe_standin.conftest import START, SUCCESS_URL, Harness

CHECKOUT = (
    "mode=subscription&line_items[0][price]=price_123&line_items[0][quantity]=1"
    f"&success_url={SUCCESS_URL}"
)


def control(harness: Harness, path: str) -> tuple[int, Any]:
    status, _, answer = harness.call("POST", f"/_standin/{path}", key=None)
    return status, answer


def declined(harness: Harness) -> Any:
    """A subscription whose first renewal was declined: ``past_due``, an open invoice."""
    session = harness.call("POST", "/v1/checkout/sessions", CHECKOUT)[2]
    sub_id = harness.standin.pay_checkout(session["id"])["subscription"]
    status, failed = control(harness, f"subscriptions/{sub_id}/fail_renewal")
    assert status == 200, failed
    harness.deliver()
    return failed


def test_retries_running_out_leave_the_subscription_unpaid(harness: Harness) -> None:
    failed = declined(harness)
    status, sub = control(harness, f"subscriptions/{failed['subscription']}/mark_unpaid")
    assert (status, sub["status"]) == (200, "unpaid")
    assert harness.deliver() == ["customer.subscription.updated"]
    assert harness.outbox.events()[-1]["data"]["previous_attributes"] == {"status": "past_due"}
    status, answer = control(harness, f"subscriptions/{failed['subscription']}/mark_unpaid")
    assert (status, answer["error"]["type"]) == (400, "invalid_request_error")


def test_paying_the_latest_invoice_makes_an_unpaid_subscription_active(
    client: stripe.StripeClient, harness: Harness
) -> None:
    failed = declined(harness)
    control(harness, f"subscriptions/{failed['subscription']}/mark_unpaid")
    harness.deliver()
    harness.clock.now = START + 3 * 86_400 + 0.5
    params: InvoicePayParams = {"off_session": True, "expand": ["payments"]}
    invoice = client.v1.invoices.pay(failed["invoice"], params=params)

    now = START + 3 * 86_400
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == ("paid", 900, 0)
    assert invoice.status_transitions.paid_at == now
    assert (invoice.attempt_count, invoice.next_payment_attempt) == (2, None)
    assert invoice.payments is not None
    [payment] = invoice.payments.data
    assert (payment.status, payment.amount_paid) == ("paid", 900)
    assert payment.status_transitions.paid_at == now
    intent = client.v1.payment_intents.retrieve(
        failed["payment_intent"], params={"expand": ["latest_charge"]}
    )
    assert (intent.status, intent.amount_received, intent.last_payment_error) == (
        "succeeded",
        900,
        None,
    )
    assert isinstance(intent.latest_charge, stripe.Charge)
    assert intent.latest_charge.id != failed["charge"]
    assert (intent.latest_charge.status, intent.latest_charge.created) == ("succeeded", now)
    assert client.v1.charges.retrieve(failed["charge"]).status == "failed"  # the declined one
    assert client.v1.subscriptions.retrieve(failed["subscription"]).status == "active"
    assert harness.deliver() == [
        "invoice.payment_succeeded",
        "invoice.paid",
        "payment_intent.succeeded",
        "customer.subscription.updated",
    ]
    updated = harness.outbox.events()[-1]["data"]
    assert updated["previous_attributes"] == {"status": "unpaid"}
    assert {event["created"] for event in harness.outbox.events()[-4:]} == {now}


def test_paying_from_past_due_is_active_again(harness: Harness) -> None:
    failed = declined(harness)
    status, _, invoice = harness.call("POST", f"/v1/invoices/{failed['invoice']}/pay")
    assert (status, invoice["status"]) == (200, "paid")
    sub = harness.call("GET", f"/v1/subscriptions/{failed['subscription']}")[2]
    assert sub["status"] == "active"
    assert harness.deliver()[-1] == "customer.subscription.updated"


def test_paying_an_older_invoice_leaves_the_subscription_alone(harness: Harness) -> None:
    failed = declined(harness)
    control(harness, f"subscriptions/{failed['subscription']}/advance")  # the next one paid
    harness.deliver()
    status, _, invoice = harness.call("POST", f"/v1/invoices/{failed['invoice']}/pay")
    assert (status, invoice["status"]) == (200, "paid")
    assert harness.deliver() == [
        "invoice.payment_succeeded",
        "invoice.paid",
        "payment_intent.succeeded",
    ]


def test_a_paid_invoice_is_not_paid_twice(client: stripe.StripeClient, harness: Harness) -> None:
    failed = declined(harness)
    client.v1.invoices.pay(failed["invoice"])
    harness.deliver()
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.invoices.pay(failed["invoice"])
    assert (refused.value.http_status, refused.value.code) == (400, None)
    assert refused.value.user_message == "Invoice is already paid"
    assert harness.deliver() == []
    assert len(client.v1.charges.list().data) == 3  # first payment, declined, paid again


def test_pay_refuses_what_the_stand_in_does_not_take(harness: Harness) -> None:
    failed = declined(harness)
    status, _, answer = harness.call(
        "POST", f"/v1/invoices/{failed['invoice']}/pay", "paid_out_of_band=true"
    )
    assert (status, answer["error"]["code"], answer["error"]["param"]) == (
        400,
        "parameter_unknown",
        "paid_out_of_band",
    )
    assert harness.call("GET", f"/v1/invoices/{failed['invoice']}")[2]["status"] == "open"
    assert harness.call("POST", "/v1/invoices/in_missing/pay")[0] == 404
