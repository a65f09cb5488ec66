"""Tables and queues for tests, created from template.yaml's own definitions (never copied),
with the same code the local stack uses."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from billing_devstack import resources
from billing_devstack.template import LocalTemplate, load_template
from tests.support.lambda_runtime import REPO_ROOT

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient


@lru_cache(maxsize=1)
def service_template() -> LocalTemplate:
    return load_template(REPO_ROOT / "template.yaml", "http://sqs.us-east-1.amazonaws.com")


def create_tables(client: DynamoDBClient) -> None:
    resources.create_tables(client, service_template().tables)


def create_queues(client: SQSClient) -> dict[str, str]:
    """Create every queue (dead-letter queues first); return their URLs by logical id."""
    return resources.create_queues(client, service_template().queues)
