"""What a subscription fact keeps from Stripe for the metrics: each item's price (amount,
currency, interval) and the discounts with their coupons, in the current and older shapes."""

from __future__ import annotations

import copy
from typing import Any

from billing.adapters.dynamo.ledger import fact_from_json, fact_to_json
from billing.domain.billing_facts import (
    Owner,
    RecurringPrice,
    SubscriptionDiscount,
    discounts_known,
    invoice_paid,
    subscription_fact,
)
from billing.domain.stripe_reads import as_event
from tests.support import stripe_events as se

OWNER = Owner("1", "user_42")
T0 = 1_790_000_000


def coupon(**terms: Any) -> dict[str, Any]:
    found = se.fixture("coupon")
    found.update({"percent_off": None, "amount_off": None, "currency": None, **terms})
    return found


def discount(
    discount_id: str, coupon_obj: dict[str, Any] | str, start: int, end: int | None
) -> dict[str, Any]:
    found = se.fixture("discount")
    found.update(
        id=discount_id, start=start, end=end, source={"type": "coupon", "coupon": coupon_obj}
    )
    return found


def fact_of(obj: dict[str, Any], created: int = T0, old: Any = None) -> Any:
    return subscription_fact(
        as_event("customer.subscription.updated", obj, created, "evt_1"), OWNER, old
    )


def test_each_items_price_is_kept_as_stripe_says_it() -> None:
    obj = se.subscription(prices=("price_a", "price_b"), quantities=(3, 1))
    obj["items"]["data"][0]["price"].update(unit_amount=1200, currency="EUR")
    obj["items"]["data"][0]["price"]["recurring"].update(interval="week", interval_count=2)
    obj["items"]["data"][1]["price"].update(unit_amount=None, billing_scheme="tiered")
    fact = fact_of(obj)
    assert fact.price_ids == ("price_a", "price_b")
    assert fact.quantities == (3, 1)
    assert fact.terms == (RecurringPrice(1200, "eur", "week", 2), None)
    assert fact.period_start == 1_700_000_000


def test_an_older_payloads_plan_gives_the_terms() -> None:
    obj = se.subscription(legacy=True)
    obj["plan"].update(amount=900, currency="usd", interval="year", interval_count=1,
                       billing_scheme="per_unit")  # fmt: skip
    for item in obj["items"]["data"]:
        del item["price"]
        item["plan"] = copy.deepcopy(obj["plan"])
    assert fact_of(obj).terms == (RecurringPrice(900, "usd", "year", 1),)


def test_discount_ids_alone_are_unknown_until_stripe_is_read() -> None:
    obj = se.subscription()
    obj["discounts"] = ["di_1"]
    fact = fact_of(obj)
    assert fact.discounts == (SubscriptionDiscount("di_1"),)
    assert not discounts_known(fact)


def test_an_expanded_discount_carries_its_coupon() -> None:
    obj = se.subscription()
    obj["discounts"] = [
        discount("di_1", coupon(percent_off=25.5, duration="repeating"), T0, T0 + 90 * 86_400),
        discount("di_2", coupon(amount_off=300, currency="USD", duration="once"), T0, None),
    ]
    fact = fact_of(obj)
    assert fact.discounts == (
        SubscriptionDiscount("di_1", "repeating", T0, T0 + 90 * 86_400, "25.5"),
        SubscriptionDiscount("di_2", "once", T0, None, None, 300, "usd"),
    )
    assert discounts_known(fact)


def test_the_same_ids_keep_what_was_known_and_a_new_id_is_unknown() -> None:
    obj = se.subscription()
    obj["discounts"] = [discount("di_1", coupon(percent_off=50, duration="forever"), T0, None)]
    known = fact_of(obj)
    obj["discounts"] = ["di_1"]
    assert fact_of(obj, T0 + 10, known).discounts == known.discounts
    obj["discounts"] = ["di_1", "di_2"]
    later = fact_of(obj, T0 + 20, known)
    assert later.discounts == (known.discounts[0], SubscriptionDiscount("di_2"))
    assert not discounts_known(later)
    obj["discounts"] = []
    assert fact_of(obj, T0 + 30, later).discounts == ()


def test_the_older_singular_discount_with_its_embedded_coupon_is_read() -> None:
    obj = se.subscription()
    obj.pop("discounts")
    legacy = discount("di_old", "unused", T0, None)
    del legacy["source"]
    legacy["coupon"] = coupon(percent_off=10, duration="forever")
    obj["discount"] = legacy
    assert fact_of(obj).discounts == (SubscriptionDiscount("di_old", "forever", T0, None, "10"),)


def test_a_paid_renewal_moves_the_period_start_and_keeps_prices_and_discounts() -> None:
    obj = se.subscription(period_end=T0 + 30 * 86_400)
    obj["discounts"] = [discount("di_1", coupon(percent_off=50, duration="forever"), T0, None)]
    fact = fact_of(obj)
    renewal = se.invoice(period_end=T0 + 60 * 86_400)
    renewed = invoice_paid(as_event("invoice.paid", renewal, T0 + 30 * 86_400, "evt_2"), fact)
    assert renewed.period_start == T0 + 30 * 86_400
    assert (renewed.terms, renewed.discounts) == (fact.terms, fact.discounts)


def test_the_fact_round_trips_through_its_stored_json() -> None:
    obj = se.subscription(prices=("price_a", "price_b"))
    obj["items"]["data"][1]["price"]["recurring"] = None
    obj["discounts"] = [
        discount("di_1", coupon(percent_off=12.5, duration="forever"), T0, None),
        "di_unknown",
    ]
    fact = fact_of(obj)
    assert fact.terms[1] is None
    assert fact_from_json(fact_to_json(fact)) == fact
