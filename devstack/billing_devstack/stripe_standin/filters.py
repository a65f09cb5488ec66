"""The filters of each list endpoint (``GET /v1/subscriptions?status=all&customer=...``).

A filter is a parameter name plus a predicate over one stored object. Most compare a field
with the parameter's value; the few that Stripe defines differently (a subscription's default
status, an invoice's subscription, event type wildcards) are written out below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from billing_devstack.stripe_standin.errors import missing
from billing_devstack.stripe_standin.schema import (
    BOOLEAN,
    LIST_PAGING,
    RANGE,
    STRING,
    ListOf,
    Spec,
    choice,
    in_range,
)
from billing_devstack.stripe_standin.store import Filter, Obj

_SUBSCRIPTION_STATUSES = (
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)

# kind -> the filter parameters of its list endpoint (besides limit, cursors and expand).
_FILTERS: Mapping[str, Mapping[str, Spec]] = {
    "customer": {"email": STRING, "created": RANGE},
    "product": {"active": BOOLEAN, "ids": ListOf(STRING), "created": RANGE},
    "price": {
        "active": BOOLEAN,
        "currency": STRING,
        "product": STRING,
        "type": choice("one_time", "recurring"),
        "lookup_keys": ListOf(STRING),
        "created": RANGE,
    },
    "checkout.session": {
        "customer": STRING,
        "subscription": STRING,
        "payment_intent": STRING,
        "status": choice("complete", "expired", "open"),
        "created": RANGE,
    },
    "subscription": {
        "customer": STRING,
        "price": STRING,
        "status": choice(*_SUBSCRIPTION_STATUSES),
        "created": RANGE,
    },
    "invoice": {
        "customer": STRING,
        "subscription": STRING,
        "status": choice("draft", "open", "paid", "uncollectible", "void"),
        "created": RANGE,
    },
    "payment_intent": {"customer": STRING, "created": RANGE},
    "charge": {"customer": STRING, "payment_intent": STRING, "created": RANGE},
    "refund": {"charge": STRING, "payment_intent": STRING, "created": RANGE},
    "dispute": {"charge": STRING, "payment_intent": STRING, "created": RANGE},
    "coupon": {"created": RANGE},
    "invoice_payment": {
        "invoice": STRING,
        "payment": {
            "type": choice("payment_intent", "payment_record"),
            "payment_intent": STRING,
            "payment_record": STRING,
        },
        "status": choice("canceled", "open", "paid"),
        "created": RANGE,
    },
    "event": {"type": STRING, "types": ListOf(STRING), "created": RANGE},
    "billing.meter": {"status": choice("active", "inactive")},
}


def list_schema(kind: str) -> Mapping[str, Spec]:
    """Everything ``GET /v1/<kind>s`` accepts."""
    return {**LIST_PAGING, **_FILTERS[kind]}


def list_filters(kind: str, params: Mapping[str, Any]) -> list[Filter]:
    """One predicate per filter parameter given, plus the filters Stripe applies by default."""
    filters = [_filter(kind, name, params[name]) for name in _FILTERS[kind] if name in params]
    if kind == "subscription" and "status" not in params:
        filters.append(lambda sub: sub["status"] != "canceled")  # Stripe's default view
    return filters


def _filter(kind: str, name: str, value: Any) -> Filter:
    special = _SPECIAL.get((kind, name)) or _SPECIAL.get(("*", name))
    if special is not None:
        return special(value)
    return lambda obj: obj.get(name) == value


def _created(bounds: Mapping[str, int]) -> Filter:
    return lambda obj: in_range(int(obj["created"]), bounds)


def _subscription_status(status: str) -> Filter:
    if status == "all":
        return lambda _sub: True
    if status == "ended":
        return lambda sub: sub["status"] in ("canceled", "incomplete_expired")
    return lambda sub: sub["status"] == status


def _subscription_price(price_id: str) -> Filter:
    return lambda sub: any(item["price"]["id"] == price_id for item in sub["items"]["data"])


def _invoice_subscription(sub_id: str) -> Filter:
    """Invoices name their subscription under ``parent`` in this API version."""

    def keep(invoice: Obj) -> bool:
        details = (invoice.get("parent") or {}).get("subscription_details") or {}
        return bool(details.get("subscription") == sub_id)

    return keep


def _invoice_payment(wanted: Mapping[str, str]) -> Filter:
    """``payment[type]`` (required, as at Stripe) and that payment's id."""
    if "type" not in wanted:
        raise missing("payment[type]")
    return lambda payment: all(
        payment["payment"].get(key) == value for key, value in wanted.items()
    )


def _event_type(pattern: str) -> Filter:
    """``customer.subscription.*`` matches every type under that prefix, as in Stripe."""
    if pattern.endswith(".*"):
        prefix = pattern[:-1]
        return lambda event: str(event["type"]).startswith(prefix)
    return lambda event: event["type"] == pattern


def _event_types(types: list[str]) -> Filter:
    return lambda event: event["type"] in types


def _ids(ids: list[str]) -> Filter:
    return lambda obj: obj["id"] in ids


def _lookup_keys(keys: list[str]) -> Filter:
    return lambda price: price["lookup_key"] in keys


_SPECIAL: Mapping[tuple[str, str], Callable[[Any], Filter]] = {
    ("*", "created"): _created,
    ("subscription", "status"): _subscription_status,
    ("subscription", "price"): _subscription_price,
    ("invoice", "subscription"): _invoice_subscription,
    ("invoice_payment", "payment"): _invoice_payment,
    ("event", "type"): _event_type,
    ("event", "types"): _event_types,
    ("price", "lookup_keys"): _lookup_keys,
    ("product", "ids"): _ids,
}
