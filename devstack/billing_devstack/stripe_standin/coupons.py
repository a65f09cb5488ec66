"""Coupons (``/v1/coupons``) and the discounts they give.

A coupon says how much (``percent_off``, or ``amount_off`` in one ``currency``) and for how
long (``duration``): ``once`` (the first invoice it takes something off), ``repeating``
(``duration_in_months`` from when it was applied: the discount's ``end``) or ``forever``.
Applying one to a subscription makes a discount (``di_...``) that the subscription lists in
``discounts`` and each invoice it takes something off names in ``discounts`` and
``total_discount_amounts``. Each redemption counts in ``times_redeemed``; a coupon past its
``redeem_by`` or at its ``max_redemptions`` is no longer ``valid`` and cannot be applied. A
deleted coupon cannot be applied either, but discounts already made from it go on, as at Stripe.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from billing_devstack.stripe_standin import objects
from billing_devstack.stripe_standin.errors import StripeError, invalid, missing
from billing_devstack.stripe_standin.events import EventLog
from billing_devstack.stripe_standin.periods import add_interval
from billing_devstack.stripe_standin.schema import (
    EXPAND,
    INTEGER,
    METADATA,
    NUMBER,
    STRING,
    Scalar,
    Spec,
    check,
    choice,
)
from billing_devstack.stripe_standin.store import Obj, Store, new_id

MAX_NAME_LENGTH = 40
MAX_PERCENT_OFF = 100
_COUPON: Mapping[str, Spec] = {
    **EXPAND,
    "id": STRING,
    "percent_off": NUMBER,
    "amount_off": Scalar("integer", minimum=1),
    "currency": STRING,
    "duration": choice("forever", "once", "repeating"),
    "duration_in_months": Scalar("integer", minimum=1),
    "name": STRING,
    "metadata": METADATA,
    "max_redemptions": Scalar("integer", minimum=1),
    "redeem_by": INTEGER,
}
_COUPON_NOTE = "coupon"  # a discount's coupon as applied (it outlives the coupon's deletion)
_USED = "used"  # a ``once`` discount that took something off an invoice


def amount_off(coupon: Obj, amount: int) -> int:
    """What ``coupon`` takes off ``amount`` (never more than it); percentages round half up,
    to the minor unit."""
    if coupon["percent_off"] is not None:
        exact = Decimal(amount) * Decimal(str(coupon["percent_off"])) / 100
        return min(amount, int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)))
    return min(amount, int(coupon["amount_off"]))


class Coupons:
    """Creates and deletes coupons, applies them, and says what discounts take off."""

    def __init__(self, store: Store, events: EventLog, clock: Callable[[], int]) -> None:
        self._store = store
        self._events = events
        self._clock = clock

    # ------------------------------------------------------------------ /v1/coupons
    def create(self, raw: Mapping[str, Any]) -> Obj:
        """``POST /v1/coupons`` (emits ``coupon.created``); the caller may choose the id."""
        params = check(raw, _COUPON)
        _check_terms(params, self._clock())
        coupon_id = params.get("id") or new_id("")[1:9]
        if self._store.has(coupon_id):
            raise StripeError("Coupon already exists.", code="resource_already_exists", param="id")
        coupon = self._store.put(objects.coupon(coupon_id, self._clock(), params))
        self._events.emit("coupon.created", coupon)
        return coupon

    def delete(self, coupon_id: str) -> Obj:
        """``DELETE /v1/coupons/<id>`` (emits ``coupon.deleted``): Stripe's deleted stub."""
        coupon = self._store.get("coupon", coupon_id)
        self._events.emit("coupon.deleted", coupon)
        return self._store.delete("coupon", coupon_id)

    # ------------------------------------------------------------------ applying
    def redeemable(self, coupon_id: str, param: str, currency: str) -> Obj:
        """The coupon, if it can be applied now to what is billed in ``currency``."""
        coupon = self._store.get("coupon", coupon_id, param=param)
        self._refresh(coupon)
        if not coupon["valid"]:
            raise invalid(f"Coupon expired: {coupon_id}", param=param)
        if coupon["amount_off"] is not None and coupon["currency"] != currency:
            raise invalid(
                f"The coupon's currency ({coupon['currency']}) does not match the currency "
                f"of what it is applied to ({currency}).",
                param=param,
            )
        return coupon

    def redeem(self, coupon: Obj) -> None:
        """Count one more use (a completed Checkout Session, a discounted subscription)."""
        coupon["times_redeemed"] += 1
        self._refresh(coupon)

    def apply(self, coupon: Obj, customer_id: str, subscription_id: str) -> Obj:
        """Redeem ``coupon`` for a subscription: its new discount, from now."""
        now = self._clock()
        self.redeem(coupon)
        end = None
        if coupon["duration"] == "repeating":
            end = add_interval(now, "month", coupon["duration_in_months"])
        discount = objects.discount(now, coupon["id"], customer_id, subscription_id, end)
        self._store.note(discount["id"], _COUPON_NOTE, copy.deepcopy(coupon))
        return self._store.put(discount)

    def take_off(self, discount_ids: Sequence[str], amount: int, at: int) -> list[tuple[str, int]]:
        """What each discount in force at ``at`` takes off ``amount`` (one after the other),
        as an invoice lists them; a ``once`` discount is then used up."""
        taken: list[tuple[str, int]] = []
        left = amount
        for discount_id in discount_ids:
            if left and self.in_force(discount_id, at):
                coupon = self._coupon_of(discount_id)
                off = amount_off(coupon, left)
                taken.append((discount_id, off))
                left -= off
                if coupon["duration"] == "once":
                    self._store.note(discount_id, _USED, True)
        return taken

    def in_force(self, discount_id: str, at: int) -> bool:
        """Whether the discount still applies to an invoice for a period starting ``at``."""
        coupon = self._coupon_of(discount_id)
        if coupon["duration"] == "once":
            return not self._store.noted(discount_id, _USED, False)
        end = self._store.get("discount", discount_id)["end"]
        return end is None or at < end

    def _coupon_of(self, discount_id: str) -> Obj:
        coupon: Obj = self._store.noted(discount_id, _COUPON_NOTE)
        return coupon

    def _refresh(self, coupon: Obj) -> None:
        """``valid``: before its ``redeem_by`` and under its ``max_redemptions``."""
        expired = coupon["redeem_by"] is not None and self._clock() > coupon["redeem_by"]
        limit = coupon["max_redemptions"]
        spent = limit is not None and coupon["times_redeemed"] >= limit
        coupon["valid"] = not (expired or spent)


def _check_terms(params: Mapping[str, Any], now: int) -> None:
    """A coupon's terms must make sense, as Stripe checks them (``param`` names the field)."""
    if ("percent_off" in params) == ("amount_off" in params):
        raise invalid(
            "You must pass exactly one of percent_off or amount_off.",
            param="percent_off" if "percent_off" in params else "amount_off",
        )
    percent = params.get("percent_off")
    if percent is not None and not 0 < percent <= MAX_PERCENT_OFF:
        raise invalid("percent_off must be greater than 0 and at most 100.", param="percent_off")
    if "amount_off" in params and "currency" not in params:
        raise missing("currency")
    if "currency" in params and "amount_off" not in params:
        raise invalid("currency may only be given with amount_off.", param="currency")
    repeating = params.get("duration", "once") == "repeating"
    if repeating and "duration_in_months" not in params:
        raise missing("duration_in_months")
    if not repeating and "duration_in_months" in params:
        raise invalid(
            "duration_in_months may only be given when duration is repeating.",
            param="duration_in_months",
        )
    if len(params.get("name", "")) > MAX_NAME_LENGTH:
        raise invalid(f"name must be at most {MAX_NAME_LENGTH} characters.", param="name")
    if "redeem_by" in params and params["redeem_by"] <= now:
        raise invalid("redeem_by must be in the future.", param="redeem_by")
