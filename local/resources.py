"""Creates the template's tables in DynamoDB Local and its queues in the moto server.

Idempotent, so it can run against an instance that already has them: an existing table or
queue is kept as it is. Queues are created dead-letter targets first, so a RedrivePolicy always
names a queue that exists.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from local.lambda_runtime import LOCAL_CREDENTIAL
from local.template import QueueSpec, TableSpec

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

logger = logging.getLogger("local.resources")
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


def sqs_client(endpoint_url: str, region: str = "us-east-1") -> SQSClient:
    """A client for the moto server's SQS."""
    return boto3.client("sqs", **_client_args(endpoint_url, region))


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
