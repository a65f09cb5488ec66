"""The billing ledger on DynamoDB: facts, processed marks and entitlement records, changed
together in one TransactWriteItems whose conditions enforce idempotency (the mark must not
exist) and order (the fact and the record must be as they were read)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from pynamodb.exceptions import TransactWriteError

from billing.adapters.dynamo.errors import (
    dynamo_errors,
    get_or_none,
    is_conditional_check_failure,
    save_if,
)
from billing.adapters.dynamo.models import (
    AuditModel,
    CustomerModel,
    PriceModel,
    ProjectModel,
    StripeObjectModel,
    WebhookEventModel,
    transaction,
)
from billing.adapters.dynamo.stores import (
    PROCESSED_MARK_RETENTION,
    audit_item,
    entitlement_record,
    read_entitlement_record,
)
from billing.domain.billing_facts import (
    Fact,
    Owner,
    PaymentFact,
    PurchaseFact,
    SubscriptionFact,
)
from billing.domain.entitlement_rules import PriceTerms
from billing.domain.entitlements import EntitlementSource
from billing.domain.ledger import LedgerChange
from billing.domain.stripe_events import StripeEventEnvelope
from billing.domain.tenancy import DEFAULT_GRACE_PERIOD_DAYS


def fact_to_json(fact: Fact) -> str:
    return json.dumps(asdict(fact), separators=(",", ":"))


def fact_from_json(text: str) -> Fact:
    data: dict[str, Any] = json.loads(text)
    data["owner"] = Owner(**data["owner"])
    for name in ("price_ids", "quantities"):
        if name in data:
            data[name] = tuple(data[name])
    if "refunds" in data:
        data["refunds"] = tuple(tuple(r) for r in data["refunds"])
    kind = data["kind"]
    if kind == "subscription":
        return SubscriptionFact(**data)
    if kind == "payment":
        return PaymentFact(**data)
    return PurchaseFact(**data)


def fact_item(fact: Fact, now: datetime) -> StripeObjectModel:
    return StripeObjectModel(
        fact.stripe_id,
        kind=fact.kind,
        project_id=fact.owner.project_id,
        user_id=fact.owner.user_id,
        object_sort=f"{fact.owner.user_id}#{fact.kind}#{fact.stripe_id}",
        version=fact.version,
        fact=fact_to_json(fact),
        updated_at=now,
    )


def _mark(
    event: StripeEventEnvelope, outcome: str, now: datetime, object_id: str | None
) -> WebhookEventModel:
    return WebhookEventModel(
        event.event_id,
        event_type=event.event_type,
        created=event.created,
        outcome=outcome,
        stripe_object_id=object_id,
        processed_at=now,
        expires_at=now + PROCESSED_MARK_RETENTION,
    )


class DynamoBillingLedger:
    def is_processed(self, event_id: str) -> bool:
        return get_or_none(WebhookEventModel, event_id, operation="GetItem event") is not None

    def owner_of_customer(self, customer_id: str) -> Owner | None:
        with dynamo_errors("Query customer"):
            found = next(iter(CustomerModel.by_stripe_customer.query(customer_id, limit=1)), None)
        return Owner(found.project_id, found.user_id) if found else None

    def fact(self, stripe_id: str) -> Fact | None:
        item = get_or_none(StripeObjectModel, stripe_id, operation="GetItem fact")
        return fact_from_json(item.fact) if item else None

    def facts(self, stripe_ids: Iterable[str]) -> dict[str, Fact]:
        ids = sorted(set(stripe_ids))
        if not ids:
            return {}
        with dynamo_errors("BatchGetItem facts"):
            items = list(StripeObjectModel.batch_get(ids))
        return {item.stripe_id: fact_from_json(item.fact) for item in items}

    def facts_of(self, owner: Owner) -> list[Fact]:
        with dynamo_errors("Query facts"):
            items = StripeObjectModel.by_project.query(
                owner.project_id, StripeObjectModel.object_sort.startswith(f"{owner.user_id}#")
            )
            return [fact_from_json(item.fact) for item in items]

    def entitlement_record(self, owner: Owner) -> tuple[list[EntitlementSource], int]:
        return read_entitlement_record(owner.project_id, owner.user_id)

    def price_terms(self, price_ids: Iterable[str]) -> dict[str, PriceTerms]:
        ids = sorted(set(price_ids))
        if not ids:
            return {}
        with dynamo_errors("BatchGetItem prices"):
            items = list(PriceModel.batch_get(ids))
        return {
            item.stripe_price_id: PriceTerms(
                tuple(str(code) for code in item.feature_codes or ()),
                int(item.access_days) if item.access_days is not None else None,
            )
            for item in items
        }

    def grace_period_days(self, project_id: str) -> int:
        project = get_or_none(ProjectModel, project_id, operation="GetItem project")
        return int(project.grace_period_days) if project else DEFAULT_GRACE_PERIOD_DAYS

    def commit(self, change: LedgerChange, now: datetime) -> bool:
        owner = change.owner
        record, record_condition = entitlement_record(
            owner.project_id, owner.user_id, change.sources, change.record_version, now
        )
        try:
            with dynamo_errors("TransactWriteItems event"), transaction() as write:
                write.save(
                    _mark(change.event, "applied", now, change.facts[0].fact.stripe_id),
                    condition=WebhookEventModel.event_id.does_not_exist(),
                )
                for item in change.facts:
                    condition = (
                        StripeObjectModel.stripe_id.does_not_exist()
                        if item.previous_version is None
                        else StripeObjectModel.version == item.previous_version
                    )
                    write.save(fact_item(item.fact, now), condition=condition)
                write.save(record, condition=record_condition)
                for entry in change.audit:
                    write.save(
                        audit_item(entry), condition=AuditModel.project_user.does_not_exist()
                    )
        except TransactWriteError as exc:
            if is_conditional_check_failure(exc):
                return False
            raise
        return True

    def record(self, event: StripeEventEnvelope, outcome: str, now: datetime) -> bool:
        object_id = event.data_object.get("id")
        mark = _mark(event, outcome, now, object_id if isinstance(object_id, str) else None)
        return save_if(mark, WebhookEventModel.event_id.does_not_exist(), operation="PutItem event")
