"""Which stack the CLI talks to: the local stack (default) or a deployed one by name.

Stripe follows the target (``catalog`` calls it): locally the Stripe stand-in of ``make run``
with its test key, unless STRIPE_SECRET_KEY (and STRIPE_API_BASE) are set, as for the local
stack's functions; for ``--stack``, the stack's own StripeApiBase and its SSM parameter
StripeSecretKeyParameterName, read through billing.secrets as the functions read it.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, cast

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from billing.config import SecretStr, Settings, load_settings
from billing.wiring import use_settings

# Stack output -> setting, for a deployed stack (see Outputs in template.yaml).
_OUTPUT_SETTINGS = {
    "ProjectsTableName": "projects_table_name",
    "ApiKeysTableName": "api_keys_table_name",
    "PricesTableName": "prices_table_name",
    "EntitlementsTableName": "entitlements_table_name",
    "CustomersTableName": "customers_table_name",
    "StripeObjectsTableName": "stripe_objects_table_name",
    "SubscriptionHistoryTableName": "subscription_history_table_name",
    "WebhookEventsTableName": "webhook_events_table_name",
    "AuditTableName": "audit_table_name",
    "EntitlementChangesTableName": "entitlement_changes_table_name",
    "WebhookEndpointsTableName": "webhook_endpoints_table_name",
    "WebhookDeliveryQueueUrl": "webhook_delivery_queue_url",
    "WebhookDeliveryDeadLetterQueueUrl": "webhook_delivery_dlq_url",
    "ReconciliationRunsTableName": "reconciliation_runs_table_name",
    "WebhookQueueUrl": "webhook_queue_url",
    "WebhookDeadLetterQueueUrl": "webhook_dlq_url",
    "ReconciliationQueueUrl": "reconciliation_queue_url",
}

# moto's default account: the local stack's queue URLs carry it.
_LOCAL_ACCOUNT_ID = "123456789012"
# The local Stripe stand-in's key (local/config.py): a plain test value, not a secret.
LOCAL_STANDIN_SECRET_KEY = "sk_test_local_standin"  # noqa: S105


class LocalTarget(BaseSettings):
    """Where the local stack listens (the same variables `make run` reads)."""

    model_config = SettingsConfigDict(extra="ignore")

    dynamodb_port: int = Field(default=8100, validation_alias="LOCAL_DYNAMODB_PORT")
    moto_port: int = Field(default=8101, validation_alias="LOCAL_MOTO_PORT")
    stripe_port: int = Field(default=8102, validation_alias="LOCAL_STRIPE_PORT")
    # template.yaml's AuditCursorKeyParameterName, as the local stack reads it.
    cursor_key_parameter_name: str = Field(
        default="billing/audit-cursor-key",
        validation_alias="LOCAL_PARAM_AuditCursorKeyParameterName",
    )

    @property
    def stripe_standin_url(self) -> str:
        return f"http://127.0.0.1:{self.stripe_port}"

    @property
    def moto_url(self) -> str:
        """The moto server (SQS): the local stack's queues are named after their logical ids."""
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def cursor_key_parameter(self) -> str:
        """Where the local stack puts the key it generated for the audit cursors (in moto's
        SSM, as a deployed stack keeps it in SSM), so the CLI's cursors are the API's."""
        return "/" + self.cursor_key_parameter_name

    def queue_url(self, name: str) -> str:
        return f"{self.moto_url}/{_LOCAL_ACCOUNT_ID}/{name}"


def connect(stack: str | None, region: str | None) -> Settings:
    """Settings for the chosen target, with the DynamoDB models bound to its tables."""
    settings = load_settings()
    if stack:
        from billing_admin.adapters.cloudformation import stack_outputs_and_parameters

        outputs, parameters = stack_outputs_and_parameters(stack, region)
        updates: dict[str, object] = {
            setting: outputs[output]
            for output, setting in _OUTPUT_SETTINGS.items()
            if output in outputs
        }
        updates["dynamodb_endpoint_url"] = None
        updates.update(_stack_stripe(parameters))
        updates.update(_stack_cursor_key(parameters))
        if region:
            updates["aws_region"] = region
            # The SSM parameter (billing.secrets, through Powertools) is read in that region too.
            os.environ["AWS_DEFAULT_REGION"] = region
    else:
        local = LocalTarget()
        updates = {
            "dynamodb_endpoint_url": f"http://127.0.0.1:{local.dynamodb_port}",
            "webhook_queue_url": local.queue_url("WebhookQueue"),
            "webhook_dlq_url": local.queue_url("WebhookDeadLetterQueue"),
            "reconciliation_queue_url": local.queue_url("ReconciliationQueue"),
            "webhook_delivery_queue_url": local.queue_url("WebhookDeliveryQueue"),
            "webhook_delivery_dlq_url": local.queue_url("WebhookDeliveryDeadLetterQueue"),
            # The local stack delivers to receivers on this machine (http://localhost).
            "webhook_endpoints_allow_loopback": True,
        }
        # SQS and SSM clients (queues, the cursor key) follow these to the moto server.
        os.environ.setdefault("AWS_ENDPOINT_URL_SQS", local.moto_url)
        os.environ.setdefault("AWS_ENDPOINT_URL_SSM", local.moto_url)
        # DynamoDB Local and moto accept any credentials but botocore insists on some, and
        # clients built without the settings (the SSM one of billing.secrets) on a region.
        os.environ.setdefault("AWS_DEFAULT_REGION", settings.aws_region)
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        updates.update(_local_stripe(settings, local))
        if settings.audit_cursor_key is None and not settings.audit_cursor_key_parameter:
            updates["audit_cursor_key_parameter"] = local.cursor_key_parameter
    # The updates are settings values, each of its field's type (the dicts mix them).
    return use_settings(dataclasses.replace(settings, **cast(dict[str, Any], updates)))


def _local_stripe(settings: Settings, local: LocalTarget) -> dict[str, object]:
    """The stand-in unless the environment names a Stripe key (then its base, or Stripe's)."""
    if settings.stripe_secret_key is not None or settings.stripe_secret_key_parameter:
        return {}
    updates: dict[str, object] = {"stripe_secret_key": SecretStr(LOCAL_STANDIN_SECRET_KEY)}
    if "stripe_api_base" not in settings.set_by_environment:
        updates["stripe_api_base"] = local.stripe_standin_url
    return updates


def _stack_stripe(parameters: dict[str, str]) -> dict[str, object]:
    """The stack's Stripe, as its functions see it (template.yaml: STRIPE_API_BASE and
    STRIPE_SECRET_KEY_PARAMETER), never a key from this shell's environment."""
    updates: dict[str, object] = {"stripe_secret_key": None}
    if parameters.get("StripeSecretKeyParameterName"):
        updates["stripe_secret_key_parameter"] = "/" + parameters["StripeSecretKeyParameterName"]
    if parameters.get("StripeApiBase"):
        updates["stripe_api_base"] = parameters["StripeApiBase"].rstrip("/")
    return updates


def _stack_cursor_key(parameters: dict[str, str]) -> dict[str, object]:
    """The stack's audit cursor key (its SSM parameter), so the CLI's cursors are the API's."""
    name = parameters.get("AuditCursorKeyParameterName")
    return {"audit_cursor_key": None, "audit_cursor_key_parameter": f"/{name}" if name else None}
