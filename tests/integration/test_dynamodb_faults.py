"""DynamoDB throttled, down, or losing answers: nothing is lost and nothing is half-written.

The stack's workers reach DynamoDB Local through a fault proxy (tests/support/dynamo_faults.py,
LOCAL_DYNAMODB_ENDPOINT); the test tells it which requests fail. The service retries
(botocore's standard mode, through PynamoDB: 4 attempts), then answers 503 (API) or fails the
SQS record so SQS delivers it again (consumer). Everything is checked on DynamoDB Local itself,
past the proxy. The module runs a stack of its own, seeded with the demo project 1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import requests

from billing_devstack.launcher import StackProcess, wait_until
from tests.integration.conftest import start_stack
from tests.integration.test_concurrency import stored_fact
from tests.integration.traffic import (
    DEAD_LETTER_QUEUE,
    WEBHOOK_QUEUE,
    dead_lettered_event_ids,
    new_id,
    post_webhook,
    queue_counts,
    recorded_events,
    wait_until_drained,
)
from tests.support import stripe_events as se
from tests.support.dynamo_faults import DynamoFaultProxy, Fault

pytestmark = pytest.mark.integration

PROJECT, API_KEY, PRICE, FEATURE = "1", "sk_demo_space_journal", "price_123", "pro"
DAY = 86_400
APPLY_TIMEOUT = 30.0
UNAVAILABLE = "service temporarily unavailable, retry later"


@dataclass
class FaultyStack:
    """The stack, and the proxy between its workers and DynamoDB Local."""

    stack: StackProcess
    proxy: DynamoFaultProxy

    def fail(
        self,
        fault: Fault,
        times: int | None = None,
        operations: tuple[str, ...] = (),
        about: str | None = None,
    ) -> None:
        """See FaultPlan.fail: ``about`` keeps the fault to one event's or user's requests."""
        self.proxy.plan.fail(fault, times, operations, about)

    def clear(self) -> None:
        self.proxy.plan.clear()


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultyStack]:
    with DynamoFaultProxy() as proxy:
        stack = start_stack(
            tmp_path_factory.mktemp("dynamo-faults"), LOCAL_DYNAMODB_ENDPOINT=proxy.url
        )
        try:
            proxy.forward_to(f"http://127.0.0.1:{stack.env['LOCAL_DYNAMODB_PORT']}")
            stack.admin("demo", "seed")
            yield FaultyStack(stack, proxy)
        finally:
            stack.stop()


@pytest.fixture(autouse=True)
def no_faults_left(faulty: FaultyStack) -> Iterator[None]:
    """Each test starts and ends with DynamoDB healthy and the webhook queue empty."""
    faulty.clear()
    yield
    faulty.clear()
    wait_until_drained(faulty.stack)


# ---------------------------------------------------------------------- webhooks
@dataclass(frozen=True)
class Delivery:
    """A signed-to-be ``customer.subscription.created`` of a new user on price_123."""

    event_id: str
    subscription_id: str
    user_id: str
    created: int
    body: str


def new_subscription() -> Delivery:
    event_id, sub_id, user = new_id("evt_dbf"), new_id("sub_dbf"), new_id("user_dbf")
    created = int(time.time()) - 60
    subscription = se.subscription(
        sub_id,
        prices=(PRICE,),
        period_end=created + 30 * DAY,
        metadata={"project_id": PROJECT, "user_id": user},
        customer=new_id("cus_dbf"),
        start=created,
    )
    body = se.event("customer.subscription.created", subscription, created, event_id=event_id)
    return Delivery(event_id, sub_id, user, created, body)


def entitlement_record(stack: StackProcess, user_id: str) -> dict[str, Any] | None:
    """The user's EntitlementsTable item, read on DynamoDB Local itself."""
    answer = stack.dynamodb().get_item(
        TableName="EntitlementsTable",
        Key={"project_user": {"S": f"{PROJECT}#{user_id}"}},
        ConsistentRead=True,
    )
    item: dict[str, Any] | None = answer.get("Item")
    return item


def audit_entries(stack: StackProcess, user_id: str) -> list[dict[str, Any]]:
    answer = stack.dynamodb().query(
        TableName="AuditTable",
        KeyConditionExpression="project_user = :key",
        ExpressionAttributeValues={":key": {"S": f"{PROJECT}#{user_id}"}},
        ConsistentRead=True,
    )
    return list(answer["Items"])


def sources_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    return list(record["sources"]["L"])


def has_fact(stack: StackProcess, stripe_id: str) -> bool:
    answer = stack.dynamodb().get_item(
        TableName="StripeObjectsTable", Key={"stripe_id": {"S": stripe_id}}, ConsistentRead=True
    )
    return "Item" in answer


def what_is_stored(stack: StackProcess, delivery: Delivery) -> tuple[bool, bool, bool]:
    """(processed mark, fact, entitlement record) present: all or none, never a mix."""
    return (
        delivery.event_id in recorded_events(stack, [delivery.event_id]),
        has_fact(stack, delivery.subscription_id),
        entitlement_record(stack, delivery.user_id) is not None,
    )


def is_applied(stack: StackProcess, delivery: Delivery) -> bool:
    return delivery.event_id in recorded_events(stack, [delivery.event_id])


def assert_applied_once(stack: StackProcess, delivery: Delivery) -> None:
    """The mark says applied, the fact is the event's version, and the user's record was
    written once (version 1) with the price's feature from this subscription."""
    assert what_is_stored(stack, delivery) == (True, True, True)
    mark = recorded_events(stack, [delivery.event_id])[delivery.event_id]
    assert mark["outcome"]["S"] == "applied"
    fact = stored_fact(stack, delivery.subscription_id)
    assert (fact["version"], fact["status"]) == (delivery.created, "active")
    assert fact["owner"] == {"project_id": PROJECT, "user_id": delivery.user_id}
    record = entitlement_record(stack, delivery.user_id)
    assert record is not None
    assert record["version"]["N"] == "1"
    sources = [(s["M"]["feature_code"]["S"], s["M"]["source_id"]["S"]) for s in sources_of(record)]
    assert sources == [(FEATURE, delivery.subscription_id)]
    assert delivery.event_id not in dead_lettered_event_ids(stack)


def deliver(stack: StackProcess, delivery: Delivery) -> None:
    assert post_webhook(stack, delivery.body) == 200


@pytest.mark.parametrize("fault", [Fault.THROTTLING, Fault.THROUGHPUT_EXCEEDED])
def test_a_webhook_is_applied_once_through_transient_throttling(
    faulty: FaultyStack, fault: Fault
) -> None:
    """Proves botocore's retries absorb a short throttling burst (ThrottlingException or
    ProvisionedThroughputExceededException on the consumer's first two DynamoDB requests):
    the event is applied once, with one TransactWriteItems, and the proxy saw the retries."""
    stack, plan = faulty.stack, faulty.proxy.plan
    delivery = new_subscription()
    faulty.fail(fault, times=2, about=delivery.event_id)
    deliver(stack, delivery)
    assert wait_until(lambda: is_applied(stack, delivery), APPLY_TIMEOUT)

    assert_applied_once(stack, delivery)
    about_it = plan.mentioning(delivery.event_id)
    assert [r.fault for r in about_it[:3]] == [fault, fault, None]  # retried, then through
    writes = [r for r in about_it if r.operation == "TransactWriteItems"]
    assert [(w.fault, w.upstream_status) for w in writes] == [(None, 200)]


def test_webhooks_wait_in_sqs_while_dynamodb_is_down_then_apply_once(faulty: FaultyStack) -> None:
    """Proves an outage loses nothing and half-writes nothing: with every DynamoDB request
    dropped, webhooks are still accepted (the receiver needs only SQS); each fails in the
    consumer and stays in the webhook queue (none in the DLQ: the outage ends after the first
    failed receive of each, well before maxReceiveCount 5); no mark, fact or record is written;
    once DynamoDB answers again, each is applied exactly once."""
    stack, plan = faulty.stack, faulty.proxy.plan
    deliveries = [new_subscription(), new_subscription()]
    faulty.fail(Fault.DROP)
    for delivery in deliveries:
        deliver(stack, delivery)

    def each_tried() -> bool:
        return all(
            any(r.fault is Fault.DROP for r in plan.mentioning(d.event_id)) for d in deliveries
        )

    assert wait_until(each_tried, APPLY_TIMEOUT)
    assert sum(queue_counts(stack, WEBHOOK_QUEUE)) == len(deliveries)
    assert queue_counts(stack, DEAD_LETTER_QUEUE) == (0, 0, 0)
    for delivery in deliveries:
        assert what_is_stored(stack, delivery) == (False, False, False)

    faulty.clear()
    assert wait_until(lambda: all(is_applied(stack, d) for d in deliveries), APPLY_TIMEOUT)
    wait_until_drained(stack)
    for delivery in deliveries:
        assert_applied_once(stack, delivery)
    assert queue_counts(stack, DEAD_LETTER_QUEUE) == (0, 0, 0)


@pytest.mark.parametrize(
    ("fault", "lost_answers"),
    [(Fault.LOST_ANSWER_ERROR, 1), (Fault.LOST_ANSWER_DROP, None)],
    ids=["botocore-retries-the-write", "sqs-retries-the-event"],
)
def test_a_write_whose_answer_is_lost_is_applied_once(
    faulty: FaultyStack, fault: Fault, lost_answers: int | None
) -> None:
    """Proves a lost answer is harmless: the consumer's TransactWriteItems reaches DynamoDB
    (and is applied) but its answer is lost (a 500, or the connection dropped). Lost once,
    botocore sends the same transaction again and DynamoDB, by its ClientRequestToken, answers
    it without applying it twice. Lost until the invocation gives up, SQS delivers the event
    again and its processed mark, written by that first transaction, makes it a duplicate.
    Either way the event is applied once, nothing is dead-lettered, and the write is not
    repeated in a loop."""
    stack, plan = faulty.stack, faulty.proxy.plan
    delivery = new_subscription()
    operations = ("TransactWriteItems",)
    faulty.fail(fault, times=lost_answers, operations=operations, about=delivery.event_id)
    deliver(stack, delivery)
    assert wait_until(lambda: is_applied(stack, delivery), APPLY_TIMEOUT)
    wait_until_drained(stack)
    faulty.clear()

    assert_applied_once(stack, delivery)
    writes = [r for r in plan.mentioning(delivery.event_id) if r.operation == "TransactWriteItems"]
    assert (writes[0].fault, writes[0].upstream_status) == (fault, 200)
    if lost_answers is None:  # every attempt of the first invocation, then none: the mark won
        assert all(w.fault is fault for w in writes)
        assert len(writes) <= 4
    else:
        assert [w.fault for w in writes] == [fault, None]


# ---------------------------------------------------------------------- API
def api(method: str, path: str, faulty: FaultyStack, **kwargs: Any) -> requests.Response:
    return requests.request(
        method, f"{faulty.stack.url}{path}", headers={"X-API-Key": API_KEY}, timeout=60, **kwargs
    )


def grant(faulty: FaultyStack, user_id: str) -> requests.Response:
    body = {
        "project_id": PROJECT,
        "user_id": user_id,
        "feature_code": FEATURE,
        "granted_by": "support@example.com",
        "reason": "DynamoDB fault test",
    }
    return api("POST", "/api/v1/admin/grant", faulty, json=body)


def check(faulty: FaultyStack, user_id: str) -> requests.Response:
    query = {"project_id": PROJECT, "user_id": user_id, "feature_code": FEATURE}
    return api("GET", "/api/v1/entitlements/check", faulty, params=query)


@pytest.fixture
def authorized(faulty: FaultyStack) -> None:
    """One call while DynamoDB is healthy: the gateway caches the authorizer's answer (300 s,
    as API Gateway does), so the faults that follow reach the handlers, not the authorizer."""
    assert check(faulty, new_id("user_warm")).status_code == 200


@pytest.mark.usefixtures("authorized")
def test_the_api_answers_503_during_an_outage_and_stores_nothing(faulty: FaultyStack) -> None:
    """Proves an outage is a clear, retryable 503 for a grant and an entitlement check (after
    botocore's retries), with nothing stored: no record, no audit entry; /ready says 503 with
    the reason too (it answered 500 before DynamoDB's error answers were mapped); once
    DynamoDB is back the same grant succeeds, once."""
    stack = faulty.stack
    user = new_id("user_dbf")
    faulty.fail(Fault.SERVER_ERROR)
    for response in (grant(faulty, user), check(faulty, user)):
        assert response.status_code == 503, response.text
        assert response.json() == {"message": UNAVAILABLE}
        assert response.headers["Retry-After"] == "1"
    retried = [r for r in faulty.proxy.plan.mentioning(user) if r.fault is Fault.SERVER_ERROR]
    assert len(retried) > 1  # the check's GetItem, sent again by botocore before giving up
    ready = requests.get(f"{stack.url}/ready", timeout=30)
    assert ready.status_code == 503, ready.text
    assert ready.json()["status"] == "unavailable"
    assert "DescribeTable failed: InternalServerError" in ready.json()["reason"]
    assert entitlement_record(stack, user) is None
    assert audit_entries(stack, user) == []

    faulty.clear()
    first, again = grant(faulty, user), grant(faulty, user)
    assert (first.status_code, first.json()["created"]) == (201, True), first.text
    assert (again.status_code, again.json()["created"]) == (200, False), again.text
    assert len(audit_entries(stack, user)) == 1
    assert check(faulty, user).json()["active"] is True


def test_a_key_not_yet_authorized_gets_503_during_an_outage_then_works(
    faulty: FaultyStack,
) -> None:
    """Proves the authorizer's failure is the same retryable 503 as the routes': a key never
    seen before has no cached authorizer answer, so during the outage the authorizer cannot
    look it up and raises; clients get 503 with Retry-After and the service's message (the
    template's GatewayResponses), not API Gateway's 500 {"message": null}. The failure is not
    cached: once DynamoDB is back the same key is authorized."""
    stack = faulty.stack
    key = stack.admin("app", "create", "--project", PROJECT, "--name", "outage")["api_key"]
    query = {"project_id": PROJECT, "user_id": new_id("user_dbf"), "feature_code": FEATURE}

    def check_with_new_key() -> requests.Response:
        return requests.get(
            f"{stack.url}/api/v1/entitlements/check",
            headers={"X-API-Key": key},
            params=query,
            timeout=60,
        )

    faulty.fail(Fault.SERVER_ERROR)
    refused = check_with_new_key()
    assert refused.status_code == 503, refused.text
    assert refused.json() == {"message": UNAVAILABLE}
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["Content-Type"] == "application/json"

    faulty.clear()
    answered = check_with_new_key()
    assert answered.status_code == 200, answered.text
    assert answered.json()["active"] is False


@pytest.mark.usefixtures("authorized")
def test_a_grant_whose_answer_was_lost_is_not_granted_twice(faulty: FaultyStack) -> None:
    """Proves a client's retry after a lost answer is harmless: the grant's transaction (record
    and audit entry) is applied but every answer to it is lost, so the client gets 503; its
    retry answers 200 created=false with the grant that is stored (same source id and start),
    and there is one grant and one audit entry."""
    stack, plan = faulty.stack, faulty.proxy.plan
    user = new_id("user_dbf")
    faulty.fail(Fault.LOST_ANSWER_ERROR, operations=("TransactWriteItems",), about=user)
    lost = grant(faulty, user)
    assert lost.status_code == 503, lost.text
    faulty.clear()
    writes = [r for r in plan.mentioning(user) if r.operation == "TransactWriteItems"]
    assert writes
    assert (writes[0].fault, writes[0].upstream_status) == (Fault.LOST_ANSWER_ERROR, 200)

    retried = grant(faulty, user)
    assert retried.status_code == 200, retried.text
    shown = retried.json()
    assert shown["created"] is False
    record = entitlement_record(stack, user)
    assert record is not None
    assert record["version"]["N"] == "1"
    (source,) = [s["M"] for s in sources_of(record)]
    granted_at = datetime.fromisoformat(source["valid_from"]["S"]).replace(microsecond=0)
    assert datetime.fromisoformat(shown["valid_from"]) == granted_at  # the lost request's grant
    assert len(audit_entries(stack, user)) == 1
    assert check(faulty, user).json()["active"] is True
