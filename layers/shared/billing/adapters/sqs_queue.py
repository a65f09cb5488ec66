"""The webhook queue on SQS."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from billing.errors import DependencyUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

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
