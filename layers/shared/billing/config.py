"""Settings, parsed once from the environment with pydantic-settings.

Nothing else in the service reads ``os.environ``: handlers and adapters ask :func:`get_settings`.
A bad value stops start-up with a message naming the variable, instead of failing later on a
request.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from billing.errors import ConfigurationError


class Settings(BaseSettings):
    """Every setting of the service; names keep the seed's environment variables."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    environment: str = Field(default="local", validation_alias="ENVIRONMENT", min_length=1)
    aws_region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    dynamodb_endpoint_url: str | None = Field(
        default=None, validation_alias="AWS_ENDPOINT_URL_DYNAMODB"
    )

    # Stripe. Locally the plain values are set; in AWS the SSM parameter names are, and the
    # values are fetched (and cached) by billing.secrets.
    stripe_api_base: str = Field(
        default="https://api.stripe.com", validation_alias="STRIPE_API_BASE"
    )
    stripe_secret_key: SecretStr | None = Field(default=None, validation_alias="STRIPE_SECRET_KEY")
    stripe_secret_key_parameter: str | None = Field(
        default=None, validation_alias="STRIPE_SECRET_KEY_PARAMETER"
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias="STRIPE_WEBHOOK_SECRET"
    )
    stripe_webhook_secret_parameter: str | None = Field(
        default=None, validation_alias="STRIPE_WEBHOOK_SECRET_PARAMETER"
    )

    # The key that seals the audit list's paging cursors (billing.domain.cursors), like the
    # Stripe secrets: a plain value locally (the local stack generates one), an SSM parameter
    # name in AWS. Comma-separated during a rotation: the first seals, any opens.
    audit_cursor_key: SecretStr | None = Field(default=None, validation_alias="AUDIT_CURSOR_KEY")
    audit_cursor_key_parameter: str | None = Field(
        default=None, validation_alias="AUDIT_CURSOR_KEY_PARAMETER"
    )

    reconciliation_enabled: bool = Field(default=True, validation_alias="RECONCILIATION_ENABLED")
    reconciliation_schedule_hour: int = Field(
        default=3, ge=0, le=23, validation_alias="RECONCILIATION_SCHEDULE_HOUR"
    )
    reconciliation_days_back: int = Field(
        default=3, ge=1, le=30, validation_alias="RECONCILIATION_DAYS_BACK"
    )
    # Objects per Stripe list page (Stripe's maximum is 100), pages per invocation before the
    # run continues in a fresh one through its queue, and the pace of Stripe calls (test mode
    # allows 25 requests/s, live 100).
    reconciliation_page_size: int = Field(
        default=100, ge=1, le=100, validation_alias="RECONCILIATION_PAGE_SIZE"
    )
    reconciliation_pages_per_invocation: int = Field(
        default=200, ge=1, validation_alias="RECONCILIATION_PAGES_PER_INVOCATION"
    )
    reconciliation_requests_per_second: float = Field(
        default=20.0, gt=0, le=100, validation_alias="RECONCILIATION_REQUESTS_PER_SECOND"
    )

    # Resource names: template.yaml sets them in AWS; the defaults are the local stack's names
    # (each resource's logical id).
    projects_table_name: str = Field(
        default="ProjectsTable", validation_alias="PROJECTS_TABLE_NAME"
    )
    api_keys_table_name: str = Field(default="ApiKeysTable", validation_alias="API_KEYS_TABLE_NAME")
    prices_table_name: str = Field(default="PricesTable", validation_alias="PRICES_TABLE_NAME")
    entitlements_table_name: str = Field(
        default="EntitlementsTable", validation_alias="ENTITLEMENTS_TABLE_NAME"
    )
    customers_table_name: str = Field(
        default="CustomersTable", validation_alias="CUSTOMERS_TABLE_NAME"
    )
    stripe_objects_table_name: str = Field(
        default="StripeObjectsTable", validation_alias="STRIPE_OBJECTS_TABLE_NAME"
    )
    webhook_events_table_name: str = Field(
        default="WebhookEventsTable", validation_alias="WEBHOOK_EVENTS_TABLE_NAME"
    )
    audit_table_name: str = Field(default="AuditTable", validation_alias="AUDIT_TABLE_NAME")
    reconciliation_runs_table_name: str = Field(
        default="ReconciliationRunsTable", validation_alias="RECONCILIATION_RUNS_TABLE_NAME"
    )
    reconciliation_queue_url: str | None = Field(
        default=None, validation_alias="RECONCILIATION_QUEUE_URL"
    )
    webhook_queue_url: str | None = Field(default=None, validation_alias="WEBHOOK_QUEUE_URL")
    webhook_dlq_url: str | None = Field(default=None, validation_alias="WEBHOOK_DLQ_URL")

    # ---- pushed to project backends (issue #22): the change log, outbound webhooks, tokens
    entitlement_changes_table_name: str = Field(
        default="EntitlementChangesTable", validation_alias="ENTITLEMENT_CHANGES_TABLE_NAME"
    )
    webhook_endpoints_table_name: str = Field(
        default="WebhookEndpointsTable", validation_alias="WEBHOOK_ENDPOINTS_TABLE_NAME"
    )
    webhook_delivery_queue_url: str | None = Field(
        default=None, validation_alias="WEBHOOK_DELIVERY_QUEUE_URL"
    )
    webhook_delivery_dlq_url: str | None = Field(
        default=None, validation_alias="WEBHOOK_DELIVERY_DLQ_URL"
    )
    # Endpoints on loopback (http://localhost, 127.0.0.1, [::1]) are refused, except on the
    # local stack, which sets this for its functions and billing-admin's local target.
    webhook_endpoints_allow_loopback: bool = Field(
        default=False, validation_alias="WEBHOOK_ENDPOINTS_ALLOW_LOOPBACK"
    )
    # The first retry of a failed delivery waits this long, each next one twice as long (up
    # to SQS's 12 hours); the local stack shortens it.
    webhook_delivery_retry_base_seconds: int = Field(
        default=30, ge=1, le=3600, validation_alias="WEBHOOK_DELIVERY_RETRY_BASE_SECONDS"
    )
    # The KMS keys of entitlement tokens, comma-separated key ids or ARNs: the first signs,
    # every one is published in the JWKS (two during a rotation).
    token_signing_keys: str | None = Field(default=None, validation_alias="TOKEN_SIGNING_KEYS")
    token_issuer: str = Field(default="billing", min_length=1, validation_alias="TOKEN_ISSUER")
    # ---- end of issue #22's settings

    # Webhook bodies larger than this are refused with 413 (Stripe events are a few KiB;
    # SQS takes at most 256 KiB).
    webhook_max_body_bytes: Annotated[int, Field(gt=0, le=262_144)] = Field(
        default=131_072, validation_alias="WEBHOOK_MAX_BODY_BYTES"
    )
    # Stripe's default tolerance for the signature timestamp.
    webhook_tolerance_seconds: int = Field(
        default=300, gt=0, validation_alias="WEBHOOK_TOLERANCE_SECONDS"
    )

    @field_validator("stripe_api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")


def load_settings() -> Settings:
    """Parse the environment; raise ConfigurationError naming every bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, parsed on first use."""
    return load_settings()
