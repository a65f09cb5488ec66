"""Coupons through the SDK, and the discounts they give: on a Checkout Session, on the
subscription it creates (a discount object), and on each invoice while the discount lasts."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from stripe.params import CouponCreateParams
from stripe.params.checkout import SessionCreateParams

from tests.unit.devstack.stripe_standin.conftest import START, SUCCESS_URL, Harness

SUBSCRIPTION = (
    "mode=subscription&line_items[0][price]=price_123&line_items[0][quantity]=1"
    f"&success_url={SUCCESS_URL}"
)
PAYMENT = (
    "mode=payment&line_items[0][price]=price_once&line_items[0][quantity]=1"
    f"&success_url={SUCCESS_URL}"
)
APRIL_1 = 1_775_001_600  # 2026-04-01T00:00:00Z: three months after START


def coupon(harness: Harness, body: str) -> Any:
    status, _, answer = harness.call("POST", "/v1/coupons", body)
    assert status == 200, answer
    return answer


def checkout(harness: Harness, body: str, coupon_id: str) -> Any:
    status, _, session = harness.call(
        "POST", "/v1/checkout/sessions", f"{body}&discounts[0][coupon]={coupon_id}"
    )
    assert status == 200, session
    return session


def get(harness: Harness, path: str) -> Any:
    status, _, answer = harness.call("GET", path)
    assert status == 200, answer
    return answer


def renew(harness: Harness, sub_id: str) -> Any:
    status, _, renewed = harness.call("POST", f"/_standin/subscriptions/{sub_id}/advance", key=None)
    assert status == 200, renewed
    return get(harness, f"/v1/invoices/{renewed['invoice']}")


# ------------------------------------------------------------------ /v1/coupons
def test_a_coupon_is_created_read_listed_and_deleted(
    client: stripe.StripeClient, harness: Harness
) -> None:
    params: CouponCreateParams = {
        "id": "SPRING",
        "percent_off": 25.5,
        "duration": "repeating",
        "duration_in_months": 3,
        "name": "Spring sale",
        "metadata": {"campaign": "s26"},
        "max_redemptions": 10,
        "redeem_by": START + 86_400,
    }
    created = client.v1.coupons.create(params=params)
    assert isinstance(created, stripe.Coupon)
    assert (created.id, created.percent_off, created.amount_off, created.currency) == (
        "SPRING",
        25.5,
        None,
        None,
    )
    assert (created.duration, created.duration_in_months, created.valid) == ("repeating", 3, True)
    assert (created.times_redeemed, created.max_redemptions, created.redeem_by) == (
        0,
        10,
        START + 86_400,
    )
    assert created.metadata is not None and created.metadata["campaign"] == "s26"
    assert client.v1.coupons.retrieve("SPRING").name == "Spring sale"
    fixed = client.v1.coupons.create(params={"amount_off": 500, "currency": "USD"})
    assert (fixed.currency, fixed.duration, len(fixed.id)) == ("usd", "once", 8)
    assert [item.id for item in client.v1.coupons.list()] == [fixed.id, "SPRING"]

    deleted = client.v1.coupons.delete("SPRING")
    assert (deleted.id, deleted.deleted) == ("SPRING", True)
    with pytest.raises(stripe.InvalidRequestError) as gone:
        client.v1.coupons.retrieve("SPRING")
    assert gone.value.http_status == 404
    assert [item.id for item in client.v1.coupons.list()] == [fixed.id]
    assert harness.deliver() == ["coupon.created", "coupon.created", "coupon.deleted"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ("duration=once", "amount_off"),
        ("percent_off=10&amount_off=100&currency=usd", "percent_off"),
        ("amount_off=100", "currency"),
        ("percent_off=10&currency=usd", "currency"),
        ("percent_off=0", "percent_off"),
        ("percent_off=100.5", "percent_off"),
        ("percent_off=ten", "percent_off"),
        ("percent_off=10&duration=repeating", "duration_in_months"),
        ("percent_off=10&duration=forever&duration_in_months=3", "duration_in_months"),
        ("percent_off=10&duration=weekly", "duration"),
        (f"percent_off=10&redeem_by={START}", "redeem_by"),
        ("percent_off=10&name=" + "x" * 41, "name"),
        ("percent_off=10&applies_to[products][0]=prod_1", "applies_to"),
    ],
)
def test_a_coupon_that_makes_no_sense_is_refused(harness: Harness, body: str, param: str) -> None:
    status, _, answer = harness.call("POST", "/v1/coupons", body)
    assert (status, answer["error"]["param"]) == (400, param)
    assert get(harness, "/v1/coupons")["data"] == []


def test_a_coupon_id_is_taken_once(harness: Harness) -> None:
    coupon(harness, "id=TEN&percent_off=10")
    status, _, answer = harness.call("POST", "/v1/coupons", "id=TEN&percent_off=20")
    assert (status, answer["error"]["code"]) == (400, "resource_already_exists")


# ------------------------------------------------------------------ checkout
def test_a_fully_discounted_one_time_checkout_needs_no_payment(harness: Harness) -> None:
    coupon(harness, "id=FREE&percent_off=100")
    session = checkout(harness, PAYMENT, "FREE")
    assert (session["amount_subtotal"], session["amount_total"]) == (2500, 0)
    assert session["total_details"]["amount_discount"] == 2500
    assert session["discounts"] == [{"coupon": "FREE", "promotion_code": None}]
    [line] = get(harness, f"/v1/checkout/sessions/{session['id']}/line_items")["data"]
    assert (line["amount_subtotal"], line["amount_discount"], line["amount_total"]) == (
        2500,
        2500,
        0,
    )
    paid = harness.standin.pay_checkout(session["id"])
    completed = get(harness, f"/v1/checkout/sessions/{session['id']}")
    assert (completed["status"], completed["payment_status"]) == (
        "complete",
        "no_payment_required",
    )
    assert (completed["payment_intent"], paid["payment_intent"], paid["charge"]) == (None,) * 3
    assert get(harness, "/v1/payment_intents")["data"] == []
    assert get(harness, "/v1/charges")["data"] == []
    assert harness.deliver() == ["coupon.created", "customer.created", "checkout.session.completed"]
    assert get(harness, "/v1/coupons/FREE")["times_redeemed"] == 1


def test_a_partly_discounted_one_time_checkout_charges_the_rest(harness: Harness) -> None:
    coupon(harness, "id=FIVE&amount_off=500&currency=usd")
    session = checkout(harness, PAYMENT, "FIVE")
    paid = harness.standin.pay_checkout(session["id"])
    intent = get(harness, f"/v1/payment_intents/{paid['payment_intent']}")
    assert (intent["amount"], session["amount_total"]) == (2000, 2000)
    shown = get(harness, f"/v1/checkout/sessions/{session['id']}?expand[]=discounts.coupon")
    assert shown["discounts"][0]["coupon"]["amount_off"] == 500
    status, _, answer = harness.call(
        "GET", f"/v1/checkout/sessions/{session['id']}?expand[]=discounts"
    )  # a session's discounts are hashes, not discount objects: only their coupon expands
    assert (status, answer["error"]["message"]) == (
        400,
        "This property cannot be expanded (discounts).",
    )


@pytest.mark.parametrize(
    ("extra", "param", "code"),
    [
        ("&allow_promotion_codes=true", "discounts", "parameters_exclusive"),
        ("&discounts[1][coupon]=TEN", "discounts", None),
        (  # promotion codes are not served
            "&discounts[0][promotion_code]=promo_1",
            "discounts[0][promotion_code]",
            "parameter_unknown",
        ),
    ],
)
def test_checkout_refuses_what_stripe_refuses_with_a_discount(
    harness: Harness, extra: str, param: str, code: str | None
) -> None:
    coupon(harness, "id=TEN&percent_off=10")
    status, _, answer = harness.call(
        "POST", "/v1/checkout/sessions", f"{SUBSCRIPTION}&discounts[0][coupon]=TEN{extra}"
    )
    assert (status, answer["error"]["param"], answer["error"].get("code")) == (400, param, code)


def discounted_checkout_error(harness: Harness, coupon_id: str) -> dict[str, Any]:
    status, _, answer = harness.call(
        "POST", "/v1/checkout/sessions", f"{SUBSCRIPTION}&discounts[0][coupon]={coupon_id}"
    )
    assert (status, answer["error"]["param"]) == (400, "discounts[0][coupon]")
    error: dict[str, Any] = answer["error"]
    return error


def test_a_coupon_must_exist_match_the_currency_and_be_valid(harness: Harness) -> None:
    assert discounted_checkout_error(harness, "NOPE")["code"] == "resource_missing"
    coupon(harness, "id=EUR&amount_off=100&currency=eur")
    assert "does not match" in discounted_checkout_error(harness, "EUR")["message"]
    coupon(harness, "id=ONCE&percent_off=10&max_redemptions=1")
    harness.standin.pay_checkout(checkout(harness, SUBSCRIPTION, "ONCE")["id"])
    assert get(harness, "/v1/coupons/ONCE")["valid"] is False
    assert discounted_checkout_error(harness, "ONCE")["message"] == "Coupon expired: ONCE"
    coupon(harness, f"id=SOON&percent_off=10&redeem_by={START + 60}")
    harness.clock.now += 61
    assert discounted_checkout_error(harness, "SOON")["message"] == "Coupon expired: SOON"


# ------------------------------------------------------------------ subscriptions, invoices
def test_a_discounted_checkout_gives_the_subscription_a_discount(
    client: stripe.StripeClient, harness: Harness
) -> None:
    coupon(harness, "id=Q1&percent_off=20&duration=repeating&duration_in_months=3")
    params: SessionCreateParams = {
        "mode": "subscription",
        "line_items": [{"price": "price_123", "quantity": 1}],
        "success_url": SUCCESS_URL,
        "discounts": [{"coupon": "Q1"}],
    }
    session = client.v1.checkout.sessions.create(params=params)
    assert (session.amount_subtotal, session.amount_total) == (900, 720)
    assert session.total_details is not None
    assert session.total_details.amount_discount == 180
    paid = harness.standin.pay_checkout(session.id)

    sub = client.v1.subscriptions.retrieve(
        paid["subscription"], params={"expand": ["discounts.source.coupon"]}
    )
    [discount] = sub.discounts
    assert isinstance(discount, stripe.Discount)
    assert discount.id.startswith("di_")
    assert (discount.start, discount.end) == (START, APRIL_1)
    assert (discount.subscription, discount.customer) == (sub.id, paid["customer"])
    assert discount.checkout_session is None
    assert discount.source.type == "coupon"
    assert isinstance(discount.source.coupon, stripe.Coupon)
    assert discount.source.coupon.id == "Q1"

    invoice = get(harness, f"/v1/invoices/{paid['invoice']}")
    assert (invoice["subtotal"], invoice["total"], invoice["amount_due"]) == (900, 720, 720)
    assert (invoice["amount_paid"], invoice["discounts"]) == (720, [discount.id])
    assert invoice["total_discount_amounts"] == [{"amount": 180, "discount": discount.id}]
    [line] = invoice["lines"]["data"]
    assert (line["amount"], line["discount_amounts"]) == (
        900,
        [{"amount": 180, "discount": discount.id}],
    )
    assert get(harness, f"/v1/payment_intents/{paid['payment_intent']}")["amount"] == 720
    assert harness.deliver() == [
        "coupon.created",
        "customer.created",
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.discount.created",
        "invoice.payment_succeeded",
        "invoice.paid",
        "payment_intent.succeeded",
    ]
    listed = client.v1.subscriptions.list(params={"expand": ["data.discounts"]})
    assert isinstance(listed.data[0].discounts[0], stripe.Discount)
    assert get(harness, "/v1/coupons/Q1")["times_redeemed"] == 1


def test_a_repeating_discount_applies_until_its_end_then_goes(harness: Harness) -> None:
    coupon(harness, "id=Q1&percent_off=20&duration=repeating&duration_in_months=3")
    sub_id = harness.standin.pay_checkout(checkout(harness, SUBSCRIPTION, "Q1")["id"])[
        "subscription"
    ]
    harness.deliver()
    assert [renew(harness, sub_id)["total"] for _ in range(2)] == [720, 720]  # February, March
    harness.deliver()
    april = renew(harness, sub_id)
    assert (april["period_start"], april["total"], april["discounts"]) == (APRIL_1, 900, [])
    assert april["total_discount_amounts"] == []
    assert harness.deliver() == [
        "invoice.payment_succeeded",
        "invoice.paid",
        "payment_intent.succeeded",
        "customer.subscription.updated",
        "customer.discount.deleted",
    ]
    updated = harness.outbox.events()[-2]["data"]
    assert updated["object"]["discounts"] == []
    assert len(updated["previous_attributes"]["discounts"]) == 1


def test_a_once_discount_applies_to_the_first_invoice_only(harness: Harness) -> None:
    coupon(harness, "id=WELCOME&amount_off=300&currency=usd")
    sub_id = harness.standin.pay_checkout(checkout(harness, SUBSCRIPTION, "WELCOME")["id"])[
        "subscription"
    ]
    first = get(
        harness, f"/v1/invoices/{get(harness, f'/v1/subscriptions/{sub_id}')['latest_invoice']}"
    )
    assert first["total"] == 600
    assert renew(harness, sub_id)["total"] == 900
    assert get(harness, f"/v1/subscriptions/{sub_id}")["discounts"] == []


def test_a_forever_discount_outlives_its_deleted_coupon(harness: Harness) -> None:
    coupon(harness, "id=HALF&percent_off=50&duration=forever")
    sub_id = harness.standin.pay_checkout(checkout(harness, SUBSCRIPTION, "HALF")["id"])[
        "subscription"
    ]
    harness.call("DELETE", "/v1/coupons/HALF")
    assert [renew(harness, sub_id)["total"] for _ in range(3)] == [450, 450, 450]
    sub = get(harness, f"/v1/subscriptions/{sub_id}?expand[]=discounts.source.coupon")
    assert sub["discounts"][0]["source"]["coupon"]["id"] == "HALF"


def test_a_fully_discounted_subscription_still_has_its_invoice_of_zero(harness: Harness) -> None:
    coupon(harness, "id=FREE&percent_off=100&duration=forever")
    session = checkout(harness, SUBSCRIPTION, "FREE")
    paid = harness.standin.pay_checkout(session["id"])
    assert paid["payment_intent"] is None
    invoice = get(harness, f"/v1/invoices/{paid['invoice']}")
    assert (invoice["status"], invoice["subtotal"], invoice["amount_due"]) == ("paid", 900, 0)
    assert get(harness, f"/v1/checkout/sessions/{session['id']}")["payment_status"] == (
        "no_payment_required"
    )
    assert get(harness, f"/v1/subscriptions/{paid['subscription']}")["status"] == "active"
    assert "payment_intent.succeeded" not in harness.deliver()
    renewed = renew(harness, paid["subscription"])
    assert (renewed["status"], renewed["amount_paid"]) == ("paid", 0)
