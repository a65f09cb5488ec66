"""The engine's reader of Stripe's objects, on the stand-in in process (the real SDK, its
typed parameters, no network): expansions, invoice payments, disputes, Stripe's clock, 404s and
the time a read may take."""

from __future__ import annotations

from typing import Any

import pytest

from billing.adapters.stripe_gateway import ATTEMPT_SECONDS, build_client, checkout_session_params
from billing.adapters.stripe_reader import StripeObjectReader, answered_at
from billing.domain.checkout import CheckoutMode, CheckoutRequest
from billing.errors import PaymentProviderUnavailableError
from billing_devstack.stripe_standin import StripeStandIn
from billing_devstack.stripe_standin.sdk_client import InProcessHTTPClient

BASE = "http://standin.invalid"
NOW = 1_790_000_000
METADATA = {"project_id": "1", "user_id": "user_42"}


@pytest.fixture
def standin() -> StripeStandIn:
    standin = StripeStandIn(base_url=BASE, clock=lambda: NOW)
    standin.register_price("price_pro", 900, "usd", {"interval": "month"})
    standin.register_price("price_life", 4900, "usd", None)
    return standin


def reader(standin: StripeStandIn, **options: Any) -> StripeObjectReader:
    return StripeObjectReader(
        build_client("sk_test_unit", BASE, InProcessHTTPClient(standin)), **options
    )


def pay(standin: StripeStandIn, price_id: str, mode: CheckoutMode) -> dict[str, Any]:
    """The service's own checkout call for user_42, then the customer pays."""
    client = build_client("sk_test_unit", BASE, InProcessHTTPClient(standin))
    request = CheckoutRequest("1", "user_42", price_id, mode, "https://a.test/", "https://a.test/")
    customer = client.v1.customers.create(params={"metadata": METADATA})
    params = checkout_session_params(request, customer.id)
    session = client.v1.checkout.sessions.create(params=params)
    return standin.pay_checkout(session.id)


def test_a_subscription_is_read_with_its_latest_invoice_at_stripes_second(
    standin: StripeStandIn,
) -> None:
    paid = pay(standin, "price_pro", "subscription")
    read = reader(standin).subscription(paid["subscription"])
    assert read is not None
    assert read.read_at == NOW
    assert read.obj["metadata"] == {**METADATA, "price_id": "price_pro"}
    assert read.obj["latest_invoice"]["id"] == paid["invoice"]


def test_a_subscription_is_read_with_each_discount_and_its_coupon(standin: StripeStandIn) -> None:
    paid = pay(standin, "price_pro", "subscription")
    client = build_client("sk_test_unit", BASE, InProcessHTTPClient(standin))
    coupon = client.v1.coupons.create(
        params={"percent_off": 20, "duration": "repeating", "duration_in_months": 3}
    )
    client.v1.subscriptions.update(
        paid["subscription"], params={"discounts": [{"coupon": coupon.id}]}
    )
    read = reader(standin).subscription(paid["subscription"])
    assert read is not None
    (discount,) = read.obj["discounts"]
    assert discount["source"]["coupon"]["id"] == coupon.id
    assert (discount["source"]["coupon"]["percent_off"], discount["end"] > NOW) == (20, True)


def test_a_payment_intent_is_read_with_its_charge_and_its_disputes(
    standin: StripeStandIn,
) -> None:
    paid = pay(standin, "price_life", "payment")
    found = reader(standin)
    read = found.payment_intent(paid["payment_intent"])
    assert read is not None
    assert read.obj["latest_charge"]["id"] == paid["charge"]
    assert found.disputes(paid["payment_intent"]) == []
    standin.handle("POST", f"/_standin/charges/{paid['charge']}/dispute", {}, b"{}")
    (dispute,) = found.disputes(paid["payment_intent"])
    assert (dispute["status"], dispute["charge"]) == ("needs_response", paid["charge"])


def test_a_subscription_invoices_payment_intent_leads_to_its_invoice(
    standin: StripeStandIn,
) -> None:
    paid = pay(standin, "price_pro", "subscription")
    found = reader(standin)
    invoice = found.invoice(paid["invoice"])
    assert invoice is not None
    intent = invoice.obj["payments"]["data"][0]["payment"]["payment_intent"]
    assert found.invoice_of_payment(intent) == paid["invoice"]
    assert found.invoice_of_payment("pi_unknown") is None


def test_an_object_stripe_does_not_have_is_none_and_each_call_is_counted(
    standin: StripeStandIn,
) -> None:
    found = reader(standin)
    assert found.subscription("sub_missing") is None
    assert found.charge("ch_missing") is None
    assert found.requests == 2


def test_a_read_that_cannot_fit_in_the_time_left_is_a_503_before_any_call(
    standin: StripeStandIn,
) -> None:
    clock = [0.0]
    found = reader(standin, clock=lambda: clock[0]).within(ATTEMPT_SECONDS - 1)
    with pytest.raises(PaymentProviderUnavailableError) as raised:
        found.subscription("sub_x")
    assert raised.value.status == 503
    assert found.requests == 0


def test_reconciliation_paces_every_read() -> None:
    paced: list[int] = []
    found = reader(StripeStandIn(base_url=BASE), pace=lambda: paced.append(1))
    found.charge("ch_missing")
    found.disputes("pi_missing")
    assert len(paced) == 2


def test_stripes_date_dates_the_answer_and_this_machines_clock_stands_in_without_one() -> None:
    assert answered_at({"Date": "Mon, 21 Sep 2026 00:00:10 GMT"}, 5.0) == 1_789_948_810
    assert answered_at({}, 1234.9) == 1234
    assert answered_at({"date": "not a date"}, 77.0) == 77
