"""``POST /v1/subscriptions/{id}``: what a customer or the service changes on a subscription.

Besides ``metadata``: when it ends (``cancel_at_period_end``, or a ``cancel_at`` time, which
leaves ``cancel_at_period_end`` false as in this API version, or ``""`` to keep it going), its
one item's price and quantity (``items[0][id]`` with ``items[0][price]`` and/or
``items[0][quantity]``; the next renewal bills them), and its discount (``discounts[0][coupon]``,
or ``discounts=""`` to remove it). ``proration_behavior`` is taken, but nothing is billed before
the next renewal whatever it says. One ``customer.subscription.updated`` carries every change
(``previous_attributes``), then ``customer.discount.deleted`` / ``created`` for the discounts.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from billing_devstack.stripe_standin import objects
from billing_devstack.stripe_standin.coupons import Coupons
from billing_devstack.stripe_standin.errors import inactive_price, invalid, missing, no_such
from billing_devstack.stripe_standin.events import EventLog, changed
from billing_devstack.stripe_standin.flows import Flows
from billing_devstack.stripe_standin.schema import (
    BOOLEAN,
    EXPAND,
    METADATA,
    STRING,
    UNSETTABLE_STRING,
    ListOf,
    Scalar,
    Spec,
    check,
    choice,
)
from billing_devstack.stripe_standin.store import Obj, Store

SUBSCRIPTION_UPDATE: Mapping[str, Spec] = {
    **EXPAND,
    "cancel_at_period_end": BOOLEAN,
    "cancel_at": UNSETTABLE_STRING,  # a timestamp, min_period_end, max_period_end, or ""
    "items": ListOf({"id": STRING, "price": STRING, "quantity": Scalar("integer", minimum=0)}),
    "proration_behavior": choice("always_invoice", "create_prorations", "none"),
    "discounts": ListOf({"coupon": STRING}),
    "metadata": METADATA,
}
# Besides these, a canceled subscription refuses every change, as at Stripe.
_ALWAYS_CHANGEABLE = frozenset({"expand", "metadata"})
_PERIOD_ENDS = ("min_period_end", "max_period_end")


class SubscriptionUpdates:
    """Applies ``POST /v1/subscriptions/{id}`` and emits its events."""

    def __init__(
        self,
        store: Store,
        events: EventLog,
        flows: Flows,
        coupons: Coupons,
        clock: Callable[[], int],
    ) -> None:
        self._store = store
        self._events = events
        self._flows = flows
        self._coupons = coupons
        self._clock = clock

    def update(self, sub_id: str, raw: Mapping[str, Any]) -> tuple[Obj, Mapping[str, Any]]:
        """The subscription once changed, and the checked parameters (for ``expand``)."""
        params = check(raw, SUBSCRIPTION_UPDATE)
        sub = self._store.get("subscription", sub_id)
        if params.keys() - _ALWAYS_CHANGEABLE:
            sub = self._flows.live_subscription(sub_id)
        before = copy.deepcopy(sub)
        self._cancellation(sub, params)
        if "items" in params:
            self._change_item(sub, params["items"])
        discount_events = self._discounts(sub, params["discounts"]) if "discounts" in params else []
        objects.update_metadata(sub, raw, params)
        if sub != before:
            self._events.emit("customer.subscription.updated", sub, changed(before, sub))
        for event_type, discount in discount_events:
            self._events.emit(event_type, discount)
        return sub, params

    def _cancellation(self, sub: Obj, params: Mapping[str, Any]) -> None:
        at_period_end = params.get("cancel_at_period_end")
        if "cancel_at" in params and at_period_end:
            raise invalid(
                "You may only specify one of these parameters: cancel_at, cancel_at_period_end.",
                code="parameters_exclusive",
                param="cancel_at",
            )
        period_end = sub["items"]["data"][0]["current_period_end"]
        if "cancel_at" in params:
            when = _cancel_time(params["cancel_at"], period_end, self._clock())
            self._flows.schedule_cancel(sub, when, at_period_end=False)
        elif at_period_end and not sub["cancel_at_period_end"]:
            self._flows.schedule_cancel(sub, period_end, at_period_end=True)
        elif at_period_end is False and sub["cancel_at_period_end"]:
            self._flows.schedule_cancel(sub, None, at_period_end=False)

    def _change_item(self, sub: Obj, changes: list[dict[str, Any]]) -> None:
        """A new price and/or quantity for the subscription's one item."""
        if len(changes) != 1:
            raise invalid("The Stripe stand-in takes one item per subscription.", param="items")
        change, item = changes[0], sub["items"]["data"][0]
        if "id" not in change:
            raise invalid(
                "The Stripe stand-in takes one item per subscription: give items[0][id] to "
                "change it.",
                param="items[0][id]",
            )
        if change["id"] != item["id"]:
            raise no_such("subscription_item", change["id"], "items[0][id]")
        if "price" in change:
            price = self._store.get("price", change["price"], param="items[0][price]")
            _check_price(price, sub["currency"])
            item.update(price=copy.deepcopy(price), plan=objects.plan_of(price))
        if "quantity" in change:
            item["quantity"] = change["quantity"]

    def _discounts(self, sub: Obj, wanted: list[dict[str, str]]) -> list[tuple[str, Obj]]:
        """Replace the subscription's discounts by ``wanted``'s (none: remove them); the
        discount events that follow the update."""
        if len(wanted) > 1:
            raise invalid(
                "The Stripe stand-in takes one discount per subscription.", param="discounts"
            )
        coupons = []
        for index, entry in enumerate(wanted):
            param = f"discounts[{index}][coupon]"
            if "coupon" not in entry:
                raise missing(param)
            coupons.append(self._coupons.redeemable(entry["coupon"], param, sub["currency"]))
        events = [
            ("customer.discount.deleted", self._store.get("discount", discount_id))
            for discount_id in sub["discounts"]
        ]
        added = [self._coupons.apply(coupon, sub["customer"], sub["id"]) for coupon in coupons]
        sub["discounts"] = [discount["id"] for discount in added]
        return events + [("customer.discount.created", discount) for discount in added]


def _check_price(price: Obj, currency: str) -> None:
    """A subscription's new price: active, recurring, in the subscription's currency."""
    param = "items[0][price]"
    if not price["active"]:
        raise inactive_price(param)
    if price["type"] != "recurring":
        raise invalid(
            "The price specified is set to `type=one_time` but this field only accepts prices "
            "with `type=recurring`.",
            param=param,
        )
    if price["currency"] != currency:
        raise invalid(
            f"The price specified only supports `{price['currency']}`. This doesn't match the "
            f"expected currency: `{currency}`.",
            param=param,
        )


def _cancel_time(value: str, period_end: int, now: int) -> int | None:
    """``cancel_at``: ``""`` (keep going), a future timestamp, or the period's end (one item:
    ``min_period_end`` and ``max_period_end`` are the same)."""
    if value == "":
        return None
    if value in _PERIOD_ENDS:
        return period_end
    try:
        when = int(value)
    except ValueError:
        raise invalid(
            f"Invalid cancel_at: must be a timestamp, {' or '.join(_PERIOD_ENDS)}",
            param="cancel_at",
        ) from None
    if when <= now:
        raise invalid("cancel_at must be in the future.", param="cancel_at")
    return when
