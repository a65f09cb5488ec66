"""billing-admin dlq against a running local stack: a poison message the consumer dead-lettered
is listed, and a valid event redriven from the DLQ is recorded (the replay after a fix)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from billing_devstack.launcher import StackProcess, wait_until
from tests.integration.conftest import start_stack

pytestmark = pytest.mark.integration


@pytest.fixture
def dlq_stack(tmp_path: Path) -> Iterator[StackProcess]:
    """A stack of its own: redriving would disturb the session stack's DLQ test."""
    running = start_stack(tmp_path / "state")
    yield running
    running.stop()


def test_list_shows_a_dead_letter_and_redrive_replays_a_valid_event(
    dlq_stack: StackProcess,
) -> None:
    sqs = dlq_stack.sqs()
    queue = sqs.get_queue_url(QueueName="WebhookQueue")["QueueUrl"]
    dlq = sqs.get_queue_url(QueueName="WebhookDeadLetterQueue")["QueueUrl"]
    poison_id = sqs.send_message(QueueUrl=queue, MessageBody="not json")["MessageId"]

    def dead_lettered() -> bool:
        attributes = sqs.get_queue_attributes(
            QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return attributes["ApproximateNumberOfMessages"] == "1"

    # The poller retries every second; SQS dead-letters it on the receive after the 5th.
    assert wait_until(dead_lettered, 60, 0.5), dlq_stack.log_text()[-3000:]

    (listed,) = dlq_stack.admin("dlq", "list")
    assert listed["message_id"] == poison_id  # SQS keeps the id when it dead-letters
    assert listed["stripe_event_id"] is None
    assert listed["receive_count"] >= 5
    assert "body" not in listed

    # A valid event (as the receiver enqueues it after checking its signature) that failed
    # before a fix: replaying it now records it.
    event_id = f"evt_dlq_{uuid.uuid4().hex}"
    event = {
        "id": event_id,
        "object": "event",
        "type": "customer.created",
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": {"id": "cus_local", "object": "customer"}},
    }
    sqs.send_message(
        QueueUrl=dlq,
        MessageBody=json.dumps(event),
        MessageAttributes={
            "stripe_event_id": {"DataType": "String", "StringValue": event_id},
            "stripe_event_type": {"DataType": "String", "StringValue": "customer.created"},
        },
    )
    listed_ids = {item["stripe_event_id"] for item in dlq_stack.admin("dlq", "list")}
    assert listed_ids == {None, event_id}

    assert dlq_stack.admin("dlq", "redrive") == {
        "dry_run": True,
        "would_move": 2,
        "moved": 0,
    }
    assert dlq_stack.admin("dlq", "redrive", "--yes")["moved"] == 2

    dynamodb = dlq_stack.dynamodb()
    key = {"event_id": {"S": event_id}}

    def recorded() -> bool:
        return "Item" in dynamodb.get_item(TableName="WebhookEventsTable", Key=key)

    assert wait_until(recorded, 30, 0.5), dlq_stack.log_text()[-3000:]
