"""DynamoDB implementations of the ports in billing.ports."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from pynamodb.connection import TableConnection

from billing.adapters.dynamo.errors import dynamo_errors, get_or_none, save_if
from billing.adapters.dynamo.models import (
    ApiKeyModel,
    EntitlementModel,
    WebhookEventModel,
    entitlement_key,
)
from billing.domain.api_keys import ApiKeyGrant
from billing.domain.entitlements import EntitlementSource, SourceKind
from billing.domain.stripe_events import StripeEventEnvelope

# Stripe retries a delivery for 3 days and its Events API keeps 30: keep marks a bit longer.
PROCESSED_MARK_RETENTION = timedelta(days=35)


class DynamoApiKeyStore:
    def find(self, key_hash: str) -> ApiKeyGrant | None:
        item = get_or_none(ApiKeyModel, key_hash, operation="GetItem api key")
        if item is None or item.record_type != "key":
            return None
        return ApiKeyGrant(
            key_hash=item.key_hash,
            project_id=item.project_id,
            app_id=item.app_id,
            active=bool(item.active),
            scopes=frozenset(item.scopes or ()),
            expires_at=item.expires_at,
        )


class DynamoEntitlementStore:
    def sources_of(self, project_id: str, user_id: str) -> list[EntitlementSource]:
        item = get_or_none(
            EntitlementModel, entitlement_key(project_id, user_id), operation="GetItem entitlements"
        )
        if item is None:
            return []
        return [
            EntitlementSource(
                feature_code=s.feature_code,
                source=cast(SourceKind, s.source),
                source_id=s.source_id,
                valid_from=s.valid_from,
                valid_to=s.valid_to,
                in_force=bool(s.in_force),
                reason=s.reason,
            )
            for s in item.sources
        ]


class DynamoWebhookEventLog:
    def record_once(self, event: StripeEventEnvelope, outcome: str, now: datetime) -> bool:
        mark = WebhookEventModel(
            event.event_id,
            event_type=event.event_type,
            created=event.created,
            outcome=outcome,
            processed_at=now,
            expires_at=now + PROCESSED_MARK_RETENTION,
        )
        return save_if(
            mark, WebhookEventModel.event_id.does_not_exist(), operation="PutItem webhook event"
        )


class DynamoHealthProbe:
    """Asks DynamoDB to describe one table, with no retries: a probe must answer quickly."""

    def __init__(self, table_name: str, region: str, host: str | None) -> None:
        self._connection = TableConnection(
            table_name,
            region=region,
            host=host,
            connect_timeout_seconds=1,
            read_timeout_seconds=2,
            max_retry_attempts=0,
        )

    def check(self) -> None:
        with dynamo_errors("DescribeTable"):
            self._connection.describe_table()
