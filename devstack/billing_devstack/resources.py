"""Creates the template's tables in DynamoDB Local and its queues in the moto server.

Idempotent, so it can run against an instance that already has them: an existing table or
queue is kept as it is. Queues are created dead-letter targets first, so a RedrivePolicy always
names a queue that exists.

With ``LOCAL_PERSIST=1`` DynamoDB Local keeps its tables on disk, but the moto server cannot
persist its queues: :func:`save_backlog` writes what the queues still hold to a file when the
stack stops, and :func:`restore_backlog` sends it again on the next start.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from billing_devstack.lambda_runtime import LOCAL_CREDENTIAL
from billing_devstack.template import QueueSpec, TableSpec

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType
    from mypy_boto3_sqs.type_defs import (
        MessageAttributeValueOutputTypeDef,
        MessageAttributeValueTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

logger = logging.getLogger("billing_devstack.resources")
_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2})


def _client_args(endpoint_url: str, region: str) -> dict[str, Any]:
    return {
        "endpoint_url": endpoint_url,
        "region_name": region,
        "aws_access_key_id": LOCAL_CREDENTIAL,
        "aws_secret_access_key": LOCAL_CREDENTIAL,
        "config": _CLIENT_CONFIG,
    }


def dynamodb_client(endpoint_url: str, region: str = "us-east-1") -> DynamoDBClient:
    """A client for DynamoDB Local (explicit endpoint and fake credentials, never real AWS)."""
    return boto3.client("dynamodb", **_client_args(endpoint_url, region))


def dynamodb_streams_client(endpoint_url: str, region: str = "us-east-1") -> Any:
    """A client for DynamoDB Local's Streams API (no stubs installed: untyped)."""
    return boto3.client("dynamodbstreams", **_client_args(endpoint_url, region))


def sqs_client(endpoint_url: str, region: str = "us-east-1") -> SQSClient:
    """A client for the moto server's SQS."""
    return boto3.client("sqs", **_client_args(endpoint_url, region))


def put_secure_parameters(
    endpoint_url: str, names: Iterable[str], value: str, region: str = "us-east-1"
) -> None:
    """Store ``value`` as SecureString parameters of the moto server's SSM (overwriting)."""
    client: Any = boto3.client("ssm", **_client_args(endpoint_url, region))  # no SSM stubs
    for name in names:
        client.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def kms_client(endpoint_url: str, region: str = "us-east-1") -> Any:
    """A client for the moto server's KMS."""
    return boto3.client("kms", **_client_args(endpoint_url, region))


def create_signing_key(client: Any) -> str:
    """A new RSA_2048 signing key in the moto server's KMS (the entitlement tokens'); its ARN.
    moto signs RSASSA_PKCS1_V1_5_SHA_256 as KMS does (tests/unit/services/test_tokens.py
    proves it with PyJWT); its keys live as long as the moto server."""
    key = client.create_key(
        KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY", Description="local entitlement tokens"
    )
    return str(key["KeyMetadata"]["Arn"])


def create_tables(client: DynamoDBClient, tables: Sequence[TableSpec]) -> None:
    """CreateTable for each table (an existing one is fine), then TTL where declared."""
    for table in tables:
        try:
            client.create_table(**table.create_params)
            logger.info("table %s created", table.name)
        except client.exceptions.ResourceInUseException:
            logger.info("table %s already exists", table.name)
        if table.ttl_attribute:
            _enable_ttl(client, table.name, table.ttl_attribute)


def _enable_ttl(client: DynamoDBClient, table: str, attribute: str) -> None:
    """TTL as declared; "already enabled" or an emulator without TTL is not an error."""
    try:
        client.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"AttributeName": attribute, "Enabled": True},
        )
    except ClientError as exc:
        logger.info("TTL on %s.%s not changed: %s", table, attribute, exc)


def queue_creation_order(queues: Sequence[QueueSpec]) -> list[QueueSpec]:
    """Dead-letter targets before the queues that redrive to them."""
    by_id = {queue.logical_id: queue for queue in queues}
    ordered: list[QueueSpec] = []

    def visit(queue: QueueSpec, path: tuple[str, ...]) -> None:
        if queue in ordered:
            return
        if queue.logical_id in path:
            raise ValueError(f"redrive cycle: {' -> '.join((*path, queue.logical_id))}")
        if queue.dlq_id is not None:
            visit(by_id[queue.dlq_id], (*path, queue.logical_id))
        ordered.append(queue)

    for queue in queues:
        visit(queue, ())
    return ordered


def create_queues(client: SQSClient, queues: Sequence[QueueSpec]) -> dict[str, str]:
    """CreateQueue for each queue, DLQs first; returns logical id -> queue URL."""
    urls: dict[str, str] = {}
    for queue in queue_creation_order(queues):
        attributes = cast("dict[QueueAttributeNameType, str]", dict(queue.attributes))
        try:
            created = client.create_queue(QueueName=queue.name, Attributes=attributes)
            urls[queue.logical_id] = created["QueueUrl"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("QueueAlreadyExists", "QueueNameExists"):
                raise
            url = client.get_queue_url(QueueName=queue.name)["QueueUrl"]
            client.set_queue_attributes(QueueUrl=url, Attributes=attributes)
            urls[queue.logical_id] = url
        logger.info("queue %s ready", queue.name)
    return urls


# ---------------------------------------------------------------------- queue backlog
BACKLOG_VERSION = 1
# How long a message received for saving stays hidden: longer than the paging through a queue.
_SAVE_VISIBILITY_SECONDS = 300
_SQS_MAX_BATCH = 10
_DEPTH_ATTRIBUTES: tuple[QueueAttributeNameType, ...] = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def queue_depth(client: SQSClient, url: str) -> tuple[int, int]:
    """(waiting, in flight) messages of a queue; waiting counts visible and delayed ones."""
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=list(_DEPTH_ATTRIBUTES))
    counts = {name: int(attributes["Attributes"].get(name, "0")) for name in _DEPTH_ATTRIBUTES}
    waiting = counts["ApproximateNumberOfMessages"] + counts["ApproximateNumberOfMessagesDelayed"]
    return waiting, counts["ApproximateNumberOfMessagesNotVisible"]


def _saved_attribute(value: MessageAttributeValueOutputTypeDef) -> dict[str, str]:
    saved = {"DataType": value["DataType"]}
    if "StringValue" in value:
        saved["StringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        saved["BinaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return saved


def _sent_attribute(saved: Mapping[str, str]) -> MessageAttributeValueTypeDef:
    value: MessageAttributeValueTypeDef = {"DataType": saved["DataType"]}
    if "StringValue" in saved:
        value["StringValue"] = saved["StringValue"]
    if "BinaryValue" in saved:
        value["BinaryValue"] = base64.b64decode(saved["BinaryValue"])
    return value


def _drain_for_saving(client: SQSClient, url: str) -> list[dict[str, Any]]:
    """Every visible message of a queue (hidden, not deleted: the server is about to stop)."""
    saved: list[dict[str, Any]] = []
    while True:
        messages = client.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=_SQS_MAX_BATCH,
            WaitTimeSeconds=0,
            VisibilityTimeout=_SAVE_VISIBILITY_SECONDS,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return saved
        for message in messages:
            attributes = message.get("MessageAttributes", {})
            saved.append(
                {
                    "body": message.get("Body", ""),
                    "message_attributes": {
                        name: _saved_attribute(value) for name, value in attributes.items()
                    },
                }
            )


def save_backlog(client: SQSClient, queues: Iterable[tuple[str, str]], path: Path) -> int:
    """Write the visible messages of ``queues`` ((name, url), in that order) to ``path``;
    returns how many. Receiving counts as a receive, so a message on its last allowed receive
    moves to its dead-letter queue instead: list a source queue before its DLQ to keep it."""
    backlog = {name: _drain_for_saving(client, url) for name, url in queues}
    document = {"version": BACKLOG_VERSION, "queues": {n: m for n, m in backlog.items() if m}}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=1))
    partial.replace(path)  # all or nothing: a half-written file never replaces a good one
    return sum(len(messages) for messages in backlog.values())


def restore_backlog(client: SQSClient, urls: Mapping[str, str], path: Path) -> dict[str, int]:
    """Send the messages saved in ``path`` to the queues of the same names (``urls``: name ->
    URL), then delete the file; returns how many per queue. Nothing saved: nothing to do. A
    queue no longer known keeps its messages in the file (renamed ``*.unrestored``) and is
    logged. Receive counts start again at zero, as for any message sent anew."""
    if not path.exists():
        return {}
    document = json.loads(path.read_text())
    if document.get("version") != BACKLOG_VERSION:
        raise ValueError(f"{path}: unknown backlog version {document.get('version')!r}")
    restored: dict[str, int] = {}
    unknown: dict[str, list[dict[str, Any]]] = {}
    for name, messages in document.get("queues", {}).items():
        if name not in urls:
            unknown[name] = messages
            logger.error(
                "%d saved messages of queue %s not restored: no such queue", len(messages), name
            )
            continue
        for start in range(0, len(messages), _SQS_MAX_BATCH):
            entries: list[SendMessageBatchRequestEntryTypeDef] = []
            for number, saved in enumerate(messages[start : start + _SQS_MAX_BATCH]):
                entry: SendMessageBatchRequestEntryTypeDef = {
                    "Id": str(number),
                    "MessageBody": saved["body"],
                }
                if saved.get("message_attributes"):
                    entry["MessageAttributes"] = {
                        key: _sent_attribute(value)
                        for key, value in saved["message_attributes"].items()
                    }
                entries.append(entry)
            answer = client.send_message_batch(QueueUrl=urls[name], Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"restoring queue {name} failed: {answer['Failed']}")
        restored[name] = len(messages)
    if unknown:
        unrestored = path.with_name(path.name + ".unrestored")
        unrestored.write_text(json.dumps({"version": BACKLOG_VERSION, "queues": unknown}))
    path.unlink()
    return restored
