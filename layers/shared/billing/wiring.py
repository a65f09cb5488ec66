"""Composition root: builds adapters from the settings, once per Lambda container.

What the hot paths use on every request is imported with this module, at init: PynamoDB,
the table models, and the API key and entitlement stores (nothing of theirs waits for the
first request). Every other adapter is imported by its factory, when first called: the
ledger, tenancy, grants, metrics and reconciliation stores (and the domain modules behind
them) load only in the functions that use them, as do boto3's SQS, Stripe and SSM.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from billing.adapters.dynamo.models import bind_models
from billing.adapters.dynamo.stores import (
    DynamoApiKeyStore,
    DynamoEntitlementStore,
    DynamoHealthProbe,
)
from billing.config import get_settings
from billing.errors import ConfigurationError

if TYPE_CHECKING:
    from billing.adapters.dynamo.change_log import DynamoChangeLog
    from billing.adapters.dynamo.customers import DynamoCustomerStore
    from billing.adapters.dynamo.grants import DynamoGrantStore
    from billing.adapters.dynamo.ledger import DynamoBillingLedger
    from billing.adapters.dynamo.metering import DynamoMeteredUsage
    from billing.adapters.dynamo.metrics import DynamoMetricsStore
    from billing.adapters.dynamo.reconciliation import DynamoReconciliationRuns
    from billing.adapters.dynamo.tenancy import (
        DynamoAppStore,
        DynamoPriceStore,
        DynamoProjectStore,
    )
    from billing.adapters.dynamo.usage import DynamoUsageStore
    from billing.adapters.dynamo.webhook_endpoints import DynamoWebhookEndpoints
    from billing.adapters.kms_signer import KmsTokenSigner
    from billing.adapters.outbound_http import PinnedPoster, SocketResolver
    from billing.adapters.sqs_queue import (
        DeadLetterQueue,
        SqsDeliveryQueue,
        SqsEventQueue,
        SqsMeterDeadLetters,
        SqsRunQueue,
    )
    from billing.adapters.stripe_gateway import StripePaymentGateway
    from billing.adapters.stripe_listing import StripeListing
    from billing.adapters.stripe_meters import StripeMeters
    from billing.adapters.stripe_reader import StripeObjectReader
    from billing.config import Settings
    from billing.domain.cursors import CursorSeal


_bound: Settings | None = None


def use_settings(settings: Settings) -> Settings:
    """Bind the DynamoDB models to the tables of ``settings`` (the CLI picks its target)."""
    global _bound  # noqa: PLW0603 - one binding per process, like the models it binds
    bind_models(settings)
    _bound = settings
    return settings


def bound_settings() -> Settings:
    """The settings the models are bound to; the environment's, on first use."""
    return _bound if _bound is not None else use_settings(get_settings())


def reset() -> None:
    """Forget every binding and cached adapter (tests change the environment between runs)."""
    global _bound  # noqa: PLW0603
    _bound = None
    get_settings.cache_clear()
    dynamo_health_probe.cache_clear()
    webhook_queue.cache_clear()
    payment_gateway.cache_clear()
    stripe_reader.cache_clear()
    token_signer.cache_clear()
    stripe_meters.cache_clear()


def api_key_store() -> DynamoApiKeyStore:
    bound_settings()
    return DynamoApiKeyStore()


def entitlement_store() -> DynamoEntitlementStore:
    bound_settings()
    return DynamoEntitlementStore()


def usage_store() -> DynamoUsageStore:
    from billing.adapters.dynamo.usage import DynamoUsageStore

    bound_settings()
    return DynamoUsageStore()


def metered_usage_store() -> DynamoMeteredUsage:
    from billing.adapters.dynamo.metering import DynamoMeteredUsage

    bound_settings()
    return DynamoMeteredUsage()


@lru_cache(maxsize=1)
def stripe_meters() -> StripeMeters:
    """Stripe's meters, for the reporter (stripe imported here, as in payment_gateway())."""
    from billing.adapters.stripe_gateway import build_client
    from billing.adapters.stripe_meters import StripeMeters
    from billing.secrets import stripe_secret_key

    settings = bound_settings()
    return StripeMeters(build_client(stripe_secret_key(settings), settings.stripe_api_base))


def meter_readings() -> StripeMeters:
    """Stripe's meters for one reconciliation invocation, paced under Stripe's rate limit."""
    from billing.adapters.stripe_gateway import build_client
    from billing.adapters.stripe_listing import StripeListing
    from billing.adapters.stripe_meters import StripeMeters
    from billing.secrets import stripe_secret_key

    settings = bound_settings()
    client = build_client(stripe_secret_key(settings), settings.stripe_api_base)
    listing = StripeListing(client, settings.reconciliation_requests_per_second)
    return StripeMeters(client, pace=listing.pace)


def meter_dead_letters() -> SqsMeterDeadLetters:
    """Where metered usage Stripe would not take is parked (boto3 imported here)."""
    from billing.adapters.sqs_queue import SqsMeterDeadLetters, sqs_client

    settings = bound_settings()
    if not settings.meter_report_dlq_url:
        raise ConfigurationError("METER_REPORT_DLQ_URL is not set")
    return SqsMeterDeadLetters(settings.meter_report_dlq_url, sqs_client(settings.aws_region))


def billing_ledger() -> DynamoBillingLedger:
    from billing.adapters.dynamo.ledger import DynamoBillingLedger

    bound_settings()
    return DynamoBillingLedger()


def project_store() -> DynamoProjectStore:
    from billing.adapters.dynamo.tenancy import DynamoProjectStore

    bound_settings()
    return DynamoProjectStore()


def app_store() -> DynamoAppStore:
    from billing.adapters.dynamo.tenancy import DynamoAppStore

    bound_settings()
    return DynamoAppStore()


def price_store() -> DynamoPriceStore:
    from billing.adapters.dynamo.tenancy import DynamoPriceStore

    bound_settings()
    return DynamoPriceStore()


def metrics_store() -> DynamoMetricsStore:
    from billing.adapters.dynamo.metrics import DynamoMetricsStore

    bound_settings()
    return DynamoMetricsStore()


def grant_store() -> DynamoGrantStore:
    from billing.adapters.dynamo.grants import DynamoGrantStore

    bound_settings()
    return DynamoGrantStore()


def audit_cursor_seal() -> CursorSeal:
    """What seals and opens the audit list's cursors, with the keys of the bound settings
    (an SSM read in AWS, cached five minutes by billing.secrets)."""
    from billing.domain.cursors import CursorSeal
    from billing.secrets import audit_cursor_keys

    return CursorSeal(audit_cursor_keys(bound_settings()))


def customer_store() -> DynamoCustomerStore:
    from billing.adapters.dynamo.customers import DynamoCustomerStore

    bound_settings()
    return DynamoCustomerStore()


def reconciliation_runs() -> DynamoReconciliationRuns:
    from billing.adapters.dynamo.reconciliation import DynamoReconciliationRuns

    bound_settings()
    return DynamoReconciliationRuns()


@lru_cache(maxsize=1)
def payment_gateway() -> StripePaymentGateway:
    """The Stripe gateway. stripe is imported here, not at module load: only the functions
    that call Stripe pay for it."""
    from billing.adapters.stripe_gateway import StripePaymentGateway, build_client
    from billing.secrets import stripe_secret_key

    settings = get_settings()
    return StripePaymentGateway(build_client(stripe_secret_key(settings), settings.stripe_api_base))


def stripe_listing() -> tuple[StripeListing, StripeObjectReader]:
    """Stripe's lists and objects for one reconciliation invocation: one client, one pace
    under Stripe's rate limit."""
    from billing.adapters.stripe_gateway import build_client
    from billing.adapters.stripe_listing import StripeListing
    from billing.adapters.stripe_reader import StripeObjectReader
    from billing.secrets import stripe_secret_key

    settings = bound_settings()
    client = build_client(stripe_secret_key(settings), settings.stripe_api_base)
    listing = StripeListing(client, settings.reconciliation_requests_per_second)
    return listing, StripeObjectReader(client, pace=listing.pace)


@lru_cache(maxsize=1)
def stripe_reader() -> StripeObjectReader:
    """Stripe's objects, for the webhook consumer (:meth:`StripeObjectReader.within` bounds
    each event's reads by the function's remaining time). stripe is imported here, as in
    payment_gateway()."""
    from billing.adapters.stripe_gateway import build_client
    from billing.adapters.stripe_reader import StripeObjectReader
    from billing.secrets import stripe_secret_key

    settings = get_settings()
    return StripeObjectReader(build_client(stripe_secret_key(settings), settings.stripe_api_base))


def user_facts() -> DynamoBillingLedger:
    """The billing facts of one user (the portal finds the live subscription's customer)."""
    from billing.adapters.dynamo.ledger import DynamoBillingLedger

    bound_settings()
    return DynamoBillingLedger()


def run_queue() -> SqsRunQueue:
    """Reconciliation's queue, for the bound target (the function, or the CLI starting a run)."""
    from billing.adapters.sqs_queue import SqsRunQueue, sqs_client

    settings = bound_settings()
    if not settings.reconciliation_queue_url:
        raise ConfigurationError("RECONCILIATION_QUEUE_URL is not set")
    return SqsRunQueue(settings.reconciliation_queue_url, sqs_client(settings.aws_region))


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


def dead_letter_queue() -> DeadLetterQueue:
    """The webhook dead-letter queue (``billing-admin dlq``), for the bound target: a deployed
    stack's output or the local moto server. boto3 is imported here, as in webhook_queue().
    Not cached: the CLI builds it once per command, after choosing its target."""
    from billing.adapters.sqs_queue import DeadLetterQueue, sqs_client

    settings = bound_settings()
    if not settings.webhook_dlq_url:
        raise ConfigurationError("WEBHOOK_DLQ_URL is not set")
    return DeadLetterQueue(settings.webhook_dlq_url, sqs_client(settings.aws_region))


# ---------------------------------------------------------------------- issue #22: pushed changes
# Imported on first use: the hot paths (entitlement read, authorizer, receiver) import this
# module and must not load the change log, the outbound webhooks or the token signer.
def change_log() -> DynamoChangeLog:
    from billing.adapters.dynamo.change_log import DynamoChangeLog

    bound_settings()
    return DynamoChangeLog()


def webhook_endpoints() -> DynamoWebhookEndpoints:
    from billing.adapters.dynamo.webhook_endpoints import DynamoWebhookEndpoints

    bound_settings()
    return DynamoWebhookEndpoints()


def address_resolver() -> SocketResolver:
    from billing.adapters.outbound_http import SocketResolver

    return SocketResolver()


def webhook_poster() -> PinnedPoster:
    from billing.adapters.outbound_http import PinnedPoster

    return PinnedPoster()


def delivery_queue() -> SqsDeliveryQueue:
    """Outbound webhook deliveries, for the bound target (the dispatcher, the sender)."""
    from billing.adapters.sqs_queue import SqsDeliveryQueue, sqs_client

    settings = bound_settings()
    if not settings.webhook_delivery_queue_url:
        raise ConfigurationError("WEBHOOK_DELIVERY_QUEUE_URL is not set")
    return SqsDeliveryQueue(settings.webhook_delivery_queue_url, sqs_client(settings.aws_region))


def delivery_dead_letters() -> DeadLetterQueue:
    """The deliveries' dead-letter queue (``billing-admin deliveries``)."""
    from billing.adapters.sqs_queue import DeadLetterQueue, sqs_client

    settings = bound_settings()
    if not settings.webhook_delivery_dlq_url:
        raise ConfigurationError("WEBHOOK_DELIVERY_DLQ_URL is not set")
    return DeadLetterQueue(settings.webhook_delivery_dlq_url, sqs_client(settings.aws_region))


@lru_cache(maxsize=1)
def token_signer() -> KmsTokenSigner:
    """The entitlement tokens' KMS keys (public keys cached for the container's life)."""
    from billing.adapters.kms_signer import KmsTokenSigner, kms_client

    return KmsTokenSigner(kms_client(get_settings().aws_region))
