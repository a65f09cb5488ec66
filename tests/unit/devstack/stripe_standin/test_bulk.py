"""Bulk seeding (``POST /_standin/subscriptions/bulk``): subscriptions shaped like Checkout's,
with their customers, and nothing else; listed through the real SDK like reconciliation does."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import stripe
from stripe.params import SubscriptionListParams

from billing_devstack.stripe_standin.bulk import subscription_metadata
from tests.unit.devstack.stripe_standin.conftest import Harness
from tests.unit.devstack.stripe_standin.test_flows import control, get, paid_subscription

_ID = re.compile(r"\b(sub|si|cus|pm|in)_[A-Za-z0-9]+")


def masked(value: Any) -> Any:
    """``value`` with every generated id replaced by its prefix: shapes compare equal."""
    if isinstance(value, dict):
        return {key: masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    if isinstance(value, str):
        return _ID.sub(r"\1_*", value)
    return value


def bulk(harness: Harness, body: dict[str, Any]) -> tuple[int, Any]:
    status, _, answer = harness.call(
        "POST", "/_standin/subscriptions/bulk", json.dumps(body), key=None
    )
    return status, answer


def test_a_seeded_subscription_is_shaped_like_a_paid_checkouts(harness: Harness) -> None:
    paid = paid_subscription(harness)
    checkout_sub = get(harness, f"/v1/subscriptions/{paid['subscription']}")
    checkout_customer = get(harness, f"/v1/customers/{paid['customer']}")
    [sub_id] = harness.standin.seed_subscriptions(1, "price_123")
    sub = get(harness, f"/v1/subscriptions/{sub_id}")
    customer = get(harness, f"/v1/customers/{sub['customer']}")

    assert sub["metadata"] == {"project_id": "1", "user_id": "bench-user-0"}
    assert checkout_sub["latest_invoice"].startswith("in_")
    assert sub["latest_invoice"] is None  # imported: no invoice
    for key in ("metadata", "latest_invoice"):
        del checkout_sub[key], sub[key]
    assert masked(sub) == masked(checkout_sub)
    item = sub["items"]["data"][0]
    assert (item["subscription"], item["price"]["id"], item["plan"]["id"]) == (
        sub_id,
        "price_123",
        "price_123",
    )
    assert item["current_period_start"] == int(harness.clock.now)
    assert item["current_period_end"] == item["current_period_start"] + 31 * 86_400
    assert sub["items"]["url"] == f"/v1/subscription_items?subscription={sub_id}"

    assert customer["metadata"] == {"project_id": "1", "user_id": "bench-user-0"}
    assert customer["email"] == "bench-user-0@example.com"
    for key in ("metadata", "email", "invoice_prefix"):
        del checkout_customer[key], customer[key]
    assert masked(customer) == masked(checkout_customer)


def test_the_control_seeds_count_subscriptions_and_nothing_else(harness: Harness) -> None:
    events_before = len(harness.standin.emitted())
    status, answer = bulk(
        harness,
        {
            "count": 250,
            "price": "price_123",
            "metadata": {"project_id": "7", "plan": "pro"},
            "user_prefix": "u-",
        },
    )
    assert status == 200, answer
    assert (answer["created"], answer["price"]) == (250, "price_123")
    subs = get(harness, "/v1/subscriptions?limit=100")
    assert subs["has_more"] is True
    assert subs["data"][0]["id"] == answer["last"]  # newest first
    assert subs["data"][0]["metadata"] == {"project_id": "7", "user_id": "u-249", "plan": "pro"}
    assert get(harness, f"/v1/subscriptions/{answer['first']}")["metadata"]["user_id"] == "u-0"
    assert all(sub["status"] == "active" for sub in subs["data"])
    assert harness.standin.store.count("subscription") == 250
    assert harness.standin.store.count("customer") == 250
    assert get(harness, "/v1/invoices")["data"] == []
    assert len(harness.standin.emitted()) == events_before
    assert harness.deliver() == []


def test_seeded_ids_are_unique(harness: Harness) -> None:
    first = harness.standin.seed_subscriptions(3000, "price_123")
    second = harness.standin.seed_subscriptions(3000, "price_123", project_id="2")
    assert len(set(first + second)) == 6000
    assert all(re.fullmatch(r"sub_[A-Za-z0-9]{24}", sub_id) for sub_id in first)
    assert get(harness, f"/v1/subscriptions/{second[-1]}")["metadata"] == {
        "project_id": "2",
        "user_id": "bench-user-2999",
    }


def test_the_python_shortcut_passes_extra_metadata(harness: Harness) -> None:
    [sub_id] = harness.standin.seed_subscriptions(
        1, "price_123", project_id="9", user_prefix="x", metadata={"tier": "gold"}
    )
    assert get(harness, f"/v1/subscriptions/{sub_id}")["metadata"] == {
        "project_id": "9",
        "user_id": "x0",
        "tier": "gold",
    }


def test_metadata_keys_come_in_the_services_order() -> None:
    assert list(subscription_metadata(3, "u", {"a": "b", "project_id": "5"})) == [
        "project_id",
        "user_id",
        "a",
    ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"price": "price_123"}, "count"),
        ({"count": 1}, "price"),
        ({"count": 0, "price": "price_123"}, "count"),
        ({"count": 200_001, "price": "price_123"}, "count"),
        ({"count": True, "price": "price_123"}, "count"),
        ({"count": "3", "price": "price_123"}, "count"),
        ({"count": 1, "price": "price_nope"}, "price"),
        ({"count": 1, "price": "price_once"}, "price"),
        ({"count": 1, "price": "price_123", "extra": 1}, "extra"),
        ({"count": 1, "price": "price_123", "metadata": {"n": 1}}, "metadata[n]"),
        ({"count": 1, "price": "price_123", "metadata": {"user_id": "u"}}, "metadata[user_id]"),
        ({"count": 1, "price": "price_123", "user_prefix": "u" * 500}, "metadata[user_id]"),
        (
            {"count": 1, "price": "price_123", "metadata": {f"k{n}": "v" for n in range(49)}},
            "metadata",
        ),
    ],
)
def test_the_bulk_control_refuses_bad_bodies(
    harness: Harness, body: dict[str, Any], param: str
) -> None:
    status, answer = bulk(harness, body)
    assert status == 400, answer
    assert answer["error"]["param"] == param
    assert harness.standin.store.count("subscription") == 0


def test_seeded_subscriptions_page_through_the_sdk_like_reconciliation(
    client: stripe.StripeClient, harness: Harness
) -> None:
    harness.clock.now += 1
    seeded = harness.standin.seed_subscriptions(1234, "price_123")
    control(harness, f"subscriptions/{seeded[10]}/cancel")
    seen: list[str] = []
    after: str | None = None
    while True:
        params: SubscriptionListParams = {"status": "all", "limit": 100}
        if after is not None:
            params["starting_after"] = after
        page = client.v1.subscriptions.list(params=params)
        seen += [sub.id for sub in page.data]
        if not page.has_more:
            break
        after = page.data[-1].id
    assert seen == seeded[::-1]
    active = client.v1.subscriptions.list(params={"status": "active", "limit": 100})
    assert sum(1 for _ in active.auto_paging_iter()) == 1233
    recent = client.v1.subscriptions.list(
        params={"created": {"gte": int(harness.clock.now)}, "limit": 100}
    )
    assert sum(1 for _ in recent.auto_paging_iter()) == 1233  # all but the canceled one
