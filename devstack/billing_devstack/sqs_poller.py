"""Lambda's SQS event source mapping, for the local stack.

One thread per SQS event of the template long-polls its queue in the moto server, hands the
batch to the function as Lambda would, deletes what succeeded and lets the rest come back:
with ReportBatchItemFailures only the reported messages are retried; when the invocation
itself fails, the whole batch is. Failed messages become visible again after
``LOCAL_SQS_RETRY_DELAY`` seconds (in AWS: the queue's visibility timeout, 180 s here).

Redrive to the DLQ is moto's: like SQS, moto moves a message to the queue's dead-letter target
on the receive after its ApproximateReceiveCount reached maxReceiveCount (proven by
tests/unit/devstack/test_sqs_poller.py and the integration tests), so the poller does not
re-implement it.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from billing_devstack.config import ACCOUNT_ID, REGION
from billing_devstack.lambda_runtime import Invoker, InvokeResult
from billing_devstack.template import SqsEventSource

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger("local.sqs")
SQS_MAX_BATCH = 10


class QueueClient(Protocol):
    """The three SQS calls an event source mapping makes; faked in unit tests."""

    def receive(self, max_messages: int, wait_seconds: int) -> list[dict[str, Any]]:
        """Long-poll up to ``max_messages`` messages with all attributes."""
        ...

    def delete(self, receipt_handles: Sequence[str]) -> None:
        """Delete processed messages."""
        ...

    def retry_after(self, receipt_handles: Sequence[str], seconds: int) -> None:
        """Make failed messages visible again after ``seconds``."""
        ...


@dataclass
class BotoQueue:
    """QueueClient over a boto3 SQS client (the moto server locally)."""

    client: SQSClient
    url: str

    def receive(self, max_messages: int, wait_seconds: int) -> list[dict[str, Any]]:
        """ReceiveMessage with every system and message attribute, as Lambda asks for."""
        response = self.client.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return [dict(message) for message in response.get("Messages", [])]

    def delete(self, receipt_handles: Sequence[str]) -> None:
        """DeleteMessageBatch, ten at a time."""
        for chunk in _chunks(receipt_handles):
            entries = [{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(chunk)]
            self.client.delete_message_batch(QueueUrl=self.url, Entries=entries)  # type: ignore[arg-type]

    def retry_after(self, receipt_handles: Sequence[str], seconds: int) -> None:
        """ChangeMessageVisibilityBatch, ten at a time."""
        for chunk in _chunks(receipt_handles):
            entries = [
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                for i, handle in enumerate(chunk)
            ]
            self.client.change_message_visibility_batch(QueueUrl=self.url, Entries=entries)  # type: ignore[arg-type]


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[start : start + SQS_MAX_BATCH] for start in range(0, len(items), SQS_MAX_BATCH)]


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """SQS API shape -> Lambda record shape (camelCase, binary as base64)."""

    def b64(raw: Any) -> str:
        return base64.b64encode(raw if isinstance(raw, bytes) else str(raw).encode()).decode()

    record: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [b64(item) for item in value.get("BinaryListValues", [])],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        record["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        record["binaryValue"] = b64(value["BinaryValue"])
    return record


def build_record(
    message: Mapping[str, Any], queue_name: str, region: str = REGION
) -> dict[str, Any]:
    """One record of Lambda's SQS event for a received message."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{queue_name}",
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_message_ids(
    result: InvokeResult, message_ids: Sequence[str], report_failures: bool
) -> set[str]:
    """Which messages must come back, by Lambda's rules for batch responses."""
    everything = set(message_ids)
    if not result.ok:
        return everything
    if not report_failures or not isinstance(result.payload, Mapping):
        return set()
    failures = result.payload.get("batchItemFailures") or []
    if not isinstance(failures, list):
        return everything
    ids = {item.get("itemIdentifier") if isinstance(item, Mapping) else None for item in failures}
    # An empty or unknown identifier makes Lambda treat the whole batch as failed.
    return everything if not ids <= everything else {str(i) for i in ids}


@dataclass
class QueuePoller:
    """Feeds one queue to one function until stopped."""

    source: SqsEventSource
    queue_name: str
    queue: QueueClient
    invoker: Invoker
    retry_delay: int = 1
    wait_seconds: int = 1
    stop_event: threading.Event = field(default_factory=threading.Event)

    def poll_once(self) -> int:
        """Receive one batch and process it; returns how many messages were received."""
        messages = self.queue.receive(min(self.source.batch_size, SQS_MAX_BATCH), self.wait_seconds)
        if not messages:
            return 0
        records = [build_record(message, self.queue_name) for message in messages]
        result = self.invoker.invoke(self.source.function_id, {"Records": records})
        if not result.ok:
            logger.warning("%s failed: %s", self.source.function_id, result.error_message)
        failed = failed_message_ids(
            result,
            [record["messageId"] for record in records],
            self.source.report_batch_item_failures,
        )
        done = [r["receiptHandle"] for r in records if r["messageId"] not in failed]
        retry = [r for r in records if r["messageId"] in failed]
        if done:
            self.queue.delete(done)
        # A function that sets its failed messages' visibility itself keeps the wait it set
        # (AWS never touches it); anything else waits the emulated visibility timeout.
        if retry and (not result.ok or not self.source.manages_visibility):
            self.queue.retry_after([r["receiptHandle"] for r in retry], self.retry_delay)
            for record in retry:
                logger.info(
                    "message %s failed (receive %s), visible again in %d s",
                    record["messageId"],
                    record["attributes"].get("ApproximateReceiveCount", "?"),
                    self.retry_delay,
                )
        return len(messages)

    def run(self) -> None:
        """Poll until stopped; a failing queue (moto restarting) is retried, never fatal."""
        while not self.stop_event.is_set():
            try:
                self.poll_once()
            except (BotoCoreError, ClientError) as exc:  # moto restarting or stopping
                logger.warning("polling %s failed (%s); retrying", self.queue_name, exc)
                self.stop_event.wait(1.0)
            except Exception:
                logger.exception("polling %s failed; retrying", self.queue_name)
                self.stop_event.wait(1.0)
