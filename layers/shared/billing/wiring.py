"""Composition root: builds adapters from the settings, once per Lambda container."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from billing.adapters.dynamo.models import bind_models
from billing.adapters.dynamo.stores import (
    DynamoApiKeyStore,
    DynamoEntitlementStore,
    DynamoHealthProbe,
    DynamoWebhookEventLog,
)
from billing.config import Settings, get_settings
from billing.errors import ConfigurationError

if TYPE_CHECKING:
    from billing.adapters.sqs_queue import SqsEventQueue


@lru_cache(maxsize=1)
def bound_settings() -> Settings:
    """The settings, with the DynamoDB models bound to their tables."""
    settings = get_settings()
    bind_models(settings)
    return settings


def api_key_store() -> DynamoApiKeyStore:
    bound_settings()
    return DynamoApiKeyStore()


def entitlement_store() -> DynamoEntitlementStore:
    bound_settings()
    return DynamoEntitlementStore()


def webhook_event_log() -> DynamoWebhookEventLog:
    bound_settings()
    return DynamoWebhookEventLog()


@lru_cache(maxsize=1)
def dynamo_health_probe() -> DynamoHealthProbe:
    settings = get_settings()
    return DynamoHealthProbe(
        settings.projects_table_name, settings.aws_region, settings.dynamodb_endpoint_url
    )


@lru_cache(maxsize=1)
def webhook_queue() -> SqsEventQueue:
    """The webhook queue. boto3 is imported here, not at module load: the entitlement read
    path imports this module and must not pay for boto3."""
    from billing.adapters.sqs_queue import SqsEventQueue, sqs_client

    settings = get_settings()
    if not settings.webhook_queue_url:
        raise ConfigurationError("WEBHOOK_QUEUE_URL is not set")
    return SqsEventQueue(settings.webhook_queue_url, sqs_client(settings.aws_region))
