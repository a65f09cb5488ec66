"""Faults of processes lose nothing: the webhook consumer killed mid-batch, a poison event
dead-lettered and replayed after its fix, and the whole local stack restarted mid-traffic.

Each test runs a stack of its own (``own_stack``, ``start_stack``): they kill, freeze and
restart processes. Events go into the webhook queue as the receiver enqueues them
(``services/webhooks.py``: the raw event as body, ``stripe_event_id`` and ``stripe_event_type``
as message attributes), or through the receiver itself, signed, when the test is about what
Stripe sees.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests

from billing_devstack import launcher
from billing_devstack.launcher import StackProcess, wait_until
from tests.integration.conftest import start_stack
from tests.integration.test_concurrency import audit_of
from tests.integration.traffic import (
    CONSUMER_FUNCTION,
    DEAD_LETTER_QUEUE,
    WEBHOOK_QUEUE,
    Tenant,
    create_tenant,
    dead_lettered_event_ids,
    new_id,
    post_webhook,
    queue_counts,
    queue_url,
    recorded_events,
    wait_until_drained,
)
from tests.support import stripe_events as se

pytestmark = pytest.mark.integration

PRO, TEAM = "price_fault_pro", "price_fault_team"
BATCH = 10  # the consumer's BatchSize in template.yaml


# ---------------------------------------------------------------------- helpers
def subscription_created(project_id: str, user_id: str, price: str) -> tuple[str, str, str]:
    """A new active subscription of ``user_id`` to ``price``: (event id, subscription id, raw)."""
    sub_id, event_id = new_id("sub_fault"), new_id("evt_fault")
    now = int(time.time())
    sub = se.subscription(
        sub_id,
        prices=(price,),
        period_end=now + 30 * 86_400,
        metadata={"project_id": project_id, "user_id": user_id},
        customer=new_id("cus_fault"),
        start=now - 60,
    )
    return event_id, sub_id, se.event("customer.subscription.created", sub, now - 60, event_id)


def enqueue(stack: StackProcess, raw_events: list[str]) -> list[str]:
    """Put raw events into the webhook queue as the receiver does; their SQS message ids."""
    sqs, url = stack.sqs(), queue_url(stack, WEBHOOK_QUEUE)
    message_ids: list[str] = []
    for start in range(0, len(raw_events), BATCH):
        entries = []
        for number, raw in enumerate(raw_events[start : start + BATCH]):
            event = json.loads(raw)
            entries.append(
                {
                    "Id": str(number),
                    "MessageBody": raw,
                    "MessageAttributes": {
                        "stripe_event_id": {"DataType": "String", "StringValue": event["id"]},
                        "stripe_event_type": {"DataType": "String", "StringValue": event["type"]},
                    },
                }
            )
        answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)  # type: ignore[arg-type]
        assert not answer.get("Failed"), answer
        by_entry = {item["Id"]: item["MessageId"] for item in answer["Successful"]}
        message_ids += [by_entry[str(number)] for number in range(len(entries))]
    return message_ids


@contextmanager
def consumer_paused(stack: StackProcess) -> Iterator[None]:
    """Freeze the stack's process (its poller threads with it) while messages are enqueued, so
    the consumer then receives them in full batches, as Lambda's poller finds a queue that
    filled up between two polls. The poller's pending long poll (1 s) ends empty first."""
    stack.process.send_signal(signal.SIGSTOP)
    try:
        time.sleep(1.5)  # the long poll the frozen poller had open at moto times out empty
        yield
    finally:
        stack.process.send_signal(signal.SIGCONT)


def workers_of(stack: StackProcess, function_id: str) -> list[int]:
    """The stack's worker processes of one function (their environment names it)."""
    marker = f"AWS_LAMBDA_FUNCTION_NAME={function_id}".encode()
    found = []
    for pid in launcher.processes_of(stack.state_dir):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environ:
            found.append(pid)
    return found


def log_records(stack: StackProcess, log: Path | None = None) -> list[dict[str, Any]]:
    """The workers' JSON log lines (Powertools) of the stack's log."""
    records = []
    text = (log or stack.log).read_text(errors="replace")
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def outcomes_logged(stack: StackProcess, event_ids: set[str]) -> Counter[tuple[str, str]]:
    """(event id, outcome) of every "event processed" line the consumer logged for them."""
    return Counter(
        (record["correlation_id"], record["outcome"])
        for record in log_records(stack)
        if record.get("message") == "event processed" and record.get("correlation_id") in event_ids
    )


def active_sources(tenant: Tenant, user_id: str, feature: str) -> list[dict[str, Any]]:
    return [e for e in tenant.entitlements(user_id) if e["feature_code"] == feature and e["active"]]


def assert_applied_once(
    tenant: Tenant, events: dict[str, tuple[str, str]], feature: str
) -> dict[str, dict[str, Any]]:
    """Each event (id -> (user, subscription)) has one mark, "applied", and its user exactly
    one active ``feature`` entitlement, from that subscription; none is dead-lettered."""
    marks = recorded_events(tenant.stack, events)
    assert set(marks) == set(events), sorted(set(events) - set(marks))
    outcomes = Counter(mark["outcome"]["S"] for mark in marks.values())
    assert outcomes == Counter({"applied": len(events)}), outcomes
    for user_id, sub_id in events.values():
        sources = active_sources(tenant, user_id, feature)
        assert [s["source_id"] for s in sources] == [sub_id], sources
    assert not set(events) & dead_lettered_event_ids(tenant.stack)
    return marks


# ---------------------------------------------------------------------- 1. consumer killed
def test_a_consumer_killed_mid_batch_loses_and_repeats_nothing(
    own_stack: StackProcess,
) -> None:
    """Proves that SIGKILL of the consumer's worker process in the middle of a batch loses no
    event and applies none twice. 40 valid events (40 users' new subscriptions) wait in the
    webhook queue, so the consumer takes them in 4 batches of 10; the worker is killed when
    some but not all marks exist, and not on a batch boundary (asserted from marks read
    before and after the kill, so the test fails if the kill came after the batch finished).
    Then: the killed invocation's batch is retried (the consumer logs a "duplicate" for an
    event of it already applied), every event has its one mark, outcome "applied" (the
    application that changed state was the first and only one), each user exactly one active
    entitlement from their subscription, and nothing is in the DLQ."""
    stack = own_stack
    tenant = create_tenant(stack, "701", [(PRO, "pro", True)])
    # A first event warms the consumer: its worker process exists from then on.
    warm_id, _, warm = subscription_created("701", new_id("user_warm"), PRO)
    enqueue(stack, [warm])
    assert wait_until(lambda: recorded_events(stack, [warm_id]), 30), stack.log_text()[-3000:]
    (worker,) = workers_of(stack, CONSUMER_FUNCTION)

    events: dict[str, tuple[str, str]] = {}
    raws = []
    for n in range(40):
        user = f"user_kill_{n}"
        event_id, sub_id, raw = subscription_created("701", user, PRO)
        events[event_id] = (user, sub_id)
        raws.append(raw)
    with consumer_paused(stack):
        enqueue(stack, raws)

    seen: list[int] = []

    def kill_mid_batch() -> bool:
        marked = len(recorded_events(stack, events))
        seen.append(marked)
        if marked % BATCH == 0:  # none yet, or between two batches: wait for the next mark
            return marked == len(events)
        os.kill(worker, signal.SIGKILL)
        return True

    assert wait_until(kill_mid_batch, 60, 0.01), seen
    before = seen[-1]
    assert 0 < before < len(events), f"no kill: {before} of 40 marks"
    assert wait_until(lambda: not launcher.pid_alive(worker), 10, 0.01)
    after = len(recorded_events(stack, events))
    assert after < len(events), "every event was applied before the kill took effect"

    wait_until_drained(stack)

    assert_applied_once(tenant, events, "pro")
    assert worker not in workers_of(stack, CONSUMER_FUNCTION)  # a new worker did the rest
    retried = {e for e, outcome in outcomes_logged(stack, set(events)) if outcome == "duplicate"}
    assert retried, "no event of the killed batch was handed out again"
    assert "Runtime exited with error" in stack.log_text()


# ---------------------------------------------------------------------- 2. a poison event
def corrupt_price(stack: StackProcess, price_id: str) -> None:
    """What a hand edit in the DynamoDB console does: ``feature_codes`` saved as a string set
    instead of a list. The service cannot read that price any more."""
    stack.dynamodb().update_item(
        TableName="PricesTable",
        Key={"stripe_price_id": {"S": price_id}},
        UpdateExpression="SET feature_codes = :codes",
        ExpressionAttributeValues={":codes": {"SS": ["team"]}},
    )


def register_team_price(stack: StackProcess, project_id: str) -> None:
    """``billing-admin price add`` of TEAM: the operator's fix (it rewrites the record)."""
    stack.admin(
        "price",
        "add",
        "--project",
        project_id,
        "--price",
        TEAM,
        "--feature",
        "team",
        "--amount",
        "900",
        "--currency",
        "usd",
        "--interval",
        "month",
    )


def test_a_poison_event_is_dead_lettered_without_blocking_its_batch_and_applied_once_after_the_fix(
    own_stack: StackProcess,
) -> None:
    """Proves the whole story of an event the consumer cannot apply: a subscription to a price
    whose record is corrupt (``feature_codes`` hand-edited into a string set) makes the
    consumer raise, not record. Sent in one batch with 9 good events: the 9 are applied on
    their first receive and never retried (partial batch response), the poison is retried
    and lands in the DLQ after maxReceiveCount (5) receives, with no mark and no entitlement.
    After the operator's fix (``billing-admin price add`` again), ``billing-admin dlq redrive
    --yes`` replays it: applied once (one mark, "applied"), the user gets the feature, the DLQ
    is empty and the good events were not applied again."""
    stack = own_stack
    tenant = create_tenant(stack, "702", [(PRO, "pro", True), (TEAM, "team", True)])
    corrupt_price(stack, TEAM)
    poison_user = new_id("user_poison")
    poison_id, poison_sub, poison = subscription_created("702", poison_user, TEAM)
    good: dict[str, tuple[str, str]] = {}
    raws = [poison]
    for n in range(BATCH - 1):
        user = f"user_good_{n}"
        event_id, sub_id, raw = subscription_created("702", user, PRO)
        good[event_id] = (user, sub_id)
        raws.append(raw)

    with consumer_paused(stack):
        poison_message, *good_messages = enqueue(stack, raws)

    def dead_lettered() -> bool:
        return queue_counts(stack, DEAD_LETTER_QUEUE) == (1, 0, 0)

    assert wait_until(dead_lettered, 60, 0.25), stack.log_text()[-3000:]
    wait_until_drained(stack)

    # In one invocation: the good events' lines and the poison's failure share a request id.
    records = log_records(stack)
    requests_of = {
        r["correlation_id"]: r.get("function_request_id")
        for r in records
        if r.get("correlation_id") in good and r.get("message") == "event processed"
    }
    (first_failure, *_) = [
        r
        for r in records
        if r.get("correlation_id") == poison_id and r.get("message", "").startswith("event not")
    ]
    assert "Cannot deserialize 'feature_codes'" in first_failure["exception"], first_failure
    assert set(requests_of.values()) == {first_failure["function_request_id"]}, requests_of
    log = stack.log_text()
    assert not [m for m in good_messages if f"message {m} failed" in log]  # not retried
    receives = [f"message {poison_message} failed (receive {n})" in log for n in range(1, 6)]
    assert receives == [True] * 5, log[-3000:]
    assert_applied_once(tenant, good, "pro")
    assert poison_id not in recorded_events(stack, [poison_id])  # failed: nothing recorded
    assert active_sources(tenant, poison_user, "team") == []
    (listed,) = [d for d in stack.admin("dlq", "list") if d["stripe_event_id"] == poison_id]
    assert listed["message_id"] == poison_message
    assert listed["receive_count"] >= 5

    register_team_price(stack, "702")
    assert stack.admin("dlq", "redrive", "--yes")["moved"] == 1

    assert wait_until(lambda: recorded_events(stack, [poison_id]), 30, 0.25), log[-3000:]
    wait_until_drained(stack)
    assert_applied_once(tenant, {poison_id: (poison_user, poison_sub)}, "team")
    assert stack.admin("dlq", "list") == []
    logged = outcomes_logged(stack, {poison_id, *good})
    assert logged == Counter({(e, "applied"): 1 for e in (poison_id, *good)}), logged


# ---------------------------------------------------------------------- 3. stack restarted
@dataclass
class Traffic:
    """What a client thread did: each item's final status, and how often it had to retry."""

    name: str
    finals: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    errors: list[str] = field(default_factory=list)

    def done(self) -> int:
        return len(self.finals)


RETRIED_STATUSES = {502, 503, 504}
ITEM_DEADLINE = 90.0


def until_answered(
    traffic: Traffic, call: Callable[[], int | requests.Response], stop: threading.Event
) -> int | None:
    """``call`` again on a connection error or a 502/503/504, as a client or Stripe does
    (Stripe retries any non-2xx; here only those, so a real error shows); None if the stack
    never answered within the deadline, or the test ended meanwhile."""
    deadline = time.monotonic() + ITEM_DEADLINE
    while time.monotonic() < deadline and not stop.is_set():
        try:
            answer = call()
        except requests.RequestException as exc:
            traffic.errors.append(type(exc).__name__)
        else:
            status = answer if isinstance(answer, int) else answer.status_code
            if status not in RETRIED_STATUSES:
                return status
            traffic.errors.append(str(status))
        traffic.retries += 1
        time.sleep(0.2)
    return None


def granting(tenant: Tenant, traffic: Traffic, stop: threading.Event) -> None:
    """An app granting a feature to new users one after the other, checking each."""
    n = 0
    while not stop.is_set():
        user = f"user_grant_{n}"
        body = {
            "user_id": user,
            "feature_code": "support",
            "granted_by": "support@example.com",
            "reason": "restart test",
        }
        status = until_answered(traffic, partial(tenant.post, "/api/v1/admin/grant", body), stop)
        if status is None:
            return
        traffic.finals[user] = status
        until_answered(traffic, partial(tenant.get, "/api/v1/entitlements", user_id=user), stop)
        n += 1
        time.sleep(0.05)


def sending_webhooks(
    tenant: Tenant, traffic: Traffic, stop: threading.Event, sent: dict[str, tuple[str, str]]
) -> None:
    """Stripe: each event signed anew and sent until it gets a 2xx."""
    n = 0
    while not stop.is_set():
        user = f"user_webhook_{n}"
        event_id, sub_id, raw = subscription_created(tenant.project_id, user, PRO)
        sent[event_id] = (user, sub_id)
        status = until_answered(traffic, partial(post_webhook, tenant.stack, raw), stop)
        if status is None:
            return
        traffic.finals[event_id] = status
        n += 1
        time.sleep(0.2)


def restart(stopped: StackProcess) -> StackProcess:
    """``python -m billing_devstack run`` again with the stopped stack's environment: the same
    ports and state dir (its first log is kept as run-first.log)."""
    stopped.log.rename(stopped.state_dir / "run-first.log")
    try:
        return launcher.start_stack(stopped.env, log=stopped.log)
    except launcher.LaunchError as exc:
        pytest.fail(f"the stack did not come back: {exc}")


@pytest.fixture
def persistent_state() -> Iterator[dict[str, StackProcess]]:
    """The stacks of the restart test, stopped whatever happens."""
    stacks: dict[str, StackProcess] = {}
    yield stacks
    for running in stacks.values():
        running.stop()


def test_a_stack_restarted_mid_traffic_loses_no_grant_and_no_accepted_webhook(
    tmp_path: Path, persistent_state: dict[str, StackProcess]
) -> None:
    """Proves LOCAL_PERSIST=1 keeps what the stack acknowledged across a graceful restart:
    while an app grants features and checks them (retrying connection errors and 502/503/504,
    as a client does) and Stripe sends signed webhooks (each until it gets a 2xx), the stack is
    stopped with SIGTERM and started again on the same ports and state dir. Both clients
    saw the outage (retries) and were acknowledged both before the stop and after the
    restart. Afterwards every grant answered 201 (or 200: an identical grant, i.e. an
    earlier attempt whose answer was lost) is in force with exactly one audit entry, every
    webhook answered 2xx has one mark, "applied", and its user the subscription's
    entitlement exactly once, and a message that was in the DLQ is still there."""
    state = tmp_path / "state"
    first = start_stack(state, LOCAL_PERSIST="1")
    persistent_state["first"] = first
    tenant = create_tenant(first, "703", [(PRO, "pro", True)])
    dlq = queue_url(first, DEAD_LETTER_QUEUE)
    first.sqs().send_message(QueueUrl=dlq, MessageBody="dead before the restart")

    grants, webhooks = Traffic("grants"), Traffic("webhooks")
    sent: dict[str, tuple[str, str]] = {}
    stop = threading.Event()
    threads = [
        threading.Thread(target=granting, args=(tenant, grants, stop), daemon=True),
        threading.Thread(target=sending_webhooks, args=(tenant, webhooks, stop, sent), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        assert wait_until(lambda: grants.done() >= 5 and webhooks.done() >= 5, 60), (
            grants,
            webhooks,
        )
        first.stop()  # SIGTERM, as Ctrl-C
        assert first.process.returncode == 0, first.log_text()[-3000:]
        before_restart = (grants.done(), webhooks.done())
        second = restart(first)
        persistent_state["second"] = second
        assert wait_until(
            lambda: (
                grants.done() >= before_restart[0] + 5 and webhooks.done() >= before_restart[1] + 5
            ),
            60,
        ), (grants, webhooks)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)

    first_log = (state / "run-first.log").read_text(errors="replace")
    assert "LOCAL_PERSIST: DynamoDB Local keeps its tables in" in first_log
    assert "queued messages saved to" in first_log, first_log[-3000:]
    assert grants.retries > 0 and webhooks.retries > 0, (grants, webhooks)  # the outage
    assert set(webhooks.finals.values()) == {200}, webhooks.finals
    assert set(grants.finals.values()) <= {200, 201}, grants.finals
    assert Counter(grants.finals.values())[201] >= len(grants.finals) - 1  # 200: a lost answer

    wait_until_drained(second)
    answered = {event_id: sent[event_id] for event_id in webhooks.finals}
    assert_applied_once(Tenant(second, tenant.project_id, tenant.key), answered, "pro")
    for user in grants.finals:
        (entry,) = audit_of(tenant, user, "support")
        assert entry["action"] == "grant"
        assert [s["source"] for s in active_sources(tenant, user, "support")] == ["manual"]
    bodies = [d.get("body") for d in second.admin("dlq", "list", "--show-body")]
    assert "dead before the restart" in bodies, bodies
