"""The billing ledger on DynamoDB: facts, processed marks and entitlement records, changed
together in one TransactWriteItems whose conditions enforce idempotency (the mark must not
exist) and order (the fact and the record must be as they were read), with the subscription
status history entries of the change (each written once: :func:`history_items`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from typing import Any, cast

from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model

from billing.adapters.dynamo.batch import batch_get
from billing.adapters.dynamo.errors import (
    dynamo_errors,
    get_or_none,
    is_conditional_check_failure,
    save_if,
)
from billing.adapters.dynamo.models import (
    AuditModel,
    CustomerModel,
    EntitlementModel,
    PriceModel,
    ProjectModel,
    StripeObjectModel,
    SubscriptionHistoryModel,
    WebhookEventModel,
    entitlement_key,
    transaction,
)
from billing.adapters.dynamo.stores import (
    PROCESSED_MARK_RETENTION,
    audit_item,
    entitlement_record,
    source_from_item,
)
from billing.adapters.dynamo.tenancy import feature_limits_from_items
from billing.domain.billing_facts import (
    Dispute,
    Fact,
    Owner,
    PaymentFact,
    PurchaseFact,
    RecurringPrice,
    SubscriptionDiscount,
    SubscriptionFact,
)
from billing.domain.entitlement_rules import PriceTerms
from billing.domain.ledger import LedgerChange, LedgerState
from billing.domain.status_history import StatusEntry
from billing.domain.stripe_events import StripeEventEnvelope
from billing.domain.tenancy import Interval, StripePriceTerms


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
    if "disputes" in data:
        data["disputes"] = tuple(Dispute(**d) for d in data["disputes"])
    kind = data["kind"]
    if kind == "subscription":
        if "terms" in data:
            data["terms"] = tuple(RecurringPrice(**t) if t else None for t in data["terms"])
        if "discounts" in data:
            data["discounts"] = tuple(SubscriptionDiscount(**d) for d in data["discounts"])
        return SubscriptionFact(**data)
    if kind == "payment":
        return PaymentFact(**data)
    if "status" in data:  # stored before disputes were kept: a status, not a payment state
        status = data.pop("status")
        data["payment"] = status if status in ("pending", "failed") else "paid"
    return PurchaseFact(**data)


def fact_item(fact: Fact, now: datetime, *, recorded: bool = False) -> StripeObjectModel:
    """The fact's item; ``recorded``: its states are in the status history."""
    return StripeObjectModel(
        fact.stripe_id,
        kind=fact.kind,
        project_id=fact.owner.project_id,
        user_id=fact.owner.user_id,
        object_sort=f"{fact.owner.user_id}#{fact.kind}#{fact.stripe_id}",
        version=fact.version,
        fact=fact_to_json(fact),
        updated_at=now,
        history=True if recorded else None,
    )


def history_key(entry: StatusEntry) -> str:
    """Unique per written state: the subscription, its version (zero-padded: the entries of
    one subscription sort by version) and the event or run that wrote it."""
    return f"{entry.subscription.stripe_id}#{entry.version:011d}#{entry.cause}"


def history_item(entry: StatusEntry, now: datetime) -> SubscriptionHistoryModel:
    fact = entry.subscription
    return SubscriptionHistoryModel(
        fact.owner.project_id,
        history_key(entry),
        subscription_id=fact.stripe_id,
        user_id=fact.owner.user_id,
        version=fact.version,
        effective_at=entry.effective_at,
        cause=entry.cause,
        fact=fact_to_json(fact),
        recorded_at=now,
    )


def history_entry(item: SubscriptionHistoryModel) -> StatusEntry:
    fact = fact_from_json(item.fact)
    if not isinstance(fact, SubscriptionFact):
        raise TypeError(f"history entry {item.entry} holds a {fact.kind}, not a subscription")
    return StatusEntry(fact, int(item.effective_at), item.cause, item.recorded_at)


def history_items(change: LedgerChange, now: datetime) -> list[SubscriptionHistoryModel]:
    """The change's status history entries, to write each on the condition that it does not
    exist: append-only, and a retried write of the same change fails rather than doubles."""
    return [history_item(entry, now) for entry in change.history]


def price_terms(item: PriceModel) -> PriceTerms:
    return PriceTerms(
        tuple(str(code) for code in item.feature_codes or ()),
        int(item.access_days) if item.access_days is not None else None,
        item.project_id,
        StripePriceTerms(
            int(item.amount),
            item.currency,
            cast(Interval, item.interval),
            int(item.interval_count or 1),
        ),
        feature_limits_from_items(item.feature_limits),
    )


def batch_read(wanted: dict[type[Model], list[str]]) -> dict[type[Model], list[Any]]:
    """Items of several tables by hash key, strongly consistent: one BatchGetItem per 100 keys
    (an event needs a handful, a reconciliation page about a hundred)."""
    keys = [
        (model.Meta.table_name, {_hash_key_name(model): {"S": key}})
        for model, model_keys in wanted.items()
        for key in model_keys
    ]
    raw = batch_get(keys, consistent=True, operation="ledger")
    return {
        model: [model.from_raw_data(item) for item in raw.get(model.Meta.table_name, [])]
        for model in wanted
    }


def _hash_key_name(model: type[Model]) -> str:
    return next(a.attr_name for a in model.get_attributes().values() if a.is_hash_key)


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


def _change_logged(change: LedgerChange, now: datetime) -> tuple[Model, Any]:
    """The change log's entry of this commit (issue #22), under the record's new version."""
    from billing.adapters.dynamo.change_log import change_log_item
    from billing.domain.change_log import ChangeEntry, stripe_event_cause

    owner = change.owner
    return change_log_item(
        ChangeEntry(
            project_id=owner.project_id,
            user_id=owner.user_id,
            version=change.record_version + 1,
            at=now,
            sources=tuple(change.sources),
            cause=change.cause or stripe_event_cause(change.event.event_id),
        )
    )


class DynamoBillingLedger:
    def read(
        self,
        *,
        event_id: str | None = None,
        fact_ids: Iterable[str] = (),
        owner: Owner | None = None,
        price_ids: Iterable[str] = (),
    ) -> LedgerState:
        """One BatchGetItem across the tables (more only when DynamoDB leaves keys
        unprocessed); strongly consistent, so a planning attempt sees the last commit."""
        wanted: dict[type[Model], list[str]] = {
            WebhookEventModel: [event_id] if event_id else [],
            StripeObjectModel: sorted(set(fact_ids)),
            PriceModel: sorted(set(price_ids)),
            EntitlementModel: [entitlement_key(owner.project_id, owner.user_id)] if owner else [],
            ProjectModel: [owner.project_id] if owner else [],
        }
        found = batch_read(wanted)
        facts = {i.stripe_id: fact_from_json(i.fact) for i in found[StripeObjectModel]}
        unrecorded = frozenset(
            i.stripe_id
            for i in found[StripeObjectModel]
            if i.kind == "subscription" and not i.history
        )
        prices = {i.stripe_price_id: price_terms(i) for i in found[PriceModel]}
        record = None
        grace = None
        if owner is not None:
            items = found[EntitlementModel]
            record = (
                ([source_from_item(s) for s in items[0].sources], int(items[0].version))
                if items
                else ([], 0)
            )
            projects = found[ProjectModel]
            grace = int(projects[0].grace_period_days) if projects else None
        return LedgerState(
            processed=bool(found[WebhookEventModel]),
            facts=facts,
            record=record,
            grace_days=grace,
            prices=prices,
            unrecorded=unrecorded,
        )

    def owner_of_customer(self, customer_id: str) -> Owner | None:
        with dynamo_errors("Query customer"):
            found = next(iter(CustomerModel.by_stripe_customer.query(customer_id, limit=1)), None)
        return Owner(found.project_id, found.user_id) if found else None

    def fact(self, stripe_id: str) -> Fact | None:
        item = get_or_none(StripeObjectModel, stripe_id, operation="GetItem fact")
        return fact_from_json(item.fact) if item else None

    def facts_of(self, owner: Owner) -> list[Fact]:
        with dynamo_errors("Query facts"):
            items = StripeObjectModel.by_project.query(
                owner.project_id, StripeObjectModel.object_sort.startswith(f"{owner.user_id}#")
            )
            return [fact_from_json(item.fact) for item in items]

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
                    recorded = isinstance(item.fact, SubscriptionFact)
                    write.save(fact_item(item.fact, now, recorded=recorded), condition=condition)
                write.save(record, condition=record_condition)
                write.save(*_change_logged(change, now))
                for entry in change.audit:
                    write.save(
                        audit_item(entry), condition=AuditModel.project_user.does_not_exist()
                    )
                for history in history_items(change, now):
                    write.save(history, condition=SubscriptionHistoryModel.entry.does_not_exist())
        except TransactWriteError as exc:
            if is_conditional_check_failure(exc):
                return False
            raise
        return True

    def record(self, event: StripeEventEnvelope, outcome: str, now: datetime) -> bool:
        object_id = event.data_object.get("id")
        mark = _mark(event, outcome, now, object_id if isinstance(object_id, str) else None)
        return save_if(mark, WebhookEventModel.event_id.does_not_exist(), operation="PutItem event")
