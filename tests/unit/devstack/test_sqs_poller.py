"""The SQS event source mapping: batch events, partial failures, redrive to the DLQ."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from billing_devstack.lambda_runtime import InvokeResult
from billing_devstack.resources import create_queues
from billing_devstack.sqs_poller import BotoQueue, QueuePoller, build_record, failed_message_ids
from billing_devstack.template import QueueSpec, SqsEventSource
from tests.unit.devstack.conftest import FakeInvoker, ok, raises


def message(n: int, receive_count: int = 1) -> dict[str, Any]:
    return {
        "MessageId": f"m{n}",
        "ReceiptHandle": f"r{n}",
        "Body": f'{{"n": {n}}}',
        "MD5OfBody": "md5",
        "Attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "1"},
        "MessageAttributes": {
            "kind": {"DataType": "String", "StringValue": "test"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    }


@dataclass
class FakeQueue:
    """Hands out prepared messages; records deletions and retries."""

    pending: list[dict[str, Any]] = field(default_factory=list)
    received_with: list[tuple[int, int]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    retried: list[tuple[str, int]] = field(default_factory=list)

    def receive(self, max_messages: int, wait_seconds: int) -> list[dict[str, Any]]:
        self.received_with.append((max_messages, wait_seconds))
        batch, self.pending = self.pending[:max_messages], self.pending[max_messages:]
        return batch

    def delete(self, receipt_handles: Sequence[str]) -> None:
        self.deleted += receipt_handles

    def retry_after(self, receipt_handles: Sequence[str], seconds: int) -> None:
        self.retried += [(handle, seconds) for handle in receipt_handles]


SOURCE = SqsEventSource("Consumer", "Work", batch_size=3, report_batch_item_failures=True)


def poller(queue: FakeQueue, invoker: FakeInvoker, source: SqsEventSource = SOURCE) -> QueuePoller:
    return QueuePoller(source, "Work", queue, invoker, retry_delay=1, wait_seconds=2)


def test_the_batch_event_has_lambdas_sqs_shape(invoker: FakeInvoker) -> None:
    queue = FakeQueue([message(1, receive_count=2), message(2)])
    assert poller(queue, invoker).poll_once() == 2

    assert queue.received_with == [(3, 2)]
    (event,) = invoker.events_of("Consumer")
    record = event["Records"][0]
    assert record == {
        "messageId": "m1",
        "receiptHandle": "r1",
        "body": '{"n": 1}',
        "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1"},
        "messageAttributes": {
            "kind": {
                "stringValue": "test",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            },
            "blob": {
                "binaryValue": "AAE=",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            },
        },
        "md5OfBody": "md5",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:Work",
        "awsRegion": "us-east-1",
    }


def test_only_reported_failures_come_back(invoker: FakeInvoker) -> None:
    queue = FakeQueue([message(1), message(2), message(3)])
    invoker.answers["Consumer"] = ok({"batchItemFailures": [{"itemIdentifier": "m2"}]})
    poller(queue, invoker).poll_once()
    assert queue.deleted == ["r1", "r3"]
    assert queue.retried == [("r2", 1)]


def test_a_failed_invocation_deletes_nothing(invoker: FakeInvoker) -> None:
    queue = FakeQueue([message(1), message(2)])
    invoker.answers["Consumer"] = raises("boom")
    poller(queue, invoker).poll_once()
    assert queue.deleted == []
    assert queue.retried == [("r1", 1), ("r2", 1)]


def test_an_empty_or_missing_failure_list_means_all_succeeded(invoker: FakeInvoker) -> None:
    for answer in (ok(None), ok({}), ok({"batchItemFailures": []})):
        queue = FakeQueue([message(1)])
        invoker.answers["Consumer"] = answer
        poller(queue, invoker).poll_once()
        assert (queue.deleted, queue.retried) == (["r1"], [])


def test_an_unknown_item_identifier_fails_the_whole_batch() -> None:
    result = InvokeResult(payload={"batchItemFailures": [{"itemIdentifier": "nope"}]})
    assert failed_message_ids(result, ["m1", "m2"], report_failures=True) == {"m1", "m2"}
    result = InvokeResult(payload={"batchItemFailures": [{"itemIdentifier": ""}]})
    assert failed_message_ids(result, ["m1"], report_failures=True) == {"m1"}


def test_batch_item_failures_are_ignored_without_report_batch_item_failures(
    invoker: FakeInvoker,
) -> None:
    queue = FakeQueue([message(1)])
    invoker.answers["Consumer"] = ok({"batchItemFailures": [{"itemIdentifier": "m1"}]})
    source = SqsEventSource("Consumer", "Work", batch_size=3, report_batch_item_failures=False)
    poller(queue, invoker, source).poll_once()
    assert queue.deleted == ["r1"]


def test_no_message_no_invocation(invoker: FakeInvoker) -> None:
    assert poller(FakeQueue(), invoker).poll_once() == 0
    assert invoker.calls == []


def test_build_record_keeps_md5_of_message_attributes() -> None:
    record = build_record({**message(1), "MD5OfMessageAttributes": "abc"}, "Q")
    assert record["md5OfMessageAttributes"] == "abc"


# ------------------------------------------------------------------ moto's redrive, relied upon
@pytest.fixture
def moto_queues() -> Iterator[tuple[Any, dict[str, str]]]:
    with mock_aws():
        client = boto3.client(
            "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        redrive = {
            "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:Dead",
            "maxReceiveCount": 3,
        }
        attributes = {"VisibilityTimeout": "180", "RedrivePolicy": json.dumps(redrive)}
        specs = [
            QueueSpec("Work", "Work", attributes, dlq_id="Dead", max_receive_count=3),
            QueueSpec("Dead", "Dead", {}),
        ]
        yield client, create_queues(client, specs)


def test_moto_moves_a_message_to_the_dlq_after_max_receive_count(
    moto_queues: tuple[Any, dict[str, str]], invoker: FakeInvoker
) -> None:
    client, urls = moto_queues
    client.send_message(QueueUrl=urls["Work"], MessageBody="not json")
    invoker.answers["Consumer"] = ok({"batchItemFailures": [{"itemIdentifier": None}]})
    work = BotoQueue(client, urls["Work"])
    feeding = QueuePoller(SOURCE, "Work", work, invoker, retry_delay=0, wait_seconds=0)

    received = [feeding.poll_once() for _ in range(5)]

    counts = [e["Records"][0]["attributes"]["ApproximateReceiveCount"] for _, e in invoker.calls]
    assert counts == ["1", "2", "3"]  # the 4th receive moved it instead of handing it out
    assert received == [1, 1, 1, 0, 0]
    dead = client.receive_message(QueueUrl=urls["Dead"], MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in dead] == ["not json"]


@dataclass
class OnceBrokenQueue(FakeQueue):
    """Raises from its first receive (as a runtime error, not a boto one), then hands out."""

    broken: bool = True

    def receive(self, max_messages: int, wait_seconds: int) -> list[dict[str, Any]]:
        if self.broken:
            self.broken = False
            raise RuntimeError("the local runtime is shutting down")
        return super().receive(max_messages, wait_seconds)


def test_the_poller_keeps_polling_after_anything_a_poll_raises(invoker: FakeInvoker) -> None:
    invoker.answers["Consumer"] = ok({"batchItemFailures": []})
    queue = OnceBrokenQueue(pending=[message(1)])
    feeding = poller(queue, invoker)
    thread = threading.Thread(target=feeding.run, daemon=True)

    thread.start()
    for _ in range(100):
        if queue.deleted:
            break
        threading.Event().wait(0.05)
    feeding.stop_event.set()
    thread.join(5)

    assert not queue.broken
    assert queue.deleted == ["r1"]  # the poll after the failure handed the message out
    assert not thread.is_alive()
