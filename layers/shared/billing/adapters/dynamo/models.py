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
from pynamodb.connection import Connection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

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


class ProjectModel(Model):
    class Meta(_Meta):
        pass

    project_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    allowed_origins = ListAttribute(of=UnicodeAttribute, default=list)
    grace_period_days = NumberAttribute(default=3)
    created_at = UTCDateTimeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)


class ProjectIdCounter(Model):
    """The last project id handed out; one item in the projects table (``#counter``)."""

    class Meta(_Meta):
        pass

    project_id = UnicodeAttribute(hash_key=True)
    last_id = NumberAttribute(default=0)


PROJECT_ID_COUNTER_KEY = "#counter"
APP_RECORD_PREFIX = "app#"


class ApiKeysByProject(GlobalSecondaryIndex["ApiKeyModel"]):  # type: ignore[no-untyped-call]
    """Apps and keys of a project; with ``app_id``, one app's record and keys."""

    class Meta:
        index_name = "by_project"
        projection = AllProjection()

    project_id = UnicodeAttribute(hash_key=True)
    app_id = UnicodeAttribute(range_key=True)


class ApiKeyModel(Model):
    """Apps and their API keys, in one table.

    A key item sits under the SHA-256 of the key and carries a copy of its app's ``active``
    and ``scopes``, so the authorizer needs one GetItem. The app's own record sits under
    ``app#<app_id>``, which no SHA-256 hex digest can equal.
    """

    class Meta(_Meta):
        pass

    key_hash = UnicodeAttribute(hash_key=True)
    record_type = UnicodeAttribute(default="key")
    key_prefix = UnicodeAttribute(null=True)
    project_id = UnicodeAttribute()
    app_id = UnicodeAttribute()
    app_name = UnicodeAttribute(null=True)
    active = BooleanAttribute(default=True)
    scopes = UnicodeSetAttribute(null=True)
    expires_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute(null=True)

    by_project = ApiKeysByProject()


class PricesByProject(GlobalSecondaryIndex["PriceModel"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_project"
        projection = AllProjection()

    project_id = UnicodeAttribute(hash_key=True)
    stripe_price_id = UnicodeAttribute(range_key=True)


class FeatureLimitAttribute(MapAttribute[str, Any]):
    """A price's limit on one of its features (billing.domain.allowances.FeatureLimit)."""

    feature_code = UnicodeAttribute()
    limit = NumberAttribute()
    reset = UnicodeAttribute()
    meter = UnicodeAttribute(null=True)


class PriceModel(Model):
    """A Stripe price of a project and the feature codes it grants."""

    class Meta(_Meta):
        pass

    stripe_price_id = UnicodeAttribute(hash_key=True)
    project_id = UnicodeAttribute()
    feature_codes = ListAttribute(of=UnicodeAttribute, default=list)
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    interval = UnicodeAttribute()
    interval_count = NumberAttribute(default=1)
    access_days = NumberAttribute(null=True)
    created_at = UTCDateTimeAttribute(null=True)
    feature_limits = ListAttribute(of=FeatureLimitAttribute, null=True)

    by_project = PricesByProject()


class AllowanceAttribute(MapAttribute[str, Any]):
    """What a source gives of a limited feature (billing.domain.allowances.Allowance)."""

    limit = NumberAttribute()
    reset = UnicodeAttribute()
    meter = UnicodeAttribute(null=True)
    period_start = UTCDateTimeAttribute(null=True)
    period_end = UTCDateTimeAttribute(null=True)


class EntitlementSourceAttribute(MapAttribute[str, Any]):
    feature_code = UnicodeAttribute()
    source = UnicodeAttribute()
    source_id = UnicodeAttribute()
    valid_from = UTCDateTimeAttribute()
    valid_to = UTCDateTimeAttribute(null=True)
    in_force = BooleanAttribute(default=True)
    reason = UnicodeAttribute(null=True)
    expiry_reason = UnicodeAttribute(null=True)
    active_until = UTCDateTimeAttribute(null=True)
    allowance = AllowanceAttribute(null=True)  # type: ignore[no-untyped-call]


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
    stripe_object_id = UnicodeAttribute(null=True)
    processed_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()


class CustomersByStripeId(GlobalSecondaryIndex["CustomerModel"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_stripe_customer"
        projection = AllProjection()

    stripe_customer_id = UnicodeAttribute(hash_key=True)


class CustomerModel(Model):
    """(project, user, currency) -> Stripe customer."""

    class Meta(_Meta):
        pass

    by_stripe_customer = CustomersByStripeId()

    project_user = UnicodeAttribute(hash_key=True)
    currency = UnicodeAttribute(range_key=True)
    stripe_customer_id = UnicodeAttribute()
    project_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute(null=True)


class StripeObjectsByProject(GlobalSecondaryIndex["StripeObjectModel"]):  # type: ignore[no-untyped-call]
    """A project's billing facts; with a ``<user_id>#`` prefix, one user's."""

    class Meta:
        index_name = "by_project"
        projection = AllProjection()

    project_id = UnicodeAttribute(hash_key=True)
    object_sort = UnicodeAttribute(range_key=True)


class StripeObjectModel(Model):
    """A billing fact (subscription or purchase) by Stripe id, with its version watermark:
    the ``created`` time of the newest event applied to it."""

    class Meta(_Meta):
        pass

    stripe_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    project_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    object_sort = UnicodeAttribute()
    version = NumberAttribute()
    fact = UnicodeAttribute()
    updated_at = UTCDateTimeAttribute(null=True)
    # A subscription fact whose states are in the status history (written since it began).
    history = BooleanAttribute(null=True)

    by_project = StripeObjectsByProject()


class SubscriptionHistoryModel(Model):
    """The status history of a project's subscriptions (billing.domain.status_history): one
    item per state, written once and never updated. A project's metrics read its partition:
    one Query, whatever other projects hold."""

    class Meta(_Meta):
        pass

    project_id = UnicodeAttribute(hash_key=True)
    entry = UnicodeAttribute(range_key=True)  # "<subscription id>#<version>#<cause>"
    subscription_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    version = NumberAttribute()
    effective_at = NumberAttribute()
    cause = UnicodeAttribute()
    fact = UnicodeAttribute()  # the subscription fact's JSON
    recorded_at = UTCDateTimeAttribute()


class AuditModel(Model):
    """One support change (grant/revoke) of (project, user); never updated or deleted."""

    class Meta(_Meta):
        pass

    project_user = UnicodeAttribute(hash_key=True)
    at_id = UnicodeAttribute(range_key=True)  # "<ISO time>#<unique>": newest last
    action = UnicodeAttribute()
    feature_code = UnicodeAttribute()
    actor = UnicodeAttribute()
    reason = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    app_id = UnicodeAttribute()
    before = UnicodeAttribute(null=True)  # JSON of the manual source before
    after = UnicodeAttribute(null=True)


class RunsByStart(GlobalSecondaryIndex["ReconciliationEntryModel"]):  # type: ignore[no-untyped-call]
    """Run summaries by start time (only summaries carry ``listing``: a sparse index)."""

    class Meta:
        index_name = "by_started"
        projection = AllProjection()

    listing = UnicodeAttribute(hash_key=True)
    started_at = UnicodeAttribute(range_key=True)


class ReconciliationEntryModel(Model):
    """One item of a reconciliation run: its ``summary`` (where it stands, its counters), or
    one ``repair#...`` / ``error#...`` entry of its report."""

    class Meta(_Meta):
        pass

    run_id = UnicodeAttribute(hash_key=True)
    entry = UnicodeAttribute(range_key=True)
    by_started = RunsByStart()
    expires_at = TTLAttribute(null=True)
    # summary
    listing = UnicodeAttribute(null=True)
    started_at = UnicodeAttribute(null=True)
    trigger = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    since = NumberAttribute(null=True)
    kind_index = NumberAttribute(null=True)
    starting_after = UnicodeAttribute(null=True)
    pages = NumberAttribute(null=True)
    counts = MapAttribute[str, Any](null=True)  # type: ignore[no-untyped-call]
    invocations = NumberAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)
    # repair / error
    kind = UnicodeAttribute(null=True)
    object_id = UnicodeAttribute(null=True)
    fact_id = UnicodeAttribute(null=True)
    project_id = UnicodeAttribute(null=True)
    user_id = UnicodeAttribute(null=True)
    fields = ListAttribute(of=UnicodeAttribute, null=True)
    before = UnicodeAttribute(null=True)  # the fact's JSON
    after = UnicodeAttribute(null=True)
    message = UnicodeAttribute(null=True)
    at = UnicodeAttribute(null=True)


class UsageCountersModel(Model):
    """A user's usage counters, one item per (project, user): besides the key and the TTL, one
    number per feature and period, named ``<feature>#<period>`` (billing.domain.usage), so the
    entitlement read gets them with the record in one call. Written raw (the names vary)."""

    class Meta(_Meta):
        pass

    project_user = UnicodeAttribute(hash_key=True)
    expires_at = TTLAttribute(null=True)


class UnreportedUsage(GlobalSecondaryIndex["UsageRecordModel"]):  # type: ignore[no-untyped-call]
    """Metered usage not yet reported to Stripe, oldest first: a sparse index (only such
    records carry ``report_shard``), spread over a few shards."""

    class Meta:
        index_name = "unreported"
        projection = AllProjection()

    report_shard = UnicodeAttribute(hash_key=True)
    recorded_at = NumberAttribute(range_key=True)


class UsageByMeter(GlobalSecondaryIndex["UsageRecordModel"]):  # type: ignore[no-untyped-call]
    """Metered usage by Stripe meter and time, for reconciliation (sparse: ``meter`` only on
    metered records)."""

    class Meta:
        index_name = "by_meter"
        projection = AllProjection()

    meter = UnicodeAttribute(hash_key=True)
    recorded_at = NumberAttribute(range_key=True)


class UsageRecordModel(Model):
    """One recorded usage under ``<project>#<idempotency key>``: its first answer (replayed
    for 24 h) and, for a metered feature, where its report to Stripe stands."""

    class Meta(_Meta):
        pass

    record_key = UnicodeAttribute(hash_key=True)
    project_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    feature_code = UnicodeAttribute()
    quantity = NumberAttribute()
    counter = UnicodeAttribute()
    fingerprint = UnicodeAttribute()
    answer = UnicodeAttribute()  # the first answer's JSON
    recorded_at = NumberAttribute()  # epoch milliseconds
    replay_until = NumberAttribute()  # epoch seconds
    expires_at = TTLAttribute(null=True)
    # metered usage
    meter = UnicodeAttribute(null=True)
    source_id = UnicodeAttribute(null=True)  # the subscription whose customer Stripe bills
    report_shard = UnicodeAttribute(null=True)
    report_attempts = NumberAttribute(null=True)
    next_attempt_at = NumberAttribute(null=True)
    reported_at = NumberAttribute(null=True)
    stripe_customer_id = UnicodeAttribute(null=True)
    dead_lettered_at = NumberAttribute(null=True)
    report_error = UnicodeAttribute(null=True)

    unreported = UnreportedUsage()
    by_meter = UsageByMeter()


_TABLES: dict[type[Model], str] = {
    ReconciliationEntryModel: "reconciliation_runs_table_name",
    AuditModel: "audit_table_name",
    StripeObjectModel: "stripe_objects_table_name",
    SubscriptionHistoryModel: "subscription_history_table_name",
    CustomerModel: "customers_table_name",
    ProjectModel: "projects_table_name",
    ProjectIdCounter: "projects_table_name",
    ApiKeyModel: "api_keys_table_name",
    PriceModel: "prices_table_name",
    EntitlementModel: "entitlements_table_name",
    WebhookEventModel: "webhook_events_table_name",
    UsageCountersModel: "usage_counters_table_name",
    UsageRecordModel: "usage_records_table_name",
}


_bound_to: Settings | None = None


def _bind(model: type[Model], setting: str, settings: Settings) -> None:
    model.Meta.table_name = getattr(settings, setting)
    model.Meta.region = settings.aws_region
    model.Meta.host = settings.dynamodb_endpoint_url
    model._connection = None


def bind_models(settings: Settings) -> None:
    """Point every model at its table and endpoint from ``settings``."""
    global _transaction_connection, _bound_to  # noqa: PLW0603
    _transaction_connection = None
    _bound_to = settings
    for model, setting in _TABLES.items():
        _bind(model, setting, settings)


def register_models(tables: dict[type[Model], str]) -> None:
    """Models defined in modules of their own (model -> its table's setting), bound now if
    the settings are: what the hot paths never use stays out of this module, and of their
    imports."""
    _TABLES.update(tables)
    if _bound_to is not None:
        for model, setting in tables.items():
            _bind(model, setting, _bound_to)


_transaction_connection: Connection | None = None


def connection() -> Connection:
    """The Connection for calls that span tables (transactions, multi-table batch reads) on
    the endpoint the models are bound to. It (and the botocore client inside it, ~0.1 s to
    build) is made once per binding, not per call."""
    global _transaction_connection  # noqa: PLW0603 - one per binding, like the models' own
    if _transaction_connection is None:
        _transaction_connection = Connection(
            region=ApiKeyModel.Meta.region,
            host=ApiKeyModel.Meta.host,
            connect_timeout_seconds=CONNECT_TIMEOUT_SECONDS,
            read_timeout_seconds=READ_TIMEOUT_SECONDS,
            max_retry_attempts=MAX_RETRY_ATTEMPTS,
        )
    return _transaction_connection


def transaction() -> TransactWrite:
    """A TransactWrite on the endpoint the models are bound to."""
    return TransactWrite(connection=connection())


def entitlement_key(project_id: str, user_id: str) -> str:
    """The partition key of every (project, user) record: entitlements, customers."""
    return f"{project_id}#{user_id}"
