"""The webhook queue on SQS and its dead-letter queue, reconciliation's queue, and the
dead-letter queue of metered usage Stripe would not take."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from billing.domain.dead_letters import DeadLetter, event_identity
from billing.domain.metering import MeteredUsage
from billing.errors import DependencyUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        MessageAttributeValueOutputTypeDef,
        MessageAttributeValueTypeDef,
        MessageTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

    from billing.domain.deliveries import Delivery  # issue #22: not loaded by the receiver

_CLIENT_CONFIG = Config(
    connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"}
)


def sqs_client(region: str) -> SQSClient:
    """An SQS client with short timeouts; the endpoint follows AWS_ENDPOINT_URL_SQS if set."""
    return boto3.client("sqs", region_name=region, config=_CLIENT_CONFIG)


class SqsEventQueue:
    def __init__(self, queue_url: str, client: SQSClient) -> None:
        self._queue_url = queue_url
        self._client = client

    def enqueue(self, raw_event: str, event_id: str, event_type: str) -> str:
        """Send the raw event; on failure raise DependencyUnavailableError so Stripe retries."""
        try:
            response = self._client.send_message(
                QueueUrl=self._queue_url,
                MessageBody=raw_event,
                MessageAttributes={
                    "stripe_event_id": {"DataType": "String", "StringValue": event_id},
                    "stripe_event_type": {"DataType": "String", "StringValue": event_type},
                },
            )
        except (BotoCoreError, ClientError) as exc:
            raise DependencyUnavailableError(
                f"SQS SendMessage failed: {type(exc).__name__}"
            ) from exc
        return response["MessageId"]


class SqsRunQueue:
    """Reconciliation's continuations: ``{"run_id": ...}`` for a fresh invocation."""

    def __init__(self, queue_url: str, client: SQSClient) -> None:
        self._queue_url = queue_url
        self._client = client

    def continue_run(self, run_id: str) -> None:
        try:
            self._client.send_message(
                QueueUrl=self._queue_url, MessageBody=json.dumps({"run_id": run_id})
            )
        except (BotoCoreError, ClientError) as exc:
            raise DependencyUnavailableError(
                f"SQS SendMessage failed: {type(exc).__name__}"
            ) from exc


class SqsDeliveryQueue:
    """Outbound webhook deliveries (issue #22): queued by the dispatcher, retried by the
    sender with a growing wait (ChangeMessageVisibility), dead-lettered by the queue."""

    def __init__(self, queue_url: str, client: SQSClient) -> None:
        self._queue_url = queue_url
        self._client = client

    def enqueue(self, deliveries: list[Delivery]) -> None:
        for start in range(0, len(deliveries), _SQS_MAX_BATCH):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {
                    "Id": str(index),
                    "MessageBody": delivery.to_message(),
                    "MessageAttributes": {
                        "endpoint_id": {"DataType": "String", "StringValue": delivery.endpoint_id},
                    },
                }
                for index, delivery in enumerate(deliveries[start : start + _SQS_MAX_BATCH])
            ]
            try:
                answer = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except (BotoCoreError, ClientError) as exc:
                raise DependencyUnavailableError(
                    f"SQS SendMessageBatch failed: {type(exc).__name__}"
                ) from exc
            if answer.get("Failed"):
                raise DependencyUnavailableError(
                    f"SQS SendMessageBatch: {len(answer['Failed'])} message(s) not queued"
                )

    def retry_after(self, receipt_handle: str, seconds: int) -> None:
        try:
            self._client.change_message_visibility(
                QueueUrl=self._queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )
        except (BotoCoreError, ClientError) as exc:
            raise DependencyUnavailableError(
                f"SQS ChangeMessageVisibility failed: {type(exc).__name__}"
            ) from exc


class SqsMeterDeadLetters:
    """Metered usage whose report to Stripe was refused or kept failing: one message each,
    the usage and why, for an operator (the usage's record says it was dead-lettered)."""

    def __init__(self, queue_url: str, client: SQSClient) -> None:
        self._queue_url = queue_url
        self._client = client

    def park(self, usage: MeteredUsage, reason: str) -> None:
        body = {
            "record_key": usage.key,
            "project_id": usage.project_id,
            "user_id": usage.user_id,
            "feature_code": usage.feature_code,
            "meter": usage.meter,
            "quantity": usage.quantity,
            "recorded_at": usage.recorded_at.isoformat(),
            "subscription": usage.source_id,
            "attempts": usage.attempts,
            "reason": reason,
        }
        try:
            self._client.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(body))
        except (BotoCoreError, ClientError) as exc:
            raise DependencyUnavailableError(
                f"SQS SendMessage failed: {type(exc).__name__}"
            ) from exc


# ---------------------------------------------------------------------- the dead-letter queue
# A peek hides what it received for this long while it pages through the queue, then makes it
# visible again at once; a peek that dies half-way leaves messages hidden this long at most.
PEEK_VISIBILITY_SECONDS = 30
# A redrive hides a batch for this long while it copies it; a message it could not move comes
# back after this long (nothing consumes the dead-letter queue, so nothing else waits on it).
REDRIVE_VISIBILITY_SECONDS = 60
# Long polling (>= 1 s) asks every SQS server; short polling samples a few and may answer
# empty while messages wait. Costs this long once, at the end of the queue.
RECEIVE_WAIT_SECONDS = 1
_SQS_MAX_BATCH = 10


class DeadLetterQueue:
    """The webhook dead-letter queue, for operators (``billing-admin dlq``).

    Reading a message from SQS is a ReceiveMessage, and every receive adds one to the message's
    ApproximateReceiveCount (and sets ApproximateFirstReceiveTimestamp if it was unset). A DLQ
    has no redrive policy of its own, so the count never moves a message anywhere: ``peek``
    changes nothing but that count, which therefore includes the peek's own receive.
    """

    def __init__(self, queue_url: str, client: SQSClient, wait_seconds: int | None = None) -> None:
        self._queue_url = queue_url
        self._client = client
        self._wait_seconds = RECEIVE_WAIT_SECONDS if wait_seconds is None else wait_seconds

    def approximate_count(self) -> int:
        """ApproximateNumberOfMessages: the visible messages (SQS's estimate)."""
        attributes = self._call(
            "GetQueueAttributes",
            lambda: self._client.get_queue_attributes(
                QueueUrl=self._queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            ),
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", "0"))

    def peek(self, limit: int) -> list[DeadLetter]:
        """Up to ``limit`` messages, left in the queue and visible again when this returns.

        Received messages stay hidden for PEEK_VISIBILITY_SECONDS while the next pages are read
        (so no message is listed twice), then their visibility is reset to 0: a redrive right
        after a listing sees every message.
        """
        letters: dict[str, DeadLetter] = {}
        handles: list[str] = []
        try:
            while len(letters) < limit:
                batch = self._receive(
                    min(_SQS_MAX_BATCH, limit - len(letters)), PEEK_VISIBILITY_SECONDS
                )
                handles.extend(message["ReceiptHandle"] for message in batch)
                fresh = [m for m in batch if m["MessageId"] not in letters]
                if not fresh:
                    break
                for message in fresh:
                    letters[message["MessageId"]] = _dead_letter(message)
        finally:
            self._make_visible(handles)
        return list(letters.values())[:limit]

    def redrive(
        self, limit: int, to_queue_url: str, progress: Callable[[int], None] | None = None
    ) -> int:
        """Move up to ``limit`` messages to ``to_queue_url``; return how many moved.

        Each message is sent to the target first (same body, same message attributes) and only
        then deleted from this queue. A crash or an error in between leaves it in both queues:
        a duplicate, which the consumer drops (it records each Stripe event id once); a message
        is never lost. ``progress`` is called with the running total after each move.
        """
        moved = 0
        while moved < limit:
            batch = self._receive(
                min(_SQS_MAX_BATCH, limit - moved), REDRIVE_VISIBILITY_SECONDS, moved
            )
            if not batch:
                break
            for position, message in enumerate(batch):
                try:
                    self._send(to_queue_url, message, moved)
                    self._delete(message, moved)
                except DependencyUnavailableError:
                    # Not moved (or not deleted): let it and the rest be seen again at once.
                    self._make_visible([m["ReceiptHandle"] for m in batch[position:]])
                    raise
                moved += 1
                if progress is not None:
                    progress(moved)
        return moved

    # ------------------------------------------------------------------ SQS calls
    def _receive(self, count: int, visibility: int, moved: int = 0) -> list[MessageTypeDef]:
        response = self._call(
            "ReceiveMessage",
            lambda: self._client.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=count,
                VisibilityTimeout=visibility,
                WaitTimeSeconds=self._wait_seconds,
                MessageSystemAttributeNames=[
                    "ApproximateReceiveCount",
                    "ApproximateFirstReceiveTimestamp",
                ],
                MessageAttributeNames=["All"],
            ),
            moved,
        )
        return list(response.get("Messages", []))

    def _send(self, to_queue_url: str, message: MessageTypeDef, moved: int) -> None:
        attributes = _copied_attributes(message.get("MessageAttributes", {}))
        body = message.get("Body", "")
        if attributes:
            self._call(
                "SendMessage",
                lambda: self._client.send_message(
                    QueueUrl=to_queue_url, MessageBody=body, MessageAttributes=attributes
                ),
                moved,
            )
        else:
            self._call(
                "SendMessage",
                lambda: self._client.send_message(QueueUrl=to_queue_url, MessageBody=body),
                moved,
            )

    def _delete(self, message: MessageTypeDef, moved: int) -> None:
        self._call(
            "DeleteMessage",
            lambda: self._client.delete_message(
                QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"]
            ),
            moved,
        )

    def _make_visible(self, handles: list[str]) -> None:
        """Best effort: a message not reset becomes visible when its timeout ends anyway."""
        for start in range(0, len(handles), _SQS_MAX_BATCH):
            entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for index, handle in enumerate(handles[start : start + _SQS_MAX_BATCH])
            ]
            try:
                self._client.change_message_visibility_batch(
                    QueueUrl=self._queue_url, Entries=entries
                )
            except (BotoCoreError, ClientError):
                return

    @staticmethod
    def _call[T](operation: str, call: Callable[[], T], moved: int = 0) -> T:
        try:
            return call()
        except (BotoCoreError, ClientError) as exc:
            done = f" after moving {moved} message(s)" if moved else ""
            raise DependencyUnavailableError(
                f"SQS {operation} failed{done}: {type(exc).__name__}"
            ) from exc


def _copied_attributes(
    attributes: Mapping[str, MessageAttributeValueOutputTypeDef],
) -> dict[str, MessageAttributeValueTypeDef]:
    """The message attributes as SendMessage takes them (the list forms are reserved by SQS)."""
    copied: dict[str, MessageAttributeValueTypeDef] = {}
    for name, value in attributes.items():
        entry: MessageAttributeValueTypeDef = {"DataType": value["DataType"]}
        if "StringValue" in value:
            entry["StringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["BinaryValue"] = value["BinaryValue"]
        copied[name] = entry
    return copied


def _dead_letter(message: MessageTypeDef) -> DeadLetter:
    body = message.get("Body", "")
    strings = {
        name: value["StringValue"]
        for name, value in message.get("MessageAttributes", {}).items()
        if "StringValue" in value
    }
    event_id, event_type = event_identity(body, strings)
    system = message.get("Attributes", {})
    first = system.get("ApproximateFirstReceiveTimestamp")
    return DeadLetter(
        message_id=message["MessageId"],
        stripe_event_id=event_id,
        stripe_event_type=event_type,
        receive_count=int(system.get("ApproximateReceiveCount", "0")),
        first_received_at=datetime.fromtimestamp(int(first) / 1000, UTC) if first else None,
        body_size=len(body.encode()),
        body=body,
    )
