"""The shape of the Stripe objects the engine reads, checked before it reads them.

A delivery signed with the endpoint's secret is Stripe's, but its object is still data: a field
of another type than Stripe gives (``items: "x"``, ``lines: 5``, metadata that is a list) must
not crash the engine into retries and the dead-letter queue, nor be read as something it is
not (a subscription without a ``status`` is no ``incomplete`` one). So each field the engine
reads has the type Stripe's API reference gives it, wherever it appears: one table for every
object kind, since the engine looks for the same names (``id``, ``customer``, ``items``,
``lines``, ``metadata``...) in any event's object, and one for a subscription's own fields
whose type differs between kinds (``discounts``). Absent and ``null`` fields pass (Stripe
leaves many out or null, older API versions more), null elements of an array do not; a field
that is there with another type, or a subscription without a known status, makes the object
malformed. Fields the engine does not read are not looked at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Stripe's subscription statuses (API reference, Subscription.status).
SUBSCRIPTION_STATUSES = frozenset(
    {
        "incomplete",
        "incomplete_expired",
        "trialing",
        "active",
        "past_due",
        "canceled",
        "unpaid",
        "paused",
    }
)


@dataclass(frozen=True)
class Obj:
    """An object with these fields (each may be absent or null)."""

    fields: Mapping[str, Spec]


@dataclass(frozen=True)
class ListOf:
    """An array whose every element has this shape."""

    element: Spec


@dataclass(frozen=True)
class Ref:
    """An expandable field: an id, or the object expanded (with a string ``id``)."""

    expanded: Obj | None = None


Spec = type | tuple[type, ...] | Obj | ListOf | Ref


def _listed(element: Spec) -> Obj:
    """A Stripe list object (``{"object": "list", "data": [...]}``)."""
    return Obj({"data": ListOf(element)})


# A metadata object's values are strings at Stripe; the engine reads only string values of it,
# so any value passes, but the object must be one.
METADATA = Obj({})
_COUPON = Obj(
    {
        "duration": str,
        "percent_off": (int, float, str),
        "amount_off": int,
        "currency": str,
    }
)
_DISCOUNT = Obj(
    {
        "id": str,
        "start": int,
        "end": int,
        "coupon": _COUPON,
        "source": Obj({"coupon": Ref(_COUPON)}),
    }
)
_RECURRING_PRICE = Obj(
    {
        "id": str,
        "unit_amount": int,
        "currency": str,
        "recurring": Obj({"interval": str, "interval_count": int}),
    }
)
_PLAN = Obj(
    {
        "id": str,
        "amount": int,
        "currency": str,
        "interval": str,
        "interval_count": int,
        "billing_scheme": str,
    }
)
_SUBSCRIPTION_ITEM = Obj(
    {
        "price": Ref(_RECURRING_PRICE),
        "plan": Ref(_PLAN),
        "quantity": int,
        "current_period_start": int,
        "current_period_end": int,
    }
)
_STATUS_TRANSITIONS = Obj({"finalized_at": int, "paid_at": int})
_INVOICE_LINE = Obj(
    {
        "period": Obj({"start": int, "end": int}),
        "pricing": Obj({"price_details": Obj({"price": Ref()})}),
        "price": Ref(),
    }
)

# Every field the engine reads in an event's object, with Stripe's type for it, whatever the
# object's kind (the engine looks for items and lines in every object).
OBJECT_FIELDS: Obj = Obj(
    {
        "id": str,
        "object": str,
        "status": str,
        "created": int,
        "customer": Ref(),
        "metadata": METADATA,
        # subscriptions
        "items": _listed(_SUBSCRIPTION_ITEM),
        "plan": Ref(_PLAN),
        "quantity": int,
        "current_period_start": int,
        "current_period_end": int,
        "start_date": int,
        "ended_at": int,
        "cancel_at": int,
        "cancel_at_period_end": bool,
        "trial_end": int,
        "latest_invoice": Ref(Obj({"status": str, "status_transitions": _STATUS_TRANSITIONS})),
        # invoices
        "subscription": Ref(),
        "parent": Obj({"subscription_details": Obj({"subscription": Ref(), "metadata": METADATA})}),
        "lines": _listed(_INVOICE_LINE),
        "period_start": int,
        "period_end": int,
        "amount_paid": int,
        "currency": str,
        "status_transitions": _STATUS_TRANSITIONS,
        "payments": _listed(Obj({"status": str, "payment": Obj({"payment_intent": Ref()})})),
        # checkout sessions, payment intents, charges, refunds, disputes
        "mode": str,
        "payment_status": str,
        "payment_intent": Ref(),
        "amount_total": int,
        "amount": int,
        "amount_refunded": int,
        "paid": bool,
        "invoice": Ref(),
        "charge": Ref(),
    }
)


def _type_name(expected: type | tuple[type, ...]) -> str:
    kinds = expected if isinstance(expected, tuple) else (expected,)
    names = {str: "a string", int: "an integer", bool: "a boolean", float: "a number"}
    return " or ".join(names.get(kind, kind.__name__) for kind in kinds)


def _scalar_problem(value: Any, expected: type | tuple[type, ...]) -> str | None:
    kinds = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in kinds:
        return f"must be {_type_name(expected)}"  # JSON true is no integer
    if int in kinds and isinstance(value, int):
        return None
    if not isinstance(value, kinds):
        return f"must be {_type_name(expected)}"
    return None


def _ref_problem(value: Any, spec: Ref, path: str) -> tuple[str, str] | None:
    if isinstance(value, str):
        return None
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        return path, "must be an id or an object with a string id"
    return shape_problem(value, spec.expanded, path) if spec.expanded else None


def _list_problem(value: Any, spec: ListOf, path: str) -> tuple[str, str] | None:
    if not isinstance(value, list):
        return path, "must be an array"
    for index, element in enumerate(value):
        at = f"{path}[{index}]"
        if element is None:  # Stripe's arrays hold no nulls
            return at, "must not be null"
        if found := shape_problem(element, spec.element, at):
            return found
    return None


def _object_fields_problem(value: Any, spec: Obj, path: str) -> tuple[str, str] | None:
    if not isinstance(value, dict):
        return path, "must be an object"
    for name, field_spec in spec.fields.items():
        if name in value:
            at = f"{path}.{name}" if path else name
            if found := shape_problem(value[name], field_spec, at):
                return found
    return None


def shape_problem(value: Any, spec: Spec, path: str) -> tuple[str, str] | None:
    """The first field of ``value`` (at ``path``) that does not have ``spec``'s shape, and
    why; None when it has it."""
    if value is None:
        return None
    if isinstance(spec, Ref):
        return _ref_problem(value, spec, path)
    if isinstance(spec, ListOf):
        return _list_problem(value, spec, path)
    if isinstance(spec, Obj):
        return _object_fields_problem(value, spec, path)
    problem = _scalar_problem(value, spec)
    return (path, problem) if problem else None


# Fields the engine reads in a subscription only, whose type differs between kinds (a
# Checkout Session's ``discounts`` are ``{coupon, promotion_code}``, with no id).
SUBSCRIPTION_FIELDS: Obj = Obj({"discounts": ListOf(Ref(_DISCOUNT)), "discount": _DISCOUNT})
SUBSCRIPTION_EVENTS = "customer.subscription."


def object_problem(event_type: str, obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """Why an event's object cannot be read as Stripe's (the field, the reason), or None.
    Beside the types: every object has a string ``id``, and a subscription one of Stripe's
    statuses (a payload without one would otherwise read as ``incomplete``)."""
    if not isinstance(obj.get("id"), str) or not obj["id"]:
        return "data.object.id", "must be a non-empty string"
    subscription = event_type.startswith(SUBSCRIPTION_EVENTS)
    for fields in (OBJECT_FIELDS, SUBSCRIPTION_FIELDS) if subscription else (OBJECT_FIELDS,):
        if found := shape_problem(obj, fields, ""):
            field, reason = found
            return f"data.object.{field}", reason
    if subscription and obj.get("status") not in SUBSCRIPTION_STATUSES:
        return "data.object.status", "must be one of Stripe's subscription statuses"
    return None


# Stripe's first events are from 2011; an event is never dated after it is sent, give or take
# the clocks' skew (the signature's own tolerance, 5 minutes).
STRIPE_EPOCH = 1_293_840_000  # 2011-01-01T00:00:00Z
CLOCK_SKEW_SECONDS = 300


def event_time_problem(created: int, now: int) -> tuple[str, str] | None:
    """Why an event's ``created`` cannot be Stripe's, or None. Versions are event times: one
    dated in the future would outrank every real event after it (access frozen), one dated
    1970 would date a subscription's history back to then; the engine reads such an event's
    objects from Stripe instead. (A Stripe test clock dates its objects and events in its own
    time: they are read too, and Stripe's answer holds.)"""
    if created < STRIPE_EPOCH:
        return "created", "is before any Stripe event (2011)"
    if created > now + CLOCK_SKEW_SECONDS:
        return "created", "is in the future"
    return None
