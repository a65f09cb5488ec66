"""Tables and queues of template.yaml, created idempotently (moto in-process, no sockets)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from billing_devstack.config import REPO_ROOT
from billing_devstack.resources import (
    create_queues,
    create_tables,
    dynamodb_client,
    queue_creation_order,
    sqs_client,
)
from billing_devstack.template import QueueSpec, load_template

TEMPLATE = load_template(REPO_ROOT / "template.yaml", "http://127.0.0.1:1")


@pytest.fixture
def clients() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        yield (
            dynamodb_client("https://dynamodb.us-east-1.amazonaws.com"),
            sqs_client("https://sqs.us-east-1.amazonaws.com"),
        )


def test_every_table_of_the_template_is_created_twice_without_error(
    clients: tuple[Any, Any],
) -> None:
    dynamodb, _ = clients
    create_tables(dynamodb, TEMPLATE.tables)
    create_tables(dynamodb, TEMPLATE.tables)
    assert sorted(dynamodb.list_tables()["TableNames"]) == sorted(t.name for t in TEMPLATE.tables)
    for table in TEMPLATE.tables:
        description = dynamodb.describe_table(TableName=table.name)["Table"]
        assert description["KeySchema"] == table.create_params["KeySchema"]
        indexes = {index["IndexName"] for index in description.get("GlobalSecondaryIndexes", [])}
        assert indexes == {
            i["IndexName"] for i in table.create_params.get("GlobalSecondaryIndexes", [])
        }
        if table.ttl_attribute:
            ttl = dynamodb.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
            assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == (
                "ENABLED",
                table.ttl_attribute,
            )


def test_queues_are_created_dead_letter_targets_first_with_their_redrive_policy(
    clients: tuple[Any, Any],
) -> None:
    _, sqs = clients
    urls = create_queues(sqs, TEMPLATE.queues)
    assert create_queues(sqs, TEMPLATE.queues) == urls
    for queue in TEMPLATE.queues:
        attributes = sqs.get_queue_attributes(
            QueueUrl=urls[queue.logical_id], AttributeNames=["All"]
        )
        if queue.dlq_id is not None:
            policy = json.loads(attributes["Attributes"]["RedrivePolicy"])
            assert policy["maxReceiveCount"] == queue.max_receive_count
            assert policy["deadLetterTargetArn"].endswith(":" + TEMPLATE.queue(queue.dlq_id).name)
        if "VisibilityTimeout" in queue.attributes:
            assert (
                attributes["Attributes"]["VisibilityTimeout"]
                == queue.attributes["VisibilityTimeout"]
            )


def test_creation_order_puts_each_dlq_before_its_source() -> None:
    queues = [
        QueueSpec("A", "A", {}, dlq_id="B"),
        QueueSpec("B", "B", {}, dlq_id="C"),
        QueueSpec("C", "C", {}),
    ]
    assert [q.logical_id for q in queue_creation_order(queues)] == ["C", "B", "A"]
