"""A bounded load test of the local stack (loopback only): mixed traffic, then the books.

Short in `make test` (BILLING_SOAK_SECONDS unset: 20 s of traffic); long with `make soak`
(5 minutes; `make soak SOAK_SECONDS=N`). Project 601 and its key are this module's own.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
import requests

from bench import stripe_mix
from billing_devstack.launcher import StackProcess
from tests.integration.traffic import (
    DRAIN_TIMEOUT,
    ExtraConsumers,
    Tenant,
    create_tenant,
    dead_lettered_event_ids,
    post_webhook,
    recorded_events,
    standin_events,
    wait_until_drained,
)

pytestmark = pytest.mark.integration

PROJECT = "601"
PRICE = "price_load_monthly"
FEATURE = "support"
SECONDS = float(os.environ.get("BILLING_SOAK_SECONDS") or 20)
BURST = 25  # webhook deliveries posted at once
GRANT_USERS = 6
ORIGIN_URL = "https://load.example.com"


@dataclass
class Books:
    """What the traffic did, as its callers saw it (thread-safe)."""

    statuses: Counter[str] = field(default_factory=Counter)  # "route status" -> calls
    errors: list[str] = field(default_factory=list)  # no answer at all
    audit: Counter[tuple[str, str]] = field(default_factory=Counter)  # (user, action) -> changes
    paid_users: list[str] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)  # mix event ids answered 2xx
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, route: str, send: Callable[[], requests.Response]) -> requests.Response | None:
        """``send()``, its status counted; None (and an error noted) when nothing answered."""
        answer = self.status(route, send)
        return answer[1] if answer else None

    def status[T](self, route: str, send: Callable[[], T]) -> tuple[int, T] | None:
        try:
            answer = send()
        except requests.RequestException as exc:
            with self.lock:
                self.errors.append(f"{route}: {exc!r}")
            return None
        code = answer if isinstance(answer, int) else int(getattr(answer, "status_code", 0))
        with self.lock:
            self.statuses[f"{route} {code}"] += 1
        return code, answer

    def server_errors(self) -> dict[str, int]:
        return {key: n for key, n in self.statuses.items() if key.split()[-1].startswith("5")}


# ---------------------------------------------------------------------- the webhook mix
def localized(body: str, token: str) -> str:
    """A stripe_mix event moved to this module's project, its ids unique to this run."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("project_id") == stripe_mix.PROJECT_ID:
                node["project_id"] = PROJECT
            reference = node.get("client_reference_id")
            if isinstance(reference, str) and reference.startswith(f"{stripe_mix.PROJECT_ID}:"):
                node["client_reference_id"] = f"{PROJECT}:{reference.split(':', 1)[1]}"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    event = json.loads(body)
    walk(event)
    text = json.dumps(event)
    text = re.sub(r"bench(?=\d)", f"bench{token}", text)
    return re.sub(r"user_(?=\d{5})", f"user_{token}_", text)


def event_id_of(body: str) -> str:
    return str(json.loads(body)["id"])


# ---------------------------------------------------------------------- traffic
def reader(tenant: Tenant, books: Books, users: list[str], stop: threading.Event) -> None:
    rng = random.Random()  # noqa: S311 - traffic, not secrets
    while not stop.is_set():
        with books.lock:
            user = rng.choice(users)
        books.call("entitlements", partial(tenant.get, "/api/v1/entitlements", user_id=user))
        books.call(
            "check",
            partial(tenant.get, "/api/v1/entitlements/check", user_id=user, feature_code=FEATURE),
        )


def granter(tenant: Tenant, books: Books, users: list[str], stop: threading.Event) -> None:
    """Grants (a few possible ends) and revokes of one feature; counts what changed."""
    rng = random.Random()  # noqa: S311 - traffic, not secrets
    ends = [None, "2099-01-01T00:00:00Z", "2098-06-30T12:00:00Z"]
    while not stop.is_set():
        user = rng.choice(users)
        body: dict[str, Any] = {"user_id": user, "feature_code": FEATURE, "reason": "load test"}
        if rng.random() < 0.6:
            action, body["granted_by"] = "grant", "load@example.com"
            if (end := rng.choice(ends)) is not None:
                body["valid_to"] = end
            answer = books.call("grant", partial(tenant.post, "/api/v1/admin/grant", body))
            changed = answer is not None and answer.status_code == 201
        else:
            action, body["revoked_by"] = "revoke", "load@example.com"
            answer = books.call("revoke", partial(tenant.post, "/api/v1/admin/revoke", body))
            changed = answer is not None and answer.status_code == 200
        if changed:
            with books.lock:
                books.audit[(user, action)] += 1


def buyer(tenant: Tenant, books: Books, readable: list[str], stop: threading.Event) -> None:
    """Checkouts of new users, paid at the stand-in (which then sends its webhooks)."""
    while not stop.is_set():
        user = f"user_load_{uuid.uuid4().hex[:10]}"
        body = {
            "user_id": user,
            "price_id": PRICE,
            "mode": "subscription",
            "success_url": f"{ORIGIN_URL}/ok",
            "cancel_url": f"{ORIGIN_URL}/cancel",
        }
        opened = books.call("checkout", partial(tenant.post, "/api/v1/checkout/session", body))
        if opened is None or opened.status_code != 200:
            continue
        url = opened.json()["checkout_url"]
        paid = books.call(
            "pay", partial(requests.post, f"{url}/pay", allow_redirects=False, timeout=60)
        )
        if paid is not None and paid.status_code == 303:
            with books.lock:
                books.paid_users.append(user)
                readable.append(user)


def burster(
    stack: StackProcess, books: Books, deliveries: list[str], stop: threading.Event
) -> None:
    """Bursts of signed deliveries (duplicates and late ones among them), posted at once."""

    def deliver(body: str) -> None:
        answer = books.status("webhook", partial(post_webhook, stack, body))
        if answer is not None and 200 <= answer[0] < 300:
            with books.lock:
                books.accepted.add(event_id_of(body))

    with ThreadPoolExecutor(max_workers=8) as pool:
        for start in range(0, len(deliveries), BURST):
            if stop.is_set():
                return
            list(pool.map(deliver, deliveries[start : start + BURST]))
            stop.wait(0.5)


# ---------------------------------------------------------------------- the books
def subscriptions_of_project(stack: StackProcess) -> dict[str, str]:
    """Subscription facts of the project: stripe id -> user id."""
    client = stack.dynamodb()
    found: dict[str, str] = {}
    request: dict[str, Any] = {
        "TableName": "StripeObjectsTable",
        "IndexName": "by_project",
        "KeyConditionExpression": "project_id = :p",
        "ExpressionAttributeValues": {":p": {"S": PROJECT}},
    }
    while True:
        page = client.query(**request)
        for item in page["Items"]:
            if item["kind"]["S"] == "subscription":
                found[item["stripe_id"]["S"]] = item["user_id"]["S"]
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def marks_with_prefix(stack: StackProcess, prefix: str) -> set[str]:
    """Every event id in WebhookEventsTable starting with ``prefix`` (a test-only Scan)."""
    client = stack.dynamodb()
    found: set[str] = set()
    request: dict[str, Any] = {
        "TableName": "WebhookEventsTable",
        "FilterExpression": "begins_with(event_id, :p)",
        "ExpressionAttributeValues": {":p": {"S": prefix}},
        "ConsistentRead": True,
    }
    while True:
        page = client.scan(**request)
        found |= {item["event_id"]["S"] for item in page["Items"]}
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def audit_counts(tenant: Tenant, user: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    cursor: str | None = None
    while True:
        params = {"user_id": user, "limit": "100", **({"cursor": cursor} if cursor else {})}
        page = tenant.get("/api/v1/admin/audit", **params)
        assert page.status_code == 200, page.text
        counts.update(e["action"] for e in page.json()["items"] if e["feature_code"] == FEATURE)
        cursor = page.json()["next_cursor"]
        if not cursor:
            return counts


def test_mixed_traffic_loses_nothing_and_the_figures_add_up(stack: StackProcess) -> None:
    """Proves that under SECONDS of mixed traffic (entitlement reads and checks, grants and
    revokes, checkouts paid at the stand-in whose webhooks follow, and bursts of signed
    stripe_mix deliveries with duplicates and late ones, applied by three consumers at once)
    nothing answers 5xx or fails to answer, and once the queue has drained: every accepted
    event (2xx, posted or sent by the stand-in) is recorded exactly once in WebhookEventsTable
    and no other of this run's is, none is in the DLQ, the project's subscription facts are
    exactly the paid checkouts' and the mix's, every paying user has the feature, and the audit
    holds exactly the grants and revokes that answered as changes."""
    tenant = create_tenant(stack, PROJECT, [(PRICE, "pro", True)])
    token = uuid.uuid4().hex[:6]
    mix = stripe_mix.generate(users=max(40, int(SECONDS * 3)), seed=601)
    deliveries = [localized(d.event.body, token) for d in mix.deliveries]
    mix_users = sorted({f"user_{token}_{u.removeprefix('user_')}" for u in mix.expected_features})
    grant_users = [f"user_grant_{token}_{n}" for n in range(GRANT_USERS)]
    readable = [*mix_users, *grant_users]
    standin_before = {row["id"] for row in standin_events(stack)}
    books, stop = Books(), threading.Event()

    with ExtraConsumers(stack, 2):
        workers = [
            threading.Thread(target=reader, args=(tenant, books, readable, stop)),
            threading.Thread(target=reader, args=(tenant, books, readable, stop)),
            threading.Thread(target=granter, args=(tenant, books, grant_users, stop)),
            threading.Thread(target=granter, args=(tenant, books, grant_users, stop)),
            threading.Thread(target=buyer, args=(tenant, books, readable, stop)),
            threading.Thread(target=burster, args=(stack, books, deliveries, stop)),
        ]
        for worker in workers:
            worker.start()
        stop.wait(SECONDS)
        stop.set()
        for worker in workers:
            worker.join(120)
        assert not any(worker.is_alive() for worker in workers), "traffic did not stop"
        wait_until_drained(stack, DRAIN_TIMEOUT + SECONDS)

    # Nothing failed to answer, nothing answered 5xx, and traffic of every kind happened.
    assert books.errors == [], books.errors[:5]
    assert books.server_errors() == {}, books.statuses
    for route in ("entitlements 200", "check 200", "grant 201", "checkout 200", "webhook 200"):
        assert books.statuses[route] > 0, books.statuses
    assert books.paid_users, books.statuses

    # Every accepted event recorded exactly once, no other of this run's, none dead-lettered.
    new_standin = [row for row in standin_events(stack) if row["id"] not in standin_before]
    assert {row["delivery"]["status"] for row in new_standin} <= {"delivered"}, new_standin[:3]
    accepted = books.accepted | {row["id"] for row in new_standin}
    marks = recorded_events(stack, accepted)
    assert set(marks) == accepted, sorted(accepted - set(marks))[:10]
    assert marks_with_prefix(stack, f"evt_bench{token}") == books.accepted
    assert not accepted & dead_lettered_event_ids(stack)

    # Subscriptions: the paid checkouts' and those the accepted mix events brought, no more.
    mix_subscriptions = set()
    for body in deliveries:
        event = json.loads(body)
        if event["id"] in books.accepted and event["type"].startswith("customer.subscription."):
            mix_subscriptions.add(event["data"]["object"]["id"])
    stored = subscriptions_of_project(stack)
    paid_users = set(books.paid_users)
    from_checkouts = {sub for sub, user in stored.items() if user in paid_users}
    assert len(from_checkouts) == len(paid_users), (len(from_checkouts), len(paid_users))
    assert set(stored) == from_checkouts | mix_subscriptions
    for user in books.paid_users:
        active = {e["feature_code"] for e in tenant.entitlements(user) if e["active"]}
        assert "pro" in active, (user, tenant.entitlements(user))

    # The audit holds exactly the changes the grant and revoke calls reported.
    for user in grant_users:
        expected = Counter({action: n for (who, action), n in books.audit.items() if who == user})
        assert audit_counts(tenant, user) == expected, user
