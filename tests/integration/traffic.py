"""What the concurrency and load tests share: a tenant of their own, signed webhooks posted as
Stripe posts them, extra webhook consumers, and waiting until every delivery has been applied.

The local stack feeds the webhook queue to one consumer invocation at a time; in AWS the event
source mapping runs several at once. :class:`ExtraConsumers` adds pollers of the same queue,
invoking the same consumer function in workers of the test's own (the stack's environment),
so events of one object really are applied concurrently.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import requests

from billing.domain.webhook_signature import signature_header
from billing_devstack.config import STANDIN_WEBHOOK_SECRET, WEBHOOK_PATH, LocalConfig
from billing_devstack.lambda_runtime import LambdaRuntime
from billing_devstack.launcher import StackProcess
from billing_devstack.sqs_poller import BotoQueue, QueuePoller
from billing_devstack.template import load_template
from tests.integration.test_checkout_over_http import register_price, standin_url

WEBHOOK_QUEUE = "WebhookQueue"
DEAD_LETTER_QUEUE = "WebhookDeadLetterQueue"
CONSUMER_FUNCTION = "WebhookConsumerFunction"
DRAIN_TIMEOUT = 120.0
# After a lost receive's visibility timeout, the time to apply the batch that comes back.
LOST_RECEIVE_MARGIN = 60.0
HTTP_TIMEOUT = 60.0


@dataclass(frozen=True)
class Tenant:
    """A project of the test's own, its admin-scoped key, and where things are."""

    stack: StackProcess
    project_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}

    def get(self, path: str, **params: str) -> requests.Response:
        return requests.get(
            f"{self.stack.url}{path}",
            params={"project_id": self.project_id, **params},
            headers=self.headers,
            timeout=HTTP_TIMEOUT,
        )

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(
            f"{self.stack.url}{path}",
            json={"project_id": self.project_id, **body},
            headers=self.headers,
            timeout=HTTP_TIMEOUT,
        )

    def entitlements(self, user_id: str) -> list[dict[str, Any]]:
        response = self.get("/api/v1/entitlements", user_id=user_id)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["entitlements"]
        return found


def create_tenant(
    stack: StackProcess, project_id: str, prices: Iterable[tuple[str, str, bool]]
) -> Tenant:
    """The project, its prices (id, feature, recurring) in the service and the stand-in, and
    a key of an app of it."""
    stack.admin("project", "create", "--id", project_id, "--name", f"tenant-{project_id}")
    for price_id, feature, recurring in prices:
        register_price(stack, project_id, price_id, recurring, feature)
    created = stack.admin("app", "create", "--project", project_id, "--name", "concurrency")
    return Tenant(stack, project_id, str(created["api_key"]))


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------------- webhooks
def post_webhook(stack: StackProcess, body: str) -> int:
    """POST one raw event to the receiver, signed now as Stripe signs; the status."""
    payload = body.encode()
    signature = signature_header(payload, STANDIN_WEBHOOK_SECRET, int(time.time()))
    response = requests.post(
        f"{stack.url}{WEBHOOK_PATH}",
        data=payload,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        timeout=HTTP_TIMEOUT,
    )
    return response.status_code


def queue_url(stack: StackProcess, name: str) -> str:
    return stack.sqs().get_queue_url(QueueName=name)["QueueUrl"]


def queue_counts(stack: StackProcess, name: str) -> tuple[int, int, int]:
    """(visible, in flight, delayed) messages of a queue."""
    attributes = stack.sqs().get_queue_attributes(
        QueueUrl=queue_url(stack, name),
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        int(attributes["ApproximateNumberOfMessagesDelayed"]),
    )


def standin_pending(stack: StackProcess) -> int:
    """Events the stand-in has still to deliver (or retry)."""
    rows = standin_events(stack)
    return sum(1 for row in rows if row["delivery"]["status"] == "pending")


def standin_events(stack: StackProcess) -> list[dict[str, Any]]:
    """Every event the stand-in emitted, oldest first, with its delivery."""
    answer = requests.get(f"{standin_url(stack)}/_standin/events", timeout=30)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["data"]
    return rows


def visibility_timeout(stack: StackProcess, name: str) -> int:
    """The queue's VisibilityTimeout as the stack created it from template.yaml, in seconds."""
    attributes = stack.sqs().get_queue_attributes(
        QueueUrl=queue_url(stack, name), AttributeNames=["VisibilityTimeout"]
    )["Attributes"]
    return int(attributes["VisibilityTimeout"])


def wait_until_drained(stack: StackProcess, timeout: float = DRAIN_TIMEOUT) -> None:
    """Until the stand-in has delivered everything and the webhook queue holds nothing, visible
    or in flight, three polls in a row (a failed message comes back after 1 s).

    A batch received but never handed to a poller (its ReceiveMessage answer lost on the way,
    which botocore retries without a word) stays in flight for the queue's whole visibility
    timeout, as it would in AWS. One CI run on a loaded machine saw
    a batch of 10 stay in flight past the old 140 s wait. So the wait is at least that timeout
    plus a margin to apply the batch: such a batch then shows it is not lost, instead of
    failing the test while it is still on its way back."""
    timeout = max(timeout, visibility_timeout(stack, WEBHOOK_QUEUE) + LOST_RECEIVE_MARGIN)
    deadline = time.monotonic() + timeout
    quiet = 0
    last: tuple[int, int, int] | None = None
    while time.monotonic() < deadline:
        last = queue_counts(stack, WEBHOOK_QUEUE)
        quiet = quiet + 1 if last == (0, 0, 0) and standin_pending(stack) == 0 else 0
        if quiet >= 3:
            return
        time.sleep(0.5)
    raise AssertionError(f"the webhook queue did not drain in {timeout:.0f} s: {last}")


def dead_lettered_event_ids(stack: StackProcess) -> set[str]:
    """The Stripe event ids in the DLQ (every test's: filter by your own)."""
    listed = stack.admin("dlq", "list", "--limit", "1000")
    return {str(row["stripe_event_id"]) for row in listed if row.get("stripe_event_id")}


def recorded_events(stack: StackProcess, event_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """WebhookEventsTable items of these event ids (absent ids: not recorded)."""
    ids = sorted(set(event_ids))
    found: dict[str, dict[str, Any]] = {}
    client = stack.dynamodb()
    for start in range(0, len(ids), 100):
        keys = [{"event_id": {"S": event_id}} for event_id in ids[start : start + 100]]
        request: dict[str, Any] = {"WebhookEventsTable": {"Keys": keys, "ConsistentRead": True}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get("WebhookEventsTable", []):
                found[item["event_id"]["S"]] = item
            request = dict(answer.get("UnprocessedKeys") or {})
    return found


# ---------------------------------------------------------------------- extra consumers
class ExtraConsumers:
    """``count`` more pollers of the webhook queue, each invoking the consumer function in a
    worker of the test's own (the stack's environment): concurrency as in AWS."""

    def __init__(self, stack: StackProcess, count: int) -> None:
        config = LocalConfig.from_env(stack.env)
        template = load_template(config.template_path, config.moto_endpoint, config.environ)
        self.runtime = LambdaRuntime(template.functions, config)
        (source,) = [s for s in template.sqs_sources if s.function_id == CONSUMER_FUNCTION]
        queue = BotoQueue(stack.sqs(), queue_url(stack, WEBHOOK_QUEUE))
        self.pollers = [
            QueuePoller(source, WEBHOOK_QUEUE, queue, self.runtime, retry_delay=1)
            for _ in range(count)
        ]
        self.threads: list[threading.Thread] = []

    def __enter__(self) -> ExtraConsumers:
        for poller in self.pollers:
            thread = threading.Thread(target=poller.run, name="extra-consumer", daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for poller in self.pollers:
            poller.stop_event.set()
        for thread in self.threads:
            thread.join(10)
        self.runtime.close()
