"""``/v1/invoice_payments``: one per paid (or attempted) subscription invoice, naming the
payment intent, found by invoice, by payment intent or by status, through the SDK."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.unit.devstack.stripe_standin.conftest import SUCCESS_URL, Harness

CHECKOUT = (
    "mode=subscription&line_items[0][price]=price_123&line_items[0][quantity]=2"
    f"&success_url={SUCCESS_URL}"
)


def paid(harness: Harness) -> dict[str, Any]:
    session = harness.call("POST", "/v1/checkout/sessions", CHECKOUT)[2]
    return harness.standin.pay_checkout(session["id"])


def test_a_paid_invoice_has_its_payment(client: stripe.StripeClient, harness: Harness) -> None:
    ids = paid(harness)
    found = client.v1.invoice_payments.list(
        params={"payment": {"type": "payment_intent", "payment_intent": ids["payment_intent"]}}
    )
    [payment] = found.data
    assert isinstance(payment, stripe.InvoicePayment)
    invoice = client.v1.invoices.retrieve(ids["invoice"])
    assert (payment.invoice, payment.status, payment.currency) == (ids["invoice"], "paid", "usd")
    assert (payment.amount_paid, payment.amount_requested) == (1800, 1800)
    assert payment.status_transitions.paid_at == invoice.status_transitions.paid_at
    assert payment.payment.type == "payment_intent"
    assert payment.payment.payment_intent == ids["payment_intent"]
    assert found.url == "/v1/invoice_payments"
    again = client.v1.invoice_payments.retrieve(
        payment.id, params={"expand": ["payment.payment_intent"]}
    )
    assert isinstance(again.payment.payment_intent, stripe.PaymentIntent)
    assert again.payment.payment_intent.latest_charge == ids["charge"]
    shown = client.v1.invoices.retrieve(ids["invoice"], params={"expand": ["payments"]})
    assert shown.payments is not None
    assert [item.id for item in shown.payments.data] == [payment.id]


def test_payments_are_found_by_invoice_and_status(
    client: stripe.StripeClient, harness: Harness
) -> None:
    ids = paid(harness)
    failed = harness.standin.handle(
        "POST", f"/_standin/subscriptions/{ids['subscription']}/fail_renewal", {}
    )
    assert failed.status == 200
    open_ones = client.v1.invoice_payments.list(params={"status": "open"}).data
    assert len(open_ones) == 1
    assert open_ones[0].amount_paid is None
    assert open_ones[0].invoice != ids["invoice"]
    by_invoice = client.v1.invoice_payments.list(params={"invoice": ids["invoice"]}).data
    assert [payment.status for payment in by_invoice] == ["paid"]
    every = client.v1.invoice_payments.list().data
    assert [payment.id for payment in every] == [open_ones[0].id, by_invoice[0].id]  # newest first


def test_a_trial_invoice_of_zero_has_no_payment(harness: Harness) -> None:
    session = harness.call(
        "POST", "/v1/checkout/sessions", CHECKOUT + "&subscription_data[trial_period_days]=7"
    )[2]
    ids = harness.standin.pay_checkout(session["id"])
    status, _, found = harness.call("GET", f"/v1/invoice_payments?invoice={ids['invoice']}")
    assert (status, found["data"]) == (200, [])


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("payment[payment_intent]=pi_1", "payment[type]"),
        ("payment[type]=card", "payment[type]"),
        ("status=void", "status"),
        ("customer=cus_1", "customer"),
    ],
)
def test_bad_filters_are_refused(harness: Harness, query: str, param: str) -> None:
    status, _, answer = harness.call("GET", f"/v1/invoice_payments?{query}")
    assert (status, answer["error"]["param"]) == (400, param)


def test_an_unknown_payment_is_404(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.invoice_payments.retrieve("inpay_missing")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
