"""DynamoDB implementations of the ports in billing.ports."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from pynamodb.connection import TableConnection

from billing.adapters.dynamo.errors import dynamo_errors, get_or_none
from billing.adapters.dynamo.models import (
    ApiKeyModel,
    EntitlementModel,
    EntitlementSourceAttribute,
    entitlement_key,
)
from billing.domain.api_keys import ApiKeyGrant
from billing.domain.entitlements import EntitlementSource, SourceKind

# Stripe retries a delivery for 3 days and its Events API keeps 30: keep marks a bit longer.
PROCESSED_MARK_RETENTION = timedelta(days=35)


def source_from_item(item: EntitlementSourceAttribute) -> EntitlementSource:
    return EntitlementSource(
        feature_code=item.feature_code,
        source=cast(SourceKind, item.source),
        source_id=item.source_id,
        valid_from=item.valid_from,
        valid_to=item.valid_to,
        in_force=bool(item.in_force),
        reason=item.reason,
        expiry_reason=item.expiry_reason or "expired",
    )


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
        return [source_from_item(s) for s in item.sources]


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
