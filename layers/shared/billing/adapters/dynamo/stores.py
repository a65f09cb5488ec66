"""DynamoDB implementations of the ports in billing.ports."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import cast

from pynamodb.connection import TableConnection
from pynamodb.expressions.condition import Condition

from billing.adapters.dynamo.batch import RawItem, batch_get
from billing.adapters.dynamo.errors import dynamo_errors, get_or_none
from billing.adapters.dynamo.models import (
    AllowanceAttribute,
    ApiKeyModel,
    AuditModel,
    EntitlementModel,
    EntitlementSourceAttribute,
    UsageCountersModel,
    entitlement_key,
)
from billing.domain.allowances import Allowance, parse_reset
from billing.domain.api_keys import ApiKeyGrant
from billing.domain.clock import to_iso
from billing.domain.entitlements import EntitlementSource, SourceKind
from billing.domain.grants import AuditEntry

# Stripe retries a delivery for 3 days and its Events API keeps 30: keep marks a bit longer.
PROCESSED_MARK_RETENTION = timedelta(days=35)


def allowance_from_item(item: AllowanceAttribute | None) -> Allowance | None:
    if item is None:
        return None
    return Allowance(
        limit=int(item.limit),
        reset=parse_reset(item.reset),
        meter=item.meter,
        period_start=item.period_start,
        period_end=item.period_end,
    )


def allowance_to_item(allowance: Allowance | None) -> AllowanceAttribute | None:
    if allowance is None:
        return None
    return AllowanceAttribute(  # type: ignore[no-untyped-call]
        limit=allowance.limit,
        reset=allowance.reset,
        meter=allowance.meter,
        period_start=allowance.period_start,
        period_end=allowance.period_end,
    )


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
        active_until=item.active_until,
        allowance=allowance_from_item(item.allowance),
    )


def source_to_item(source: EntitlementSource) -> EntitlementSourceAttribute:
    return EntitlementSourceAttribute(  # type: ignore[no-untyped-call]
        feature_code=source.feature_code,
        source=source.source,
        source_id=source.source_id,
        valid_from=source.valid_from,
        valid_to=source.valid_to,
        in_force=source.in_force,
        reason=source.reason,
        expiry_reason=source.expiry_reason,
        active_until=source.active_until,
        allowance=allowance_to_item(source.allowance),
    )


def entitlement_record(
    project_id: str,
    user_id: str,
    sources: list[EntitlementSource],
    version_read: int,
    now: datetime,
) -> tuple[EntitlementModel, Condition]:
    """The rewritten (project, user) record, and the condition that it is still as read
    (optimistic locking: a concurrent writer makes the transaction fail, not lose an update)."""
    record = EntitlementModel(
        entitlement_key(project_id, user_id),
        project_id=project_id,
        user_id=user_id,
        sources=[source_to_item(s) for s in sources],
        version=version_read + 1,
        updated_at=now,
    )
    condition = (
        EntitlementModel.project_user.does_not_exist()
        if version_read == 0
        else EntitlementModel.version == version_read
    )
    return record, condition


def read_entitlement_record(project_id: str, user_id: str) -> tuple[list[EntitlementSource], int]:
    """The stored sources of (project, user) and the record's version (0: no record)."""
    key = entitlement_key(project_id, user_id)
    item = get_or_none(EntitlementModel, key, operation="GetItem entitlements")
    if item is None:
        return [], 0
    return [source_from_item(s) for s in item.sources], int(item.version)


def _source_json(source: EntitlementSource | None) -> str | None:
    if source is None:
        return None
    data = asdict(source)
    data["valid_from"] = to_iso(source.valid_from)
    data["valid_to"] = to_iso(source.valid_to) if source.valid_to else None
    data["active_until"] = to_iso(source.active_until) if source.active_until else None
    if source.allowance is None:
        del data["allowance"]  # as entries written before limits existed
    return json.dumps(data, separators=(",", ":"), default=_iso_default)


def _iso_default(value: object) -> str:
    """Times nested in a source (its allowance's period) as the API writes times."""
    if isinstance(value, datetime):
        return to_iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def audit_item(entry: AuditEntry) -> AuditModel:
    """The audit table's item for an entry; written only with a does-not-exist condition."""
    return AuditModel(
        entitlement_key(entry.project_id, entry.user_id),
        f"{entry.at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{uuid.uuid4().hex[:8]}",
        action=entry.action,
        feature_code=entry.feature_code,
        actor=entry.actor,
        reason=entry.reason,
        at=entry.at,
        app_id=entry.app_id,
        before=_source_json(entry.before),
        after=_source_json(entry.after),
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


def usage_counters(raw: RawItem | None) -> dict[str, int]:
    """The counters of a raw UsageCountersTable item: its ``<feature>#<period>`` numbers."""
    return {
        name: int(value["N"]) for name, value in (raw or {}).items() if "#" in name and "N" in value
    }


def user_keys(project_id: str, user_id: str) -> list[tuple[str, RawItem]]:
    """The keys of a user's entitlement record and usage counters, for one BatchGetItem."""
    key = {"project_user": {"S": entitlement_key(project_id, user_id)}}
    return [(EntitlementModel.Meta.table_name, key), (UsageCountersModel.Meta.table_name, key)]


def user_items(
    found: dict[str, list[RawItem]],
) -> tuple[list[EntitlementSource], dict[str, int]]:
    """The sources and counters among what a BatchGetItem of :func:`user_keys` found."""
    records = found.get(EntitlementModel.Meta.table_name) or []
    counters = found.get(UsageCountersModel.Meta.table_name) or []
    sources = (
        [source_from_item(s) for s in EntitlementModel.from_raw_data(records[0]).sources]
        if records
        else []
    )
    return sources, usage_counters(counters[0] if counters else None)


class DynamoEntitlementStore:
    def sources_of(self, project_id: str, user_id: str) -> list[EntitlementSource]:
        item = get_or_none(
            EntitlementModel, entitlement_key(project_id, user_id), operation="GetItem entitlements"
        )
        if item is None:
            return []
        return [source_from_item(s) for s in item.sources]

    def usage_of(
        self, project_id: str, user_id: str
    ) -> tuple[list[EntitlementSource], dict[str, int]]:
        """The record's sources and the user's usage counters: one BatchGetItem of both."""
        found = batch_get(
            user_keys(project_id, user_id), consistent=False, operation="entitlements"
        )
        return user_items(found)


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
