"""The AWS calls the service's code makes, as IAM sees them: (action, resource).

:data:`ENTRY_POINT_CALLS` declares, for every function or method of the AWS-calling modules
that some Lambda function reaches (tests/support/reach.py finds which), the calls it can make.
tests/unit/test_least_privilege.py checks that declaration against what each entry point
really sends (moto, with :func:`recording`), then compares each function's policy in
template.yaml with the union over the entry points it reaches.

Resources are named as the template names them: tables, indexes and queues by logical id,
SSM parameters by the template parameter holding their name.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any
from unittest import mock

from botocore.client import BaseClient


@dataclass(frozen=True, order=True)
class Resource:
    """What a statement's Resource names: a ``table``, one ``index`` of a table, a ``queue``
    or a ``parameter`` (SSM; ``name`` is the template parameter holding its name)."""

    kind: str
    name: str
    index: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}" + (f"/index/{self.index}" if self.index else "")


@dataclass(frozen=True, order=True)
class Call:
    action: str
    resource: Resource

    def __str__(self) -> str:
        return f"{self.action} on {self.resource}"


def table(name: str, index: str | None = None) -> Resource:
    return Resource("index", name, index) if index else Resource("table", name)


def queue(name: str) -> Resource:
    return Resource("queue", name)


def parameter(template_parameter: str) -> Resource:
    return Resource("parameter", template_parameter)


# The entitlement tokens' KMS keys: the stack's own key, or those TokenSigningKeyArns lists.
TOKEN_KEYS = Resource("key", "TokenSigningKeys")


def calls(*pairs: tuple[str, Resource]) -> frozenset[Call]:
    return frozenset(Call(action, resource) for action, resource in pairs)


NO_CALLS: frozenset[Call] = frozenset()

# SSM parameters by their name in AWS (as the functions get it): the template parameter
# holding it. Kept in step with template.yaml by tests/unit/test_least_privilege.py.
SSM_PARAMETERS = {
    "/billing/stripe-secret-key": "StripeSecretKeyParameterName",
    "/billing/stripe-webhook-secret": "StripeWebhookSecretParameterName",
    "/billing/audit-cursor-key": "AuditCursorKeyParameterName",
}

_ADAPTERS = "billing.adapters."
_LEDGER = _ADAPTERS + "dynamo.ledger.DynamoBillingLedger."
_RUNS = _ADAPTERS + "dynamo.reconciliation.DynamoReconciliationRuns."
_CUSTOMERS = _ADAPTERS + "dynamo.customers.DynamoCustomerStore."
_GRANTS = _ADAPTERS + "dynamo.grants.DynamoGrantStore."
_USAGE = _ADAPTERS + "dynamo.usage.DynamoUsageStore."
_METERED = _ADAPTERS + "dynamo.metering.DynamoMeteredUsage."
_STORES = _ADAPTERS + "dynamo.stores."
_TENANCY = _ADAPTERS + "dynamo.tenancy."
_SQS = _ADAPTERS + "sqs_queue."
_METRICS = _ADAPTERS + "dynamo.metrics.DynamoMetricsStore."
_LEDGER_READ = ("WebhookEventsTable", "StripeObjectsTable", "PricesTable")

ENTRY_POINT_CALLS: dict[str, frozenset[Call]] = {
    # models and clients: built, not called
    _ADAPTERS + "dynamo.models.bind_models": NO_CALLS,
    _SQS + "sqs_client": NO_CALLS,
    _STORES + "DynamoHealthProbe.__init__": NO_CALLS,
    _SQS + "SqsEventQueue.__init__": NO_CALLS,
    _SQS + "SqsRunQueue.__init__": NO_CALLS,
    _SQS + "DeadLetterQueue.__init__": NO_CALLS,
    _SQS + "SqsMeterDeadLetters.__init__": NO_CALLS,
    # one item each
    _STORES + "DynamoApiKeyStore.find": calls(("dynamodb:GetItem", table("ApiKeysTable"))),
    # the record alone (entitlement tokens)
    _STORES + "DynamoEntitlementStore.sources_of": calls(
        ("dynamodb:GetItem", table("EntitlementsTable"))
    ),
    # the record and the usage counters in one BatchGetItem (entitlement reads)
    _STORES + "DynamoEntitlementStore.usage_of": calls(
        ("dynamodb:BatchGetItem", table("EntitlementsTable")),
        ("dynamodb:BatchGetItem", table("UsageCountersTable")),
    ),
    _STORES + "DynamoHealthProbe.check": calls(("dynamodb:DescribeTable", table("ProjectsTable"))),
    _TENANCY + "DynamoProjectStore.get": calls(("dynamodb:GetItem", table("ProjectsTable"))),
    _TENANCY + "DynamoPriceStore.get": calls(("dynamodb:GetItem", table("PricesTable"))),
    _TENANCY + "DynamoPriceStore.list": calls(
        ("dynamodb:Query", table("PricesTable", "by_project"))
    ),
    _CUSTOMERS + "customer_of": calls(("dynamodb:GetItem", table("CustomersTable"))),
    _CUSTOMERS + "any_customer_of": calls(("dynamodb:Query", table("CustomersTable"))),
    # first writer wins; the loser reads the winner's customer
    _CUSTOMERS + "remember": calls(
        ("dynamodb:PutItem", table("CustomersTable")),
        ("dynamodb:GetItem", table("CustomersTable")),
    ),
    _GRANTS + "read": calls(("dynamodb:GetItem", table("EntitlementsTable"))),
    # the record and its audit entry in one TransactWriteItems
    _GRANTS + "write": calls(
        ("dynamodb:PutItem", table("EntitlementsTable")),
        ("dynamodb:PutItem", table("AuditTable")),
        ("dynamodb:PutItem", table("EntitlementChangesTable")),
    ),
    _GRANTS + "audit": calls(("dynamodb:Query", table("AuditTable"))),
    # metered usage: what waits (a sparse index), the subscriptions' customers, the marks
    _METERED + "unreported": calls(("dynamodb:Query", table("UsageRecordsTable", "unreported"))),
    _METERED + "customers_of": calls(("dynamodb:BatchGetItem", table("StripeObjectsTable"))),
    _METERED + "mark_reported": calls(("dynamodb:UpdateItem", table("UsageRecordsTable"))),
    _METERED + "mark_retry": calls(("dynamodb:UpdateItem", table("UsageRecordsTable"))),
    _METERED + "mark_dead_lettered": calls(("dynamodb:UpdateItem", table("UsageRecordsTable"))),
    _METERED + "of_meter": calls(("dynamodb:Query", table("UsageRecordsTable", "by_meter"))),
    # usage: one BatchGetItem of the record, the counters and the usage under the key, one
    # TransactWriteItems of the counter and the usage's record
    _USAGE + "read": calls(
        ("dynamodb:BatchGetItem", table("EntitlementsTable")),
        ("dynamodb:BatchGetItem", table("UsageCountersTable")),
        ("dynamodb:BatchGetItem", table("UsageRecordsTable")),
    ),
    _USAGE + "record": calls(
        ("dynamodb:UpdateItem", table("UsageCountersTable")),
        ("dynamodb:PutItem", table("UsageRecordsTable")),
    ),
    _METRICS + "facts_of_project": calls(
        ("dynamodb:Query", table("StripeObjectsTable", "by_project"))
    ),
    _METRICS + "history_of_project": calls(("dynamodb:Query", table("SubscriptionHistoryTable"))),
    _METRICS + "grace_period_days": calls(("dynamodb:GetItem", table("ProjectsTable"))),
    # the ledger: one BatchGetItem across five tables, one TransactWriteItems
    _LEDGER + "read": calls(
        *(("dynamodb:BatchGetItem", table(name)) for name in _LEDGER_READ),
        ("dynamodb:BatchGetItem", table("EntitlementsTable")),
        ("dynamodb:BatchGetItem", table("ProjectsTable")),
    ),
    _LEDGER + "owner_of_customer": calls(
        ("dynamodb:Query", table("CustomersTable", "by_stripe_customer"))
    ),
    _LEDGER + "facts_of": calls(("dynamodb:Query", table("StripeObjectsTable", "by_project"))),
    _LEDGER + "commit": calls(
        ("dynamodb:PutItem", table("WebhookEventsTable")),
        ("dynamodb:PutItem", table("StripeObjectsTable")),
        ("dynamodb:PutItem", table("EntitlementsTable")),
        ("dynamodb:PutItem", table("AuditTable")),  # a repair's audit entries (webhooks: none)
        ("dynamodb:PutItem", table("SubscriptionHistoryTable")),  # the states it appends
        ("dynamodb:PutItem", table("EntitlementChangesTable")),  # the change log (#22)
    ),
    _LEDGER + "record": calls(("dynamodb:PutItem", table("WebhookEventsTable"))),
    # reconciliation runs
    _RUNS + "start": calls(("dynamodb:PutItem", table("ReconciliationRunsTable"))),
    _RUNS + "get": calls(("dynamodb:GetItem", table("ReconciliationRunsTable"))),
    _RUNS + "last_completed": calls(
        ("dynamodb:Query", table("ReconciliationRunsTable", "by_started"))
    ),
    _RUNS + "count_invocation": calls(("dynamodb:UpdateItem", table("ReconciliationRunsTable"))),
    _RUNS + "save_meter_drift": calls(
        ("dynamodb:BatchWriteItem", table("ReconciliationRunsTable"))
    ),
    _RUNS + "save_page": calls(
        ("dynamodb:BatchWriteItem", table("ReconciliationRunsTable")),
        ("dynamodb:UpdateItem", table("ReconciliationRunsTable")),
    ),
    # the change log (issue #22): one Query of a user's partition by time
    _ADAPTERS + "dynamo.change_log.DynamoChangeLog.in_force_at": calls(
        ("dynamodb:Query", table("EntitlementChangesTable", "by_time"))
    ),
    _ADAPTERS + "dynamo.change_log.DynamoChangeLog.between": calls(
        ("dynamodb:Query", table("EntitlementChangesTable", "by_time"))
    ),
    # outbound webhooks (issue #22)
    _ADAPTERS + "dynamo.change_log.DynamoChangeLog.entry": calls(
        ("dynamodb:GetItem", table("EntitlementChangesTable"))
    ),
    _ADAPTERS + "dynamo.webhook_endpoints.DynamoWebhookEndpoints.list": calls(
        ("dynamodb:Query", table("WebhookEndpointsTable"))
    ),
    _ADAPTERS + "dynamo.webhook_endpoints.DynamoWebhookEndpoints.get": calls(
        ("dynamodb:GetItem", table("WebhookEndpointsTable"))
    ),
    _SQS + "SqsDeliveryQueue.__init__": NO_CALLS,
    _SQS + "SqsDeliveryQueue.enqueue": calls(("sqs:SendMessage", queue("WebhookDeliveryQueue"))),
    _SQS + "SqsDeliveryQueue.retry_after": calls(
        ("sqs:ChangeMessageVisibility", queue("WebhookDeliveryQueue"))
    ),
    # entitlement tokens (issue #22): the first key signs, every key's public part is served
    _ADAPTERS + "kms_signer.kms_client": NO_CALLS,
    _ADAPTERS + "kms_signer.KmsTokenSigner.__init__": NO_CALLS,
    _ADAPTERS + "kms_signer.KmsTokenSigner.sign": calls(("kms:Sign", TOKEN_KEYS)),
    _ADAPTERS + "kms_signer.KmsTokenSigner.public_key": calls(("kms:GetPublicKey", TOKEN_KEYS)),
    # queues
    _SQS + "SqsEventQueue.enqueue": calls(("sqs:SendMessage", queue("WebhookQueue"))),
    _SQS + "SqsRunQueue.continue_run": calls(("sqs:SendMessage", queue("ReconciliationQueue"))),
    _SQS + "SqsMeterDeadLetters.park": calls(
        ("sqs:SendMessage", queue("MeterReportDeadLetterQueue"))
    ),
    _SQS + "DeadLetterQueue.approximate_count": calls(
        ("sqs:GetQueueAttributes", queue("WebhookDeadLetterQueue"))
    ),
    # secrets (SecureString under the AWS-managed key: no kms permission needed)
    "billing.secrets.stripe_secret_key": calls(
        ("ssm:GetParameter", parameter("StripeSecretKeyParameterName"))
    ),
    "billing.secrets.webhook_signing_secrets": calls(
        ("ssm:GetParameter", parameter("StripeWebhookSecretParameterName"))
    ),
    "billing.secrets.audit_cursor_keys": calls(
        ("ssm:GetParameter", parameter("AuditCursorKeyParameterName"))
    ),
}


# ---------------------------------------------------------------------- what a call needs in IAM
_TRANSACT_WRITE_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def _queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def iam_calls(service: str, operation: str, params: Mapping[str, Any]) -> set[Call]:
    """What IAM authorizes for one API call: a batch or transaction is checked per table (and
    a transaction per item's own action); a Query of an index is checked on the index."""
    if service == "dynamodb":
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return {Call(f"dynamodb:{operation}", table(name)) for name in params["RequestItems"]}
        if operation == "TransactWriteItems":
            return {
                Call(_TRANSACT_WRITE_ACTIONS[kind], table(spec["TableName"]))
                for item in params["TransactItems"]
                for kind, spec in item.items()
            }
        if operation == "TransactGetItems":
            return {
                Call("dynamodb:GetItem", table(i["Get"]["TableName"]))
                for i in params["TransactItems"]
            }
        return {Call(f"dynamodb:{operation}", table(params["TableName"], params.get("IndexName")))}
    return _other_iam_calls(service, operation, params)


def _other_iam_calls(service: str, operation: str, params: Mapping[str, Any]) -> set[Call]:
    if service == "sqs":  # a batch is authorized as its single action
        action = operation.removesuffix("Batch")
        return {Call(f"sqs:{action}", queue(_queue_name(params["QueueUrl"])))}
    if service == "kms" and operation in ("Sign", "GetPublicKey"):
        return {Call(f"kms:{operation}", TOKEN_KEYS)}
    if service == "ssm" and operation == "GetParameter":
        return {Call("ssm:GetParameter", parameter(SSM_PARAMETERS[params["Name"]]))}
    raise AssertionError(f"no IAM translation for {service}:{operation}")


# ---------------------------------------------------------------------- recording
@dataclass
class Recording:
    """Calls seen, by the outermost entry point on the stack when they were made."""

    by_entry_point: dict[str, set[Call]] = field(default_factory=dict)
    entered: set[str] = field(default_factory=set)
    unattributed: list[str] = field(default_factory=list)


def _frame_name(frame: FrameType) -> str:
    return f"{frame.f_globals.get('__name__')}.{frame.f_code.co_qualname}"


def _outermost_entry_point(frame: FrameType | None) -> str | None:
    found = None
    while frame is not None:
        name = _frame_name(frame)
        if name in ENTRY_POINT_CALLS:
            found = name
        frame = frame.f_back
    return found


@contextmanager
def recording() -> Iterator[Recording]:
    """Record every AWS API call made inside (through any botocore client: boto3, PynamoDB,
    Powertools parameters), and every entry point entered."""
    seen = Recording()
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        service = client.meta.service_model.service_name
        entry = _outermost_entry_point(sys._getframe(1))
        for call in iam_calls(service, operation, params):
            if entry is None:
                seen.unattributed.append(str(call))
            else:
                seen.by_entry_point.setdefault(entry, set()).add(call)
        return original(client, operation, params)

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if event == "call":
            name = _frame_name(frame)
            if name in ENTRY_POINT_CALLS:
                seen.entered.add(name)

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        with mock.patch.object(BaseClient, "_make_api_call", make_api_call):
            yield seen
    finally:
        sys.setprofile(previous)
