"""Concurrency over the local stack: webhooks of one subscription applied by several consumers
at once, grants and revokes of one user racing, first checkouts of one user racing.

Project 611 is this module's own. The webhook tests add consumers of the webhook queue
(tests/integration/traffic.py), so events of one subscription are really applied concurrently,
as Lambda's event source mapping does in AWS.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
import requests

from billing_devstack.config import STANDIN_SECRET_KEY
from billing_devstack.launcher import StackProcess
from tests.integration.test_checkout_over_http import standin_url
from tests.integration.traffic import (
    ExtraConsumers,
    Tenant,
    create_tenant,
    dead_lettered_event_ids,
    new_id,
    post_webhook,
    recorded_events,
    wait_until_drained,
)
from tests.support import stripe_events as se

pytestmark = pytest.mark.integration

PROJECT = "611"
PRO, TEAM = "price_conc_pro", "price_conc_team"
FEATURE_OF = {PRO: "pro", TEAM: "team"}
DAY = 86_400
ORIGIN_URL = "https://app.example.com"


@pytest.fixture(scope="module")
def tenant(stack: StackProcess) -> Tenant:
    return create_tenant(stack, PROJECT, [(PRO, "pro", True), (TEAM, "team", True)])


def run_all[T](calls: list[Callable[[], T]], threads: int) -> list[T]:
    """Every call at once (as far as ``threads`` allows), results in call order."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda call: call(), calls))


# ---------------------------------------------------------------------- webhooks
def subscription_story(
    sub_id: str, user_id: str, ending: str, base: int
) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """30 events of one subscription, ``created`` strictly increasing from ``base``: created,
    27 updates (price, period and cancel-at-period-end changing), a paid invoice and a
    failed one among them, and last ``ending`` ("deleted" or "updated"). The raw events with
    their ids, and the state the newest one shows."""
    owner = {"project_id": PROJECT, "user_id": user_id}
    customer = new_id("cus_conc")
    now = base + 60
    events: list[tuple[str, str]] = []

    def emit(event_type: str, obj: dict[str, Any], created: int) -> None:
        event_id = new_id("evt_conc")
        events.append((event_id, se.event(event_type, obj, created, event_id=event_id)))

    def sub(price: str, period_end: int, *, cancel: bool = False) -> dict[str, Any]:
        return se.subscription(
            sub_id,
            prices=(price,),
            period_end=period_end,
            metadata=owner,
            customer=customer,
            cancel_at_period_end=cancel,
            start=base,
        )

    emit("customer.subscription.created", sub(PRO, now + 30 * DAY), base)
    for step in range(1, 28):
        price = TEAM if step % 2 else PRO
        period_end = now + (30 + step) * DAY
        if step == 9:
            invoice = se.invoice(sub_id, period_end=now + 90 * DAY)
            invoice["parent"]["subscription_details"]["metadata"] = owner
            emit("invoice.paid", invoice, base + step)
        elif step == 17:
            invoice = se.invoice(sub_id, period_end=now + 91 * DAY, amount_paid=0)
            invoice["parent"]["subscription_details"]["metadata"] = owner
            emit("invoice.payment_failed", invoice, base + step)
        else:
            emit(
                "customer.subscription.updated",
                sub(price, period_end, cancel=step % 3 == 0),
                base + step,
            )
    final_end = now + 45 * DAY
    last = base + 40
    if ending == "deleted":
        ended = sub(PRO, final_end)
        ended.update(status="canceled", ended_at=last, canceled_at=last)
        emit("customer.subscription.deleted", ended, last)
        expected = {"status": "canceled", "price_ids": [PRO], "cancel_at_period_end": False}
    else:
        emit("customer.subscription.updated", sub(TEAM, final_end, cancel=True), last)
        expected = {"status": "active", "price_ids": [TEAM], "cancel_at_period_end": True}
    expected.update(period_end=final_end, version=last)
    return events, expected


def stored_fact(stack: StackProcess, stripe_id: str) -> dict[str, Any]:
    item = stack.dynamodb().get_item(
        TableName="StripeObjectsTable", Key={"stripe_id": {"S": stripe_id}}, ConsistentRead=True
    )
    assert "Item" in item, f"no fact of {stripe_id}"
    fact: dict[str, Any] = json.loads(item["Item"]["fact"]["S"])
    return fact


@pytest.mark.parametrize("ending", ["deleted", "updated"])
def test_concurrent_webhooks_of_one_subscription_end_in_the_newest_state(
    tenant: Tenant, ending: str
) -> None:
    """Proves no lost update and no older state winning under concurrency: 30 signed events
    of one subscription (created, updates with increasing ``created``, invoice paid and failed,
    then deleted or a last update), plus 15 duplicates, are posted shuffled from 12 threads
    and applied by 4 consumers at once; afterwards the stored subscription and the user's
    entitlements are those of the newest event, every event id is recorded exactly once in
    WebhookEventsTable (the newest one as applied), and none is in the DLQ."""
    stack = tenant.stack
    user, sub_id = new_id("user_wh"), new_id("sub_conc")
    events, expected = subscription_story(sub_id, user, ending, base=int(time.time()) - 3600)
    rng = random.Random(ending)  # noqa: S311 - a reproducible shuffle
    deliveries = [body for _, body in events] + [body for _, body in rng.sample(events, 15)]
    rng.shuffle(deliveries)

    with ExtraConsumers(stack, 3):
        statuses = run_all([partial(post_webhook, stack, body) for body in deliveries], 12)
        assert Counter(statuses) == Counter({200: len(deliveries)}), Counter(statuses)
        wait_until_drained(stack)

    fact = stored_fact(stack, sub_id)
    shown = {key: fact[key] for key in expected}
    assert shown == expected, fact
    assert fact["owner"] == {"project_id": PROJECT, "user_id": user}

    sources = [e for e in tenant.entitlements(user) if e["source_id"] == sub_id]
    active = {e["feature_code"] for e in sources if e["active"]}
    if ending == "deleted":
        assert active == set(), sources
    else:
        (team,) = [e for e in sources if e["feature_code"] == "team"]
        assert team["active"] is True
        valid_to = datetime.fromisoformat(team["valid_to"].replace("Z", "+00:00"))
        assert int(valid_to.timestamp()) == expected["period_end"]
        assert active == {"team"}, sources

    ids = [event_id for event_id, _ in events]
    marks = recorded_events(stack, ids)
    assert set(marks) == set(ids), set(ids) - set(marks)
    assert marks[ids[-1]]["outcome"]["S"] == "applied"
    outcomes = Counter(mark["outcome"]["S"] for mark in marks.values())
    # unchanged: an event of the same second as the state applied, saying the same; the
    # story is made up, so an invoice before its subscription finds nothing at Stripe.
    assert set(outcomes) <= {"applied", "stale", "unchanged", "unknown_object"}, outcomes
    assert not set(ids) & dead_lettered_event_ids(stack)


# ---------------------------------------------------------------------- grants and revokes
def in_future(days: int, seconds: int = 0) -> str:
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days, seconds=seconds)
    return moment.isoformat().replace("+00:00", "Z")


def grant_call(tenant: Tenant, user: str, feature: str, valid_to: str | None) -> Callable[[], int]:
    body: dict[str, Any] = {
        "user_id": user,
        "feature_code": feature,
        "granted_by": "support@example.com",
        "reason": "concurrency test",
    }
    if valid_to is not None:
        body["valid_to"] = valid_to
    return lambda: tenant.post("/api/v1/admin/grant", body).status_code


def retrying(call: Callable[[], int], attempts: int = 6) -> Callable[[], list[int]]:
    """``call`` as a client does it: again after a 503 (the service gave up on a contended
    record after a few tries and said "retry"), with a short pause. Every status, in order."""

    def run() -> list[int]:
        statuses = [call()]
        while statuses[-1] == 503 and len(statuses) < attempts:
            time.sleep(0.2 * len(statuses))
            statuses.append(call())
        return statuses

    return run


def revoke_call(tenant: Tenant, user: str, feature: str) -> Callable[[], int]:
    body = {
        "user_id": user,
        "feature_code": feature,
        "revoked_by": "support@example.com",
        "reason": "concurrency test",
    }
    return lambda: tenant.post("/api/v1/admin/revoke", body).status_code


def audit_of(tenant: Tenant, user: str, feature: str) -> list[dict[str, Any]]:
    """The user's audit entries of ``feature`` as the API shows them, newest first."""
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"user_id": user, "limit": "100", **({"cursor": cursor} if cursor else {})}
        page = tenant.get("/api/v1/admin/audit", **params)
        assert page.status_code == 200, page.text
        entries += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return [e for e in entries if e["feature_code"] == feature]


def commit_order(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries chained as committed: each one's ``before`` is the previous one's ``after``.
    A lost update shows as two entries built on the same ``before`` (a fork), which fails."""
    chain: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    remaining = list(entries)
    while remaining:
        following = [e for e in remaining if e["before"] == current]
        assert len(following) == 1, f"{len(following)} entries follow {current}: {entries}"
        chain.append(following[0])
        remaining.remove(following[0])
        current = following[0]["after"]
    return chain


def moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def assert_record_is_the_last_change(tenant: Tenant, user: str, feature: str) -> list[Any]:
    """The manual source in the entitlement record is the ``after`` of the last committed
    change, the commit order read from the audit's before -> after links. The chain, oldest
    first. (Not asserted: that the audit lists that change first. It lists by the request's
    arrival, and a request that lost a conditional write commits later than a newer one.)"""
    entries = audit_of(tenant, user, feature)
    chain = commit_order(entries)
    last = chain[-1]["after"]
    (source,) = [
        e
        for e in tenant.entitlements(user)
        if e["feature_code"] == feature and e["source"] == "manual"
    ]
    assert (source["source_id"], source["active"]) == (last["source_id"], last["in_force"])
    assert moment(source["valid_from"]) == moment(last["valid_from"])
    assert moment(source["valid_to"]) == moment(last["valid_to"])
    return chain


def test_identical_concurrent_grants_make_one_grant(tenant: Tenant) -> None:
    """Proves the same grant sent 20 times at once is one grant: exactly one 201, the rest
    200, one audit entry, and the record holds that grant."""
    user, valid_to = new_id("user_same"), in_future(10)
    calls = [grant_call(tenant, user, "support", valid_to) for _ in range(20)]

    statuses = run_all(calls, 20)

    assert Counter(statuses) == Counter({201: 1, 200: 19}), Counter(statuses)
    (entry,) = assert_record_is_the_last_change(tenant, user, "support")
    assert entry["action"] == "grant"
    assert moment(entry["after"]["valid_to"]) == moment(valid_to)


def test_concurrent_grants_with_different_ends_lose_no_update(tenant: Tenant) -> None:
    """Proves no lost update among 20 concurrent grants of one feature, each to a different
    ``valid_to``: each ends as a change (201; a 503 "retry" under contention is retried, as a
    client does, and must have written nothing), the audit holds exactly 20 entries chained
    before -> after without a fork, and the record holds the last committed one."""
    user = new_id("user_ends")
    calls = [retrying(grant_call(tenant, user, "beta", in_future(5, n * 60))) for n in range(20)]

    attempts = run_all(calls, 20)

    assert Counter(tries[-1] for tries in attempts) == Counter({201: 20}), attempts
    chain = assert_record_is_the_last_change(tenant, user, "beta")
    assert len(chain) == 20
    assert {e["action"] for e in chain} == {"grant"}


def test_racing_grants_and_revokes_leave_record_and_audit_consistent(tenant: Tenant) -> None:
    """Proves grant/revoke races stay consistent: 12 grants (different ends) and 12 revokes
    of one feature at once (503s retried as a client does); every 201 grant and every 200
    revoke has exactly one audit entry (and nothing else has one: not a 404, not a 503), the
    entries chain without a fork, and the record holds the last committed change."""
    user = new_id("user_race")
    assert grant_call(tenant, user, "gamma", None)() == 201
    grants = [retrying(grant_call(tenant, user, "gamma", in_future(7, n * 60))) for n in range(12)]
    revokes = [retrying(revoke_call(tenant, user, "gamma")) for _ in range(12)]
    calls = [call for pair in zip(grants, revokes, strict=True) for call in pair]

    attempts = run_all(calls, 24)

    granted = Counter(tries[-1] for tries in attempts[0::2])
    revoked = Counter(tries[-1] for tries in attempts[1::2])
    assert set(granted) <= {201}, granted
    assert set(revoked) <= {200, 404}, revoked
    chain = assert_record_is_the_last_change(tenant, user, "gamma")
    actions = Counter(e["action"] for e in chain)
    assert actions == Counter({"grant": 1 + granted[201], "revoke": revoked[200]}), actions


# ---------------------------------------------------------------------- first checkouts
def standin_customers_of(stack: StackProcess, user: str) -> list[str]:
    """The stand-in's customers whose metadata names ``user`` of this project (all pages)."""
    found: list[str] = []
    params: dict[str, str] = {"limit": "100"}
    while True:
        page = requests.get(
            f"{standin_url(stack)}/v1/customers",
            params=params,
            auth=(STANDIN_SECRET_KEY, ""),
            timeout=30,
        )
        assert page.status_code == 200, page.text
        body = page.json()
        found += [
            c["id"]
            for c in body["data"]
            if c["metadata"].get("user_id") == user and c["metadata"].get("project_id") == PROJECT
        ]
        if not body["has_more"]:
            return found
        params["starting_after"] = body["data"][-1]["id"]


def test_concurrent_first_checkouts_create_one_customer(tenant: Tenant) -> None:
    """Proves 10 first checkouts of one new user at once create exactly one Stripe customer
    (in the stand-in) and one CustomersTable item naming it, and every caller gets 200."""
    stack, user = tenant.stack, f"user_{uuid.uuid4().hex[:10]}"
    body = {
        "user_id": user,
        "price_id": PRO,
        "mode": "subscription",
        "success_url": f"{ORIGIN_URL}/ok",
        "cancel_url": f"{ORIGIN_URL}/cancel",
    }

    statuses = run_all(
        [lambda: tenant.post("/api/v1/checkout/session", body).status_code for _ in range(10)],
        10,
    )

    assert Counter(statuses) == Counter({200: 10}), Counter(statuses)
    customers = standin_customers_of(stack, user)
    assert len(customers) == 1, customers
    items = stack.dynamodb().query(
        TableName="CustomersTable",
        KeyConditionExpression="project_user = :key",
        ExpressionAttributeValues={":key": {"S": f"{PROJECT}#{user}"}},
        ConsistentRead=True,
    )["Items"]
    assert [item["stripe_customer_id"]["S"] for item in items] == customers
