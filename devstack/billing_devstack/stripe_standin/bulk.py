"""Subscriptions by the thousand, for benchmarks: what an account holds after a migration.

Each subscription is shaped exactly like the one paying a subscription Checkout Session creates
(:meth:`~billing_devstack.stripe_standin.flows.Flows.complete_checkout`: one item with its
period, price and legacy plan, ``active``, a default payment method) with its own customer, but
nothing else happens: no invoice, no payment, no event, as for data imported into Stripe.
Building 100k of them one by one through the objects' builders would spend most of its time
deep-copying Stripe's example shapes and drawing ids a character at a time, so one customer and
one subscription are built that way as prototypes, then copied as plain JSON with ids drawn in
bulk.
"""

from __future__ import annotations

from collections.abc import Mapping

from billing_devstack.stripe_standin import objects
from billing_devstack.stripe_standin.periods import period_after
from billing_devstack.stripe_standin.store import Obj, Store, copy_json, new_ids


def subscription_metadata(
    index: int, user_prefix: str, metadata: Mapping[str, str]
) -> dict[str, str]:
    """The metadata of the ``index``-th subscription (and of its customer): the service's
    ``project_id`` (``"1"`` unless given) and ``user_id``, then the caller's keys."""
    return {
        "project_id": metadata.get("project_id", "1"),
        "user_id": f"{user_prefix}{index}",
        **metadata,
    }


def seed_subscriptions(
    store: Store,
    now: int,
    price: Obj,
    count: int,
    *,
    user_prefix: str,
    metadata: Mapping[str, str],
) -> list[str]:
    """Store ``count`` customers, each with an ``active`` subscription on ``price`` (a
    recurring one) starting ``now``; returns the subscriptions' ids, oldest first."""
    customer_proto, sub_proto = _prototypes(now, price)
    customer_ids, sub_ids = new_ids("cus", count), new_ids("sub", count)
    item_ids, method_ids, prefixes = new_ids("si", count), new_ids("pm", count), new_ids("", count)
    for index in range(count):
        tags = subscription_metadata(index, user_prefix, metadata)
        customer = copy_json(customer_proto)
        customer.update(
            id=customer_ids[index],
            email=f"{tags['user_id']}@example.com",
            invoice_prefix=prefixes[index][1:9].upper(),
            metadata=dict(tags),
        )
        store.put(customer)
        sub = copy_json(sub_proto)
        sub.update(
            id=sub_ids[index],
            customer=customer["id"],
            metadata=tags,
            default_payment_method=method_ids[index],
        )
        sub["items"]["data"][0].update(id=item_ids[index], subscription=sub_ids[index])
        sub["items"]["url"] = f"/v1/subscription_items?subscription={sub_ids[index]}"
        store.put(sub)
    return sub_ids


def _prototypes(now: int, price: Obj) -> tuple[Obj, Obj]:
    """A customer and its subscription as the Checkout flow builds them (ids replaced later)."""
    customer = objects.customer(now, {})
    customer["currency"] = price["currency"]
    item = objects.subscription_item(price, 1, now, period_after(now, price))
    sub = objects.subscription(now, customer["id"], item, {})
    sub["status"] = "active"
    return customer, sub
