"""``POST /v1/subscriptions/{id}`` with the SDK's typed params: a new price or quantity (billed
from the next renewal), a cancellation time, a discount added or removed; one
``customer.subscription.updated`` with what changed."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from stripe.params import SubscriptionUpdateParams

from tests.unit.devstack.stripe_standin.conftest import START, SUCCESS_URL, Harness

CHECKOUT = (
    "mode=subscription&line_items[0][price]=price_123&line_items[0][quantity]=1"
    f"&success_url={SUCCESS_URL}"
)
FEBRUARY_1 = 1_769_904_000  # START's period end


@pytest.fixture
def sub(harness: Harness) -> dict[str, Any]:
    """An active monthly subscription to price_123 (9.00 USD), its events delivered."""
    harness.standin.register_price("price_team", 2900, "usd", {"interval": "month"})
    harness.standin.register_price("price_eur", 900, "eur", {"interval": "month"})
    harness.standin.register_price("price_gone", 100, "usd", {"interval": "month"}, active=False)
    session = harness.call("POST", "/v1/checkout/sessions", CHECKOUT)[2]
    paid = harness.standin.pay_checkout(session["id"])
    harness.deliver()
    found: dict[str, Any] = harness.call("GET", f"/v1/subscriptions/{paid['subscription']}")[2]
    return found


def renew(harness: Harness, sub_id: str) -> Any:
    """The renewal's invoice, or what the control answered when the subscription ended."""
    status, _, renewed = harness.call("POST", f"/_standin/subscriptions/{sub_id}/advance", key=None)
    assert status == 200, renewed
    if renewed.get("invoice") is None:
        return renewed
    return harness.call("GET", f"/v1/invoices/{renewed['invoice']}")[2]


def update_error(harness: Harness, sub_id: str, body: str) -> dict[str, Any]:
    status, _, answer = harness.call("POST", f"/v1/subscriptions/{sub_id}", body)
    assert status == 400, answer
    error: dict[str, Any] = answer["error"]
    return error


@pytest.mark.parametrize("proration", ["none", "create_prorations", "always_invoice"])
def test_a_plan_change_is_billed_from_the_next_renewal(
    client: stripe.StripeClient, harness: Harness, sub: dict[str, Any], proration: str
) -> None:
    item_id = sub["items"]["data"][0]["id"]
    params: SubscriptionUpdateParams = {
        "items": [{"id": item_id, "price": "price_team", "quantity": 3}],
        "proration_behavior": proration,
    }
    updated = client.v1.subscriptions.update(sub["id"], params=params)
    item = updated["items"].data[0]
    assert (item.id, item.price.id, item.plan.id, item.quantity) == (
        item_id,
        "price_team",
        "price_team",
        3,
    )
    assert updated.latest_invoice == sub["latest_invoice"]  # nothing billed now
    assert harness.deliver() == ["customer.subscription.updated"]
    previous = harness.outbox.events()[-1]["data"]["previous_attributes"]
    assert set(previous) == {"items"}
    assert previous["items"]["data"][0]["price"]["id"] == "price_123"
    assert previous["items"]["data"][0]["quantity"] == 1
    invoice = renew(harness, sub["id"])
    assert (invoice["subtotal"], invoice["amount_paid"]) == (8700, 8700)
    assert invoice["lines"]["data"][0]["pricing"]["price_details"]["price"] == "price_team"


def test_a_quantity_alone_changes(harness: Harness, sub: dict[str, Any]) -> None:
    item_id = sub["items"]["data"][0]["id"]
    status, _, updated = harness.call(
        "POST", f"/v1/subscriptions/{sub['id']}", f"items[0][id]={item_id}&items[0][quantity]=2"
    )
    assert (status, updated["items"]["data"][0]["quantity"]) == (200, 2)
    assert updated["items"]["data"][0]["price"]["id"] == "price_123"
    assert renew(harness, sub["id"])["amount_due"] == 1800


@pytest.mark.parametrize(
    ("items", "param", "message"),
    [
        (
            "items[0][price]=price_eur",
            "items[0][price]",
            "The price specified only supports `eur`. This doesn't match the expected "
            "currency: `usd`.",
        ),
        ("items[0][price]=price_gone", "items[0][price]", "inactive"),
        ("items[0][price]=price_once", "items[0][price]", "type=one_time"),
        ("items[0][price]=price_missing", "items[0][price]", "No such price"),
        ("items[0][quantity]=-1", "items[0][quantity]", "greater than or equal to 0"),
    ],
)
def test_a_price_stripe_would_refuse_is_refused(
    harness: Harness, sub: dict[str, Any], items: str, param: str, message: str
) -> None:
    item_id = sub["items"]["data"][0]["id"]
    error = update_error(harness, sub["id"], f"items[0][id]={item_id}&{items}")
    assert error["param"] == param
    assert message in error["message"]
    assert harness.deliver() == []
    again = harness.call("GET", f"/v1/subscriptions/{sub['id']}")[2]
    assert again["items"] == sub["items"]


def test_the_item_must_be_the_subscriptions_own(harness: Harness, sub: dict[str, Any]) -> None:
    error = update_error(harness, sub["id"], "items[0][id]=si_other&items[0][quantity]=2")
    assert (error["param"], error["code"]) == ("items[0][id]", "resource_missing")
    assert update_error(harness, sub["id"], "items[0][price]=price_team")["param"] == "items[0][id]"


def test_cancel_at_a_time_leaves_cancel_at_period_end_false(
    client: stripe.StripeClient, harness: Harness, sub: dict[str, Any]
) -> None:
    harness.clock.now += 100
    when = START + 10 * 86_400
    updated = client.v1.subscriptions.update(sub["id"], params={"cancel_at": when})
    assert (updated.cancel_at, updated.cancel_at_period_end, updated.canceled_at) == (
        when,
        False,
        START + 100,
    )
    assert updated.cancellation_details is not None
    assert updated.cancellation_details.reason == "cancellation_requested"
    assert harness.deliver() == ["customer.subscription.updated"]
    assert harness.outbox.events()[-1]["data"]["previous_attributes"] == {
        "cancel_at": None,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
    }
    kept = client.v1.subscriptions.update(sub["id"], params={"cancel_at": ""})
    assert (kept.cancel_at, kept.canceled_at, kept.status) == (None, None, "active")
    at_end = client.v1.subscriptions.update(sub["id"], params={"cancel_at": "max_period_end"})
    assert (at_end.cancel_at, at_end.cancel_at_period_end) == (FEBRUARY_1, False)


def test_a_subscription_ends_at_the_renewal_its_cancel_at_falls_before(
    harness: Harness, sub: dict[str, Any]
) -> None:
    harness.call("POST", f"/v1/subscriptions/{sub['id']}", f"cancel_at={START + 86_400}")
    harness.deliver()
    assert renew(harness, sub["id"])["status"] == "canceled"
    assert harness.deliver() == ["customer.subscription.deleted"]


def test_a_later_cancel_at_lets_renewals_happen(harness: Harness, sub: dict[str, Any]) -> None:
    harness.call("POST", f"/v1/subscriptions/{sub['id']}", f"cancel_at={FEBRUARY_1 + 86_400}")
    assert renew(harness, sub["id"])["status"] == "paid"
    assert renew(harness, sub["id"])["status"] == "canceled"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ("cancel_at=1&cancel_at_period_end=true", "cancel_at", "parameters_exclusive"),
        (f"cancel_at={START}", "cancel_at", None),
        ("cancel_at=tomorrow", "cancel_at", None),
        ("items[0][id]=si_x&items[1][id]=si_y", "items", None),
        ("proration_behavior=sometimes", "proration_behavior", None),
    ],
)
def test_update_refuses_bad_parameters(
    harness: Harness, sub: dict[str, Any], body: str, param: str, code: str | None
) -> None:
    error = update_error(harness, sub["id"], body)
    assert (error["param"], error.get("code")) == (param, code)


def test_a_coupon_is_added_then_removed(
    client: stripe.StripeClient, harness: Harness, sub: dict[str, Any]
) -> None:
    client.v1.coupons.create(params={"id": "TEN", "percent_off": 10, "duration": "forever"})
    harness.deliver()
    updated = client.v1.subscriptions.update(
        sub["id"], params={"discounts": [{"coupon": "TEN"}], "expand": ["discounts"]}
    )
    [discount] = updated.discounts
    assert isinstance(discount, stripe.Discount)
    assert (discount.source.coupon, discount.subscription, discount.end) == ("TEN", sub["id"], None)
    assert harness.deliver() == ["customer.subscription.updated", "customer.discount.created"]
    assert harness.outbox.events()[-2]["data"]["previous_attributes"] == {"discounts": []}
    assert renew(harness, sub["id"])["total"] == 810
    harness.deliver()

    removed = client.v1.subscriptions.update(sub["id"], params={"discounts": ""})
    assert removed.discounts == []
    assert harness.deliver() == ["customer.subscription.updated", "customer.discount.deleted"]
    assert harness.outbox.events()[-1]["data"]["object"]["id"] == discount.id
    assert renew(harness, sub["id"])["total"] == 900


def test_a_coupon_in_another_currency_is_refused(harness: Harness, sub: dict[str, Any]) -> None:
    harness.call("POST", "/v1/coupons", "id=EUR&amount_off=100&currency=eur")
    error = update_error(harness, sub["id"], "discounts[0][coupon]=EUR")
    assert error["param"] == "discounts[0][coupon]"


def test_one_update_is_one_event_and_a_canceled_one_keeps_only_metadata(
    harness: Harness, sub: dict[str, Any]
) -> None:
    path = f"/v1/subscriptions/{sub['id']}"
    harness.call("POST", path, "cancel_at_period_end=true&metadata[why]=price")
    assert harness.deliver() == ["customer.subscription.updated"]
    harness.call("DELETE", path)
    harness.deliver()
    assert harness.call("POST", path, "metadata[after]=yes")[0] == 200
    item_id = sub["items"]["data"][0]["id"]
    error = update_error(harness, sub["id"], f"items[0][id]={item_id}&items[0][quantity]=2")
    assert "canceled subscription" in error["message"]
