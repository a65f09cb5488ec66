"""PynamoDB models, one per table of template.yaml.

Table names and the endpoint come from the settings at run time (:func:`bind_models`), not
at import: PynamoDB reads ``Meta.table_name`` and ``Meta.host`` when it first connects.
Persistence models stay here; the domain never sees them.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.models import Model

from billing.config import Settings

# Fail fast: a Lambda answering an API call has seconds, not the SDK's default minute.
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 5
MAX_RETRY_ATTEMPTS = 3


class _Meta:
    table_name = "unbound"
    region = "us-east-1"
    host: str | None = None
    connect_timeout_seconds = CONNECT_TIMEOUT_SECONDS
    read_timeout_seconds = READ_TIMEOUT_SECONDS
    max_retry_attempts = MAX_RETRY_ATTEMPTS


class ApiKeyModel(Model):
    """One API key of one app, stored under the SHA-256 of the key."""

    class Meta(_Meta):
        pass

    key_hash = UnicodeAttribute(hash_key=True)
    key_prefix = UnicodeAttribute()
    project_id = UnicodeAttribute()
    app_id = UnicodeAttribute()
    app_name = UnicodeAttribute(null=True)
    active = BooleanAttribute(default=True)
    scopes = UnicodeSetAttribute(null=True)
    expires_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute(null=True)


class EntitlementSourceAttribute(MapAttribute[str, Any]):
    feature_code = UnicodeAttribute()
    source = UnicodeAttribute()
    source_id = UnicodeAttribute()
    valid_from = UTCDateTimeAttribute()
    valid_to = UTCDateTimeAttribute(null=True)
    in_force = BooleanAttribute(default=True)
    reason = UnicodeAttribute(null=True)


class EntitlementModel(Model):
    """The materialized entitlements of one (project, user): one item, one read."""

    class Meta(_Meta):
        pass

    project_user = UnicodeAttribute(hash_key=True)
    project_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    sources = ListAttribute(of=EntitlementSourceAttribute, default=list)
    version = NumberAttribute(default=0)
    updated_at = UTCDateTimeAttribute(null=True)


class WebhookEventModel(Model):
    """The processed mark of one Stripe event, kept past Stripe's 30-day retry window."""

    class Meta(_Meta):
        pass

    event_id = UnicodeAttribute(hash_key=True)
    event_type = UnicodeAttribute()
    created = NumberAttribute()
    outcome = UnicodeAttribute()
    processed_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()


_TABLES: dict[type[Model], str] = {
    ApiKeyModel: "api_keys_table_name",
    EntitlementModel: "entitlements_table_name",
    WebhookEventModel: "webhook_events_table_name",
}


def bind_models(settings: Settings) -> None:
    """Point every model at its table and endpoint from ``settings``."""
    for model, setting in _TABLES.items():
        model.Meta.table_name = getattr(settings, setting)
        model.Meta.region = settings.aws_region
        model.Meta.host = settings.dynamodb_endpoint_url
        model._connection = None


def entitlement_key(project_id: str, user_id: str) -> str:
    """The partition key of a (project, user) entitlement record."""
    return f"{project_id}#{user_id}"
