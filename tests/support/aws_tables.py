"""Tables and queues for tests, created from template.yaml's own definitions (never copied)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from local.template import LocalTemplate, load_template
from tests.support.lambda_runtime import REPO_ROOT

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient


@lru_cache(maxsize=1)
def service_template() -> LocalTemplate:
    return load_template(REPO_ROOT / "template.yaml", "http://sqs.us-east-1.amazonaws.com")


def create_tables(client: DynamoDBClient) -> None:
    for table in service_template().tables:
        client.create_table(**table.create_params)
        if table.ttl_attribute:
            client.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )


def create_queues(client: SQSClient) -> dict[str, str]:
    """Create every queue (dead-letter queues first); return their URLs by logical id."""
    queues = sorted(service_template().queues, key=lambda q: q.dlq_id is not None)
    return {
        queue.logical_id: client.create_queue(
            QueueName=queue.name,
            Attributes=dict(queue.attributes),  # type: ignore[arg-type]
        )["QueueUrl"]
        for queue in queues
    }
