"""The entitlement engine: apply one Stripe event, at most once, order-safe, in one transaction.

Dispatch is by event type through a small registry of per-object handlers; each returns the
new fact, or an outcome saying why nothing changes (and the event is still recorded, so
reconciliation can find what could not be mapped). A concurrent change to the same fact or
entitlement record makes the transaction fail its conditions: the event is planned again
from fresh reads, and after a few tries left to SQS to retry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from billing.domain import billing_facts as facts
from billing.domain.billing_facts import (
    Fact,
    Owner,
    PaymentFact,
    PurchaseFact,
    SubscriptionFact,
)
from billing.domain.entitlement_rules import PriceTerms, derive_sources
from billing.domain.entitlements import EntitlementSource
from billing.domain.grants import AuditEntry
from billing.domain.ledger import FactChange, LedgerChange
from billing.domain.stripe_events import StripeEventEnvelope, parse_event
from billing.errors import DependencyUnavailableError
from billing.ports import BillingLedger

MAX_ATTEMPTS = 4


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"  # older than what was applied to that object
    UNMAPPED = "unmapped"  # no project/user known for it: left to reconciliation
    UNKNOWN_OBJECT = "unknown_object"  # about an object the service has no fact of
    IGNORED = "ignored"  # handled type, nothing for entitlements in it
    UNHANDLED = "unhandled"  # a type the service does not handle


Plan = list[Fact] | Outcome
Handler = Callable[[StripeEventEnvelope, BillingLedger], Plan]


def _owner(ledger: BillingLedger, metadata: Any, customer: Any) -> Owner | None:
    owner = facts.owner_from_metadata(metadata)
    if owner is None and isinstance(customer, str):
        owner = ledger.owner_of_customer(customer)
    return owner


def _on_subscription(event: StripeEventEnvelope, ledger: BillingLedger) -> Plan:
    sub = event.data_object
    old = ledger.fact(str(sub.get("id")))
    owner = _owner(ledger, sub.get("metadata"), sub.get("customer")) or (old.owner if old else None)
    if owner is None:
        return Outcome.UNMAPPED
    previous = old if isinstance(old, SubscriptionFact) else None
    return [facts.subscription_fact(event, owner, previous)]


def _on_invoice(event: StripeEventEnvelope, ledger: BillingLedger) -> Plan:
    subscription_id = facts.invoice_subscription_id(event.data_object)
    if subscription_id is None:
        return Outcome.IGNORED  # a one-off invoice: no subscription to extend
    old = ledger.fact(subscription_id)
    if not isinstance(old, SubscriptionFact):
        return Outcome.UNKNOWN_OBJECT  # the subscription's own events will bring it
    if event.event_type == "invoice.payment_failed":
        return [facts.invoice_failed(event, old)]
    payment = facts.invoice_payment(event, old.owner, subscription_id)
    return [facts.invoice_paid(event, old), *([payment] if payment else [])]


def _purchase(
    event: StripeEventEnvelope,
    ledger: BillingLedger,
    *,
    payment_intent: Any,
    status: facts.PurchaseStatus,
    amount: Any,
    currency: Any,
) -> Plan:
    obj = event.data_object
    metadata = obj.get("metadata") or {}
    price_id = metadata.get("price_id") if isinstance(metadata, dict) else None
    if not isinstance(payment_intent, str) or not isinstance(price_id, str):
        return Outcome.IGNORED  # not a checkout purchase (e.g. a subscription's payment)
    old = ledger.fact(payment_intent)
    owner = _owner(ledger, metadata, obj.get("customer"))
    if owner is None:
        return Outcome.UNMAPPED
    previous = old if isinstance(old, PurchaseFact) else None
    if status == "failed" and previous is not None and previous.status != "pending":
        return Outcome.STALE  # a payment that succeeded cannot fail afterwards
    return [
        facts.purchase_fact(
            payment_intent,
            owner,
            price_id,
            amount=amount if isinstance(amount, int) else 0,
            currency=str(currency or ""),
            status=status,
            customer_id=obj.get("customer") if isinstance(obj.get("customer"), str) else None,
            event=event,
            old=previous,
        )
    ]


def _on_checkout(event: StripeEventEnvelope, ledger: BillingLedger) -> Plan:
    session = event.data_object
    if session.get("mode") != "payment":
        return Outcome.IGNORED  # subscriptions are followed through their own events
    status: facts.PurchaseStatus = "pending"
    if event.event_type == "checkout.session.async_payment_failed":
        status = "failed"
    elif session.get("payment_status") in ("paid", "no_payment_required"):
        status = "paid"
    return _purchase(
        event,
        ledger,
        payment_intent=session.get("payment_intent"),
        status=status,
        amount=session.get("amount_total"),
        currency=session.get("currency"),
    )


def _on_payment_intent(event: StripeEventEnvelope, ledger: BillingLedger) -> Plan:
    intent = event.data_object
    status: facts.PurchaseStatus = (
        "paid" if event.event_type == "payment_intent.succeeded" else "failed"
    )
    return _purchase(
        event,
        ledger,
        payment_intent=intent.get("id"),
        status=status,
        amount=intent.get("amount"),
        currency=intent.get("currency"),
    )


def _on_refund(event: StripeEventEnvelope, ledger: BillingLedger) -> Plan:
    """A refund of a purchase (by its payment intent) or of a subscription invoice (by the
    charge's ``invoice``, which only older API versions carry)."""
    charge = event.data_object
    for key in (charge.get("payment_intent"), charge.get("invoice")):
        old = ledger.fact(key) if isinstance(key, str) else None
        if isinstance(old, PurchaseFact):
            return [facts.refunded(event, old)]
        if isinstance(old, PaymentFact):
            return [facts.refunded(event, old)]
    return Outcome.UNKNOWN_OBJECT


HANDLERS: dict[str, Handler] = {
    "customer.subscription.created": _on_subscription,
    "customer.subscription.updated": _on_subscription,
    "customer.subscription.deleted": _on_subscription,
    "customer.subscription.paused": _on_subscription,
    "customer.subscription.resumed": _on_subscription,
    "invoice.payment_succeeded": _on_invoice,
    "invoice.paid": _on_invoice,
    "invoice.payment_failed": _on_invoice,
    "checkout.session.completed": _on_checkout,
    "checkout.session.async_payment_succeeded": _on_checkout,
    "checkout.session.async_payment_failed": _on_checkout,
    "payment_intent.succeeded": _on_payment_intent,
    "payment_intent.payment_failed": _on_payment_intent,
    "charge.refunded": _on_refund,
}


class OneAttempt:
    """The ledger for one planning attempt: each fact is read once however many rules ask
    (a retry after a refused commit starts a new attempt, so it reads afresh). ``known``
    seeds it with facts already read in a batch (reconciliation reads a page's at once)."""

    def __init__(self, ledger: BillingLedger, known: dict[str, Fact | None] | None = None) -> None:
        self._ledger = ledger
        self._facts: dict[str, Fact | None] = dict(known or {})

    def fact(self, stripe_id: str) -> Fact | None:
        if stripe_id not in self._facts:
            self._facts[stripe_id] = self._ledger.fact(stripe_id)
        return self._facts[stripe_id]

    def facts(self, stripe_ids: Iterable[str]) -> dict[str, Fact]:
        return {i: f for i in stripe_ids if (f := self.fact(i)) is not None}

    def is_processed(self, event_id: str) -> bool:
        return self._ledger.is_processed(event_id)

    def owner_of_customer(self, customer_id: str) -> Owner | None:
        return self._ledger.owner_of_customer(customer_id)

    def facts_of(self, owner: Owner) -> list[Fact]:
        return self._ledger.facts_of(owner)

    def entitlement_record(self, owner: Owner) -> tuple[list[EntitlementSource], int]:
        return self._ledger.entitlement_record(owner)

    def price_terms(self, price_ids: Iterable[str]) -> dict[str, PriceTerms]:
        return self._ledger.price_terms(price_ids)

    def grace_period_days(self, project_id: str) -> int:
        return self._ledger.grace_period_days(project_id)

    def commit(self, change: LedgerChange, now: datetime) -> bool:
        return self._ledger.commit(change, now)

    def record(self, event: StripeEventEnvelope, outcome: str, now: datetime) -> bool:
        return self._ledger.record(event, outcome, now)


def facts_shown(event: StripeEventEnvelope, ledger: BillingLedger) -> Plan:
    """The facts as this event shows them (whether or not they are newer than the stored
    ones), or why it shows none. Reconciliation compares these with what is stored."""
    handler = HANDLERS.get(event.event_type)
    if handler is None:
        return Outcome.UNHANDLED
    return handler(event, ledger)


def plan(event: StripeEventEnvelope, ledger: BillingLedger) -> Plan:
    """The new fact this event makes, or why it makes none."""
    planned = facts_shown(event, ledger)
    if isinstance(planned, Outcome):
        return planned
    fresh = [f for f in planned if facts.supersedes(f, ledger.fact(f.stripe_id))]
    return fresh or Outcome.STALE


def _price_ids(fact: Fact) -> tuple[str, ...]:
    if isinstance(fact, SubscriptionFact):
        return fact.price_ids
    return (fact.price_id,) if isinstance(fact, PurchaseFact) else ()


def ledger_change(
    event: StripeEventEnvelope,
    changed: list[Fact],
    ledger: BillingLedger,
    audit: Callable[[list[EntitlementSource], list[EntitlementSource]], list[AuditEntry]]
    | None = None,
) -> LedgerChange:
    """The facts, and the user's entitlement record rebuilt from all of their facts;
    ``audit`` turns the record's sources before and after into audit entries to write with
    them."""
    owner = changed[0].owner
    ids = {f.stripe_id for f in changed}
    all_facts = [*(f for f in ledger.facts_of(owner) if f.stripe_id not in ids), *changed]
    stored, record_version = ledger.entitlement_record(owner)
    sources = derive_sources(
        all_facts,
        ledger.price_terms({p for f in all_facts for p in _price_ids(f)}),
        ledger.grace_period_days(owner.project_id),
        manual=stored,
    )
    fact_changes = []
    for fact in changed:
        previous = ledger.fact(fact.stripe_id)
        fact_changes.append(FactChange(fact, previous.version if previous else None))
    entries = tuple(audit(stored, sources)) if audit else ()
    return LedgerChange(event, tuple(fact_changes), sources, record_version, entries)


def apply_event(raw_event: str, ledger: BillingLedger, now: datetime) -> Outcome:
    """Apply a queued event at most once. A body that is not a Stripe event raises
    ValidationError, so SQS retries it and it ends in the DLQ."""
    return apply_parsed(parse_event(raw_event), ledger, now)


def apply_parsed(event: StripeEventEnvelope, ledger: BillingLedger, now: datetime) -> Outcome:
    """:func:`apply_event` for an event already parsed (the consumer reads its id first)."""
    for _ in range(MAX_ATTEMPTS):
        if ledger.is_processed(event.event_id):
            return Outcome.DUPLICATE
        attempt = OneAttempt(ledger)
        planned = plan(event, attempt)
        if isinstance(planned, Outcome):
            return planned if ledger.record(event, planned, now) else Outcome.DUPLICATE
        if ledger.commit(ledger_change(event, planned, attempt), now):
            return Outcome.APPLIED
    raise DependencyUnavailableError(f"event {event.event_id}: concurrent changes, retry later")
