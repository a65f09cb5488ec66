"""The entitlement engine: apply one Stripe event, at most once, order-safe, in one transaction.

Dispatch is by event type through a small registry of per-object handlers; each returns the
new facts, or an outcome saying why nothing changes (the event is still recorded, so
reconciliation can find what could not be mapped).

Stripe is the truth. A payload decides only when it is newer than what is stored and names
everything it needs; otherwise the engine reads the object from Stripe (:class:`Attempt`'s
``read_*``) and applies that state, versioned at the read:
- two events of one object in the same second that say different things (status rank is no
  tie-breaker: an ``unpaid`` subscription paid again goes back to ``active``);
- an event about an object, or its parent, that is not stored yet (an invoice before its
  subscription, a refund before its purchase);
- an event whose payload is partial for the purpose (refunds and disputes: under the current
  API a charge names no invoice, and only Stripe's lists say how much is refunded or disputed
  now; a paying subscription naming discounts by ids the service does not know with their
  coupon: the metrics need what they take off).
When Stripe does not answer, the error propagates: the message goes back to SQS unmarked.

Costs: one ledger read (a BatchGetItem across tables: the processed mark, the facts, the
user's record, the project, the prices), sometimes a second when the payload names no owner,
and one TransactWriteItems; a duplicate costs the first read only. The user's record is
updated incrementally: only the sources of the facts that changed are derived again. A
subscription's changed state is appended to its status history in the same transaction
(billing.domain.status_history).

A concurrent change to the same fact or record makes the transaction fail its conditions: the
event is planned again from fresh reads, and after a few tries left to SQS to retry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from billing.domain import billing_facts as facts
from billing.domain import stripe_reads as reads
from billing.domain.billing_facts import (
    Fact,
    Owner,
    PaymentFact,
    PurchaseFact,
    SubscriptionFact,
)
from billing.domain.entitlement_rules import PriceAnomaly, PriceTerms, derive_sources
from billing.domain.entitlements import EntitlementSource
from billing.domain.grants import AuditEntry
from billing.domain.ledger import FactChange, LedgerChange
from billing.domain.status_history import StatusEntry, effective_at, entries_for
from billing.domain.stripe_events import StripeEventEnvelope, parse_event
from billing.domain.stripe_shapes import event_time_problem, object_problem
from billing.domain.tenancy import DEFAULT_GRACE_PERIOD_DAYS
from billing.errors import DependencyUnavailableError
from billing.ports.ledger import BillingLedger, StripeReader

MAX_ATTEMPTS = 4


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"  # older than what was applied to that object
    UNCHANGED = "unchanged"  # the same second as what was applied, saying the same
    UNMAPPED = "unmapped"  # no project/user known for it: left to reconciliation
    UNKNOWN_OBJECT = "unknown_object"  # about an object neither the service nor Stripe knows
    IGNORED = "ignored"  # handled type, nothing for entitlements in it
    MALFORMED = "malformed"  # signed, but its object is not in Stripe's shape: nothing read
    UNHANDLED = "unhandled"  # a type the service does not handle


Plan = list[Fact] | Outcome
# How to reach Stripe, called on the first read only: most events need none, and a function
# that never reads Stripe never pays for the stripe SDK's import.
StripeAccess = Callable[[], StripeReader]


@dataclass
class Tally:
    """What applying events cost and found, for metrics and benchmarks."""

    stripe_reads: int = 0
    anomalies: list[PriceAnomaly] = field(default_factory=list)
    malformed: tuple[str, str] | None = None  # the field of a malformed object, and why


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class Attempt:
    """The ledger and Stripe for one planning attempt: each fact, record and price is read
    once however many rules ask, in as few round trips as the ledger allows (a retry after a
    refused commit starts a new attempt, so it reads afresh). ``known`` and ``prices`` seed it
    with facts and price terms already read (reconciliation reads a page's at once), and
    ``unrecorded`` with those of the known facts stored before the status history began."""

    def __init__(
        self,
        ledger: BillingLedger,
        stripe: StripeAccess | None = None,
        tally: Tally | None = None,
        known: dict[str, Fact | None] | None = None,
        prices: dict[str, PriceTerms | None] | None = None,
        *,
        unrecorded: Iterable[str] = (),
    ) -> None:
        self._ledger = ledger
        self._stripe_access = stripe
        self._stripe: StripeReader | None = None
        self.tally = tally or Tally()
        self._facts: dict[str, Fact | None] = dict(known or {})
        self._records: dict[Owner, tuple[list[EntitlementSource], int, int]] = {}
        self._prices: dict[str, PriceTerms | None] = dict(prices or {})
        self.unrecorded: set[str] = set(unrecorded)  # stored facts with no status history yet
        self.read_ids: set[str] = set()  # facts read from Stripe in this attempt
        self.began: dict[str, int] = {}  # when each subscription read's state began

    # ------------------------------------------------------------------ the ledger
    def prefetch(
        self,
        *,
        event_id: str | None = None,
        fact_ids: Iterable[str] = (),
        owner: Owner | None = None,
        price_ids: Iterable[str] = (),
    ) -> bool:
        """Read what is not known yet in one round trip; whether the event is processed."""
        ids = sorted({i for i in fact_ids if i not in self._facts})
        prices = sorted({p for p in price_ids if p not in self._prices})
        owner = owner if owner is not None and owner not in self._records else None
        if event_id is None and not ids and not prices and owner is None:
            return False
        state = self._ledger.read(event_id=event_id, fact_ids=ids, owner=owner, price_ids=prices)
        for stripe_id in ids:
            self._facts[stripe_id] = state.facts.get(stripe_id)
        self.unrecorded.update(state.unrecorded)
        for price_id in prices:
            self._prices[price_id] = state.prices.get(price_id)
        if owner is not None and state.record is not None:
            grace = state.grace_days if state.grace_days is not None else DEFAULT_GRACE_PERIOD_DAYS
            self._records[owner] = (*state.record, grace)
        return state.processed

    def fact(self, stripe_id: str) -> Fact | None:
        if stripe_id not in self._facts:
            self.prefetch(fact_ids=(stripe_id,))
        return self._facts[stripe_id]

    def subscription(self, stripe_id: str) -> SubscriptionFact | None:
        found = self.fact(stripe_id)
        return found if isinstance(found, SubscriptionFact) else None

    def owner_of_customer(self, customer_id: str) -> Owner | None:
        return self._ledger.owner_of_customer(customer_id)

    def owner(self, metadata: Any, customer: Any) -> Owner | None:
        """The owner the service wrote into metadata, else the customer's."""
        found = facts.owner_from_metadata(metadata)
        if found is None and isinstance(customer, str):
            found = self.owner_of_customer(customer)
        return found

    def record_of(self, owner: Owner) -> tuple[list[EntitlementSource], int, int]:
        """The (project, user) record's sources and version, and the project's grace days."""
        if owner not in self._records:
            self.prefetch(owner=owner)
        return self._records[owner]

    def terms(self, price_ids: Iterable[str]) -> dict[str, PriceTerms]:
        wanted = set(price_ids)
        self.prefetch(price_ids=wanted)
        return {p: t for p in wanted if (t := self._prices.get(p)) is not None}

    # ------------------------------------------------------------------ Stripe, the truth
    def _reader(self) -> StripeReader | None:
        """Stripe, counted once per read of an object and what it needs."""
        if self._stripe_access is None:
            return None
        if self._stripe is None:
            self._stripe = self._stripe_access()
        self.tally.stripe_reads += 1
        return self._stripe

    def read_subscription(self, subscription_id: str, owner: Owner | None) -> Plan:
        """The subscription as Stripe has it now."""
        stripe = self._reader()
        if stripe is None:
            return Outcome.UNKNOWN_OBJECT
        read = stripe.subscription(subscription_id)
        if read is None:
            return Outcome.UNKNOWN_OBJECT
        old = self.subscription(subscription_id)
        owner = (
            (old.owner if old else None)
            or self.owner(read.obj.get("metadata"), read.obj.get("customer"))
            or owner
        )
        if owner is None:
            return Outcome.UNMAPPED
        self.read_ids.add(subscription_id)
        began = reads.subscription_began_at(read.obj)
        if began is not None:
            self.began[subscription_id] = began
        return [reads.subscription_as_read(read, owner, old)]

    def with_discounts(self, fact: SubscriptionFact, event: StripeEventEnvelope) -> Plan:
        """``fact``, or Stripe's subscription when ``fact`` pays and names a discount whose
        coupon is not known (a payload carries discount ids only). A trial, a canceled
        subscription or an event older than the stored fact needs no read: nothing it says
        counts in the metrics, or it is stale anyway; when Stripe cannot be read, the
        payload's fact (its unknown discounts take nothing off until a read)."""
        if fact.status not in PAYING_STATUSES or facts.discounts_known(fact):
            return [fact]
        old = self.subscription(fact.stripe_id)
        if old is not None and event.created < old.version:
            return [fact]
        read = self.read_subscription(fact.stripe_id, fact.owner)
        return read if isinstance(read, list) else [fact]

    def read_payment(self, payment_intent_id: str | None, charge_id: str | None = None) -> Plan:
        """A payment as Stripe has it now, refunds and disputes included: a Checkout
        purchase (by its payment intent), or a subscription invoice (through Stripe's invoice
        payments), with the subscription too when it is not stored yet."""
        stripe = self._reader()
        if stripe is None:
            return Outcome.UNKNOWN_OBJECT
        if payment_intent_id is None and charge_id is not None:
            charge_read = stripe.charge(charge_id)
            payment_intent_id = _str(charge_read.obj.get("payment_intent")) if charge_read else None
        intent = stripe.payment_intent(payment_intent_id) if payment_intent_id else None
        if payment_intent_id is None or intent is None:
            # No payment intent: not a Checkout payment. No such intent: nothing to apply.
            return Outcome.IGNORED if payment_intent_id is None else Outcome.UNKNOWN_OBJECT
        charge_obj = intent.obj.get("latest_charge")
        charge = charge_obj if isinstance(charge_obj, dict) else None
        disputes = stripe.disputes(payment_intent_id) if charge and charge.get("disputed") else []
        purchase = self._purchase_as_read(intent, disputes)
        if purchase is not None:
            return purchase
        invoice_id = stripe.invoice_of_payment(payment_intent_id)
        if invoice_id is None:
            return Outcome.IGNORED  # neither a purchase nor a subscription's payment
        return self._read_invoice_payment(stripe, invoice_id, charge, disputes)

    def _purchase_as_read(
        self, intent: reads.StripeRead, disputes: list[dict[str, Any]]
    ) -> Plan | None:
        """The Checkout purchase this payment intent is, or None when it is none."""
        old = self.fact(str(intent.obj["id"]))
        previous = old if isinstance(old, PurchaseFact) else None
        metadata = intent.obj.get("metadata")
        if facts.owner_from_metadata(metadata) is None and previous is None:
            return None
        owner = (previous.owner if previous else None) or self.owner(
            metadata, intent.obj.get("customer")
        )
        if owner is None:
            return Outcome.UNMAPPED
        purchase = reads.purchase_as_read(intent, disputes, owner, previous)
        if purchase is None:
            return None
        self.read_ids.add(purchase.stripe_id)
        return [purchase]

    def _read_invoice_payment(
        self,
        stripe: StripeReader,
        invoice_id: str,
        charge: dict[str, Any] | None,
        disputes: list[dict[str, Any]],
    ) -> Plan:
        invoice = stripe.invoice(invoice_id)
        subscription_id = facts.invoice_subscription_id(invoice.obj) if invoice else None
        if invoice is None or subscription_id is None:
            return Outcome.IGNORED
        old = self.fact(invoice_id)
        sub = self.subscription(subscription_id)
        owner = (
            (old.owner if old else None)
            or (sub.owner if sub else None)
            or facts.invoice_owner(invoice.obj)
            or self.owner(None, invoice.obj.get("customer"))
        )
        if owner is None:
            return Outcome.UNMAPPED
        payment = reads.payment_as_read(
            invoice, charge, disputes, owner, old if isinstance(old, PaymentFact) else None
        )
        planned: list[Fact] = []
        if payment is not None:
            self.read_ids.add(payment.stripe_id)
            planned.append(payment)
        if sub is None:
            parent = self.read_subscription(subscription_id, owner)
            if isinstance(parent, list):
                planned.extend(parent)
        return planned or Outcome.IGNORED

    def read_again(self, fact: Fact) -> Plan:
        """The fact's object read from Stripe (on a tie the payload could not decide)."""
        if isinstance(fact, SubscriptionFact):
            return self.read_subscription(fact.stripe_id, fact.owner)
        if isinstance(fact, PurchaseFact):
            if not fact.stripe_id.startswith("pi_"):
                return Outcome.STALE  # a free purchase has nothing that can change
            return self.read_payment(fact.stripe_id)
        stripe = self._reader()
        invoice = stripe.invoice(fact.stripe_id) if stripe else None
        paid_by = _invoice_payment_intent(invoice.obj) if invoice else None
        return self.read_payment(paid_by) if paid_by else Outcome.STALE


# The statuses in which a subscription pays (the metrics' MRR counts their discounts).
PAYING_STATUSES = frozenset({"active", "past_due"})


def _invoice_payment_intent(invoice: dict[str, Any]) -> str | None:
    """The payment intent that paid an invoice (its ``payments``, as the reader expands)."""
    payments = invoice.get("payments")
    for payment in (payments.get("data") if isinstance(payments, dict) else None) or []:
        paid_by = (payment.get("payment") or {}).get("payment_intent")
        found = _str(paid_by) or (_str(paid_by.get("id")) if isinstance(paid_by, dict) else None)
        if payment.get("status") == "paid" and found:
            return found
    return None


# ---------------------------------------------------------------------- handlers
Handler = Callable[[StripeEventEnvelope, Attempt], Plan]


def _on_subscription(event: StripeEventEnvelope, at: Attempt) -> Plan:
    sub = event.data_object
    sub_id = _str(sub.get("id"))
    if sub_id is None:
        return Outcome.IGNORED
    old = at.subscription(sub_id)
    owner = (old.owner if old else None) or at.owner(sub.get("metadata"), sub.get("customer"))
    if owner is None:
        return Outcome.UNMAPPED
    return at.with_discounts(facts.subscription_fact(event, owner, old), event)


def _on_invoice(event: StripeEventEnvelope, at: Attempt) -> Plan:
    invoice = event.data_object
    subscription_id = facts.invoice_subscription_id(invoice)
    if subscription_id is None:
        return Outcome.IGNORED  # a one-off invoice: no subscription to extend
    old = at.subscription(subscription_id)
    paid = event.event_type != "invoice.payment_failed"
    planned: list[Fact]
    if old is None or (paid and old.status == "unpaid"):
        # The parent is not stored yet, or only Stripe can say whether this payment revived
        # an unpaid subscription: read it (it shows what this invoice did to it).
        owner = facts.invoice_owner(invoice) or at.owner(None, invoice.get("customer"))
        read = at.read_subscription(subscription_id, owner)
        if isinstance(read, Outcome):
            return read
        planned = read
    else:
        changed = facts.invoice_paid(event, old) if paid else facts.invoice_failed(event, old)
        with_discounts = at.with_discounts(changed, event)  # a trial's end it paid past
        if isinstance(with_discounts, Outcome):
            return with_discounts
        planned = with_discounts
    owner = planned[0].owner
    payment = facts.invoice_payment(event, owner, subscription_id) if paid else None
    return [*planned, *([payment] if payment else [])]


def _purchase(
    event: StripeEventEnvelope,
    at: Attempt,
    *,
    stripe_id: Any,
    payment: facts.PaymentState,
    amount: Any,
    currency: Any,
) -> Plan:
    obj = event.data_object
    metadata = obj.get("metadata") or {}
    price_id = metadata.get("price_id") if isinstance(metadata, dict) else None
    if not isinstance(stripe_id, str) or not isinstance(price_id, str):
        return Outcome.IGNORED  # not a checkout purchase (e.g. a subscription's payment)
    old = at.fact(stripe_id)
    previous = old if isinstance(old, PurchaseFact) else None
    owner = (previous.owner if previous else None) or at.owner(metadata, obj.get("customer"))
    if owner is None:
        return Outcome.UNMAPPED
    if payment == "failed" and previous is not None and previous.payment != "pending":
        return Outcome.STALE  # a payment that succeeded cannot fail afterwards
    return [
        facts.purchase_fact(
            stripe_id,
            owner,
            price_id,
            amount=amount if isinstance(amount, int) else 0,
            currency=str(currency or ""),
            payment=payment,
            customer_id=_str(obj.get("customer")),
            at=event.created,
            old=previous,
        )
    ]


def _on_checkout(event: StripeEventEnvelope, at: Attempt) -> Plan:
    session = event.data_object
    if session.get("mode") != "payment" or event.event_type == "checkout.session.expired":
        return Outcome.IGNORED  # subscriptions are followed through their own events
    payment: facts.PaymentState = "pending"
    if event.event_type == "checkout.session.async_payment_failed":
        payment = "failed"
    elif session.get("payment_status") in ("paid", "no_payment_required"):
        payment = "paid"
    # A free checkout (100 % off) has no payment intent: the session is the purchase.
    free = session.get("payment_intent") is None and session.get("payment_status") == (
        "no_payment_required"
    )
    return _purchase(
        event,
        at,
        stripe_id=session.get("id") if free else session.get("payment_intent"),
        payment=payment,
        amount=session.get("amount_total"),
        currency=session.get("currency"),
    )


def _on_payment_intent(event: StripeEventEnvelope, at: Attempt) -> Plan:
    intent = event.data_object
    return _purchase(
        event,
        at,
        stripe_id=intent.get("id"),
        payment="paid" if event.event_type == "payment_intent.succeeded" else "failed",
        amount=intent.get("amount"),
        currency=intent.get("currency"),
    )


def _on_charge_refunded(event: StripeEventEnvelope, at: Attempt) -> Plan:
    """A charge of a stored purchase says how much is refunded now; the charge of an
    invoice names it only in older API versions. Anything else (a purchase not stored yet, a
    subscription invoice's charge) is read from Stripe."""
    charge = event.data_object
    for key in (_str(charge.get("payment_intent")), _str(charge.get("invoice"))):
        old = at.fact(key) if key else None
        if isinstance(old, PurchaseFact):
            return [facts.refunded(event, old)]
        if isinstance(old, PaymentFact):
            return [facts.refunded(event, old)]
    return at.read_payment(_str(charge.get("payment_intent")), _str(charge.get("id")))


def _on_refund_or_dispute(event: StripeEventEnvelope, at: Attempt) -> Plan:
    """A refund object (``refund.*``: one refund, not the charge's total) or a dispute
    (``charge.dispute.*``): partial for the purpose, so the payment is read from Stripe."""
    obj = event.data_object
    return at.read_payment(_str(obj.get("payment_intent")), _str(obj.get("charge")))


def _recorded(event: StripeEventEnvelope, at: Attempt) -> Plan:
    """Handled, and recorded: nothing in it changes access."""
    return Outcome.IGNORED


HANDLERS: dict[str, Handler] = {
    "customer.subscription.created": _on_subscription,
    "customer.subscription.updated": _on_subscription,
    "customer.subscription.deleted": _on_subscription,
    "customer.subscription.paused": _on_subscription,
    "customer.subscription.resumed": _on_subscription,
    "customer.subscription.trial_will_end": _recorded,
    "invoice.payment_succeeded": _on_invoice,
    "invoice.paid": _on_invoice,
    "invoice.payment_failed": _on_invoice,
    "invoice.payment_action_required": _recorded,
    "checkout.session.completed": _on_checkout,
    "checkout.session.async_payment_succeeded": _on_checkout,
    "checkout.session.async_payment_failed": _on_checkout,
    "checkout.session.expired": _on_checkout,
    "payment_intent.succeeded": _on_payment_intent,
    "payment_intent.payment_failed": _on_payment_intent,
    "charge.refunded": _on_charge_refunded,
    "refund.created": _on_refund_or_dispute,
    "refund.updated": _on_refund_or_dispute,
    "refund.failed": _on_refund_or_dispute,
    "charge.dispute.created": _on_refund_or_dispute,
    "charge.dispute.updated": _on_refund_or_dispute,
    "charge.dispute.closed": _on_refund_or_dispute,
    "charge.dispute.funds_withdrawn": _on_refund_or_dispute,
    "charge.dispute.funds_reinstated": _on_refund_or_dispute,
}


def payload_keys(event: StripeEventEnvelope) -> dict[str, Any]:
    """What the payload names, to read with the processed mark in one round trip: the ids
    facts may be stored under, the owner in its metadata, the prices it bills."""
    obj = event.data_object
    metadata = obj.get("metadata")
    ids = {
        _str(obj.get("id")),
        _str(obj.get("payment_intent")),
        _str(obj.get("invoice")),
        facts.invoice_subscription_id(obj),
    }
    prices = {*facts.subscription_items(obj)[0], *facts.invoice_price_ids(obj)}
    if isinstance(metadata, dict) and _str(metadata.get("price_id")):
        prices.add(metadata["price_id"])
    return {
        "fact_ids": {i for i in ids if i},
        "owner": facts.owner_from_metadata(metadata) or facts.invoice_owner(obj),
        "price_ids": prices,
    }


def facts_shown(event: StripeEventEnvelope, at: Attempt) -> Plan:
    """The facts as this event shows them (whether or not they are newer than the stored
    ones), or why it shows none. Reconciliation compares these with what is stored."""
    handler = HANDLERS.get(event.event_type)
    if handler is None:
        return Outcome.UNHANDLED
    return handler(event, at)


def _newer(candidate: Fact, stored: Fact | None, from_stripe: bool) -> bool:
    if stored is None:
        return True
    if from_stripe:  # Stripe's answer holds from its read on
        return candidate.version >= stored.version and not (
            candidate.version == stored.version and facts.same_state(candidate, stored)
        )
    return candidate.version > stored.version


def plan(event: StripeEventEnvelope, at: Attempt, *, dated: bool = True) -> Plan:
    """The new facts this event makes, or why it makes none. A payload that ties with the
    stored fact and says something else cannot decide: the object is read from Stripe. So is
    every object of an event whose date Stripe cannot have given (``dated`` False: in the
    future, or before 2011), since its date would be its version: one from 2100 would outrank
    every real event after it."""
    planned = facts_shown(event, at)
    if isinstance(planned, Outcome):
        return planned
    return _newer_than_stored(planned, at) if dated else _as_stripe_says(planned, at)


def _newer_than_stored(planned: list[Fact], at: Attempt) -> Plan:
    """The payload's facts that are newer than what is stored (a tie that says something else
    read from Stripe), or why none."""
    fresh: dict[str, Fact] = {}
    unchanged = False
    for candidate in planned:
        stored = at.fact(candidate.stripe_id)
        from_stripe = candidate.stripe_id in at.read_ids
        if _newer(candidate, stored, from_stripe):
            fresh[candidate.stripe_id] = candidate
            continue
        dated = facts.earlier_payment(candidate, stored)
        if dated is not None:
            fresh[candidate.stripe_id] = dated
            continue
        tie = stored is not None and candidate.version == stored.version
        if stored is not None and tie and facts.same_state(candidate, stored):
            unchanged = True
            continue
        if stored is None or from_stripe or not tie:
            continue  # stale
        truth = at.read_again(candidate)
        for read in truth if isinstance(truth, list) else []:
            if _newer(read, at.fact(read.stripe_id), from_stripe=True):
                fresh[read.stripe_id] = read
    if fresh:
        return list(fresh.values())
    return Outcome.UNCHANGED if unchanged else Outcome.STALE


def _as_stripe_says(planned: list[Fact], at: Attempt) -> Plan:
    """The payload's facts as Stripe says them now (each read, unless this event was already
    answered from Stripe): those newer than what is stored, or why none."""
    fresh: dict[str, Fact] = {}
    for candidate in planned:
        truth = [candidate] if candidate.stripe_id in at.read_ids else at.read_again(candidate)
        if isinstance(truth, Outcome):
            return truth
        for read in truth:
            if _newer(read, at.fact(read.stripe_id), from_stripe=True):
                fresh[read.stripe_id] = read
    return list(fresh.values()) if fresh else Outcome.STALE


def _price_ids(fact: Fact) -> tuple[str, ...]:
    if isinstance(fact, SubscriptionFact):
        return fact.price_ids
    return (fact.price_id,) if isinstance(fact, PurchaseFact) else ()


def ledger_change(
    event: StripeEventEnvelope,
    changed: list[Fact],
    at: Attempt,
    audit: Callable[[list[EntitlementSource], list[EntitlementSource]], list[AuditEntry]]
    | None = None,
) -> tuple[LedgerChange, list[PriceAnomaly]]:
    """The facts, and the user's entitlement record with the sources of these facts derived
    again (the others kept as stored); ``audit`` turns the record's sources before and after
    into audit entries to write with them. Also the price anomalies found."""
    owner = changed[0].owner
    stored, record_version, grace_days = at.record_of(owner)
    ids = {f.stripe_id for f in changed}
    derived = derive_sources(
        changed,
        at.terms({p for f in changed for p in _price_ids(f)}),
        grace_days,
        kept=[s for s in stored if s.source_id not in ids],
    )
    fact_changes = []
    history: list[StatusEntry] = []
    for fact in changed:
        previous = at.fact(fact.stripe_id)
        fact_changes.append(FactChange(fact, previous.version if previous else None))
        history.extend(_history(event, fact, previous, at))
    entries = tuple(audit(stored, derived.sources)) if audit else ()
    change = LedgerChange(
        event, tuple(fact_changes), derived.sources, record_version, entries, tuple(history)
    )
    return change, derived.anomalies


def _history(
    event: StripeEventEnvelope, fact: Fact, previous: Fact | None, at: Attempt
) -> tuple[StatusEntry, ...]:
    """The status history entries a fact's change appends (subscriptions only)."""
    if not isinstance(fact, SubscriptionFact):
        return ()
    obj = event.data_object
    about = fact.stripe_id in (_str(obj.get("id")), facts.invoice_subscription_id(obj))
    effective = effective_at(
        fact,
        previous,
        event_created=event.created if about else None,
        began=at.began.get(fact.stripe_id) if fact.stripe_id in at.read_ids else None,
    )
    return entries_for(
        fact,
        previous,
        effective=effective,
        cause=event.event_id,
        previous_recorded=fact.stripe_id not in at.unrecorded,
    )


def apply_event(
    raw_event: str,
    ledger: BillingLedger,
    now: datetime,
    stripe: StripeAccess | None = None,
    tally: Tally | None = None,
) -> Outcome:
    """Apply a queued event at most once. A body that is not a Stripe event raises
    ValidationError, so SQS retries it and it ends in the DLQ."""
    return apply_parsed(parse_event(raw_event), ledger, now, stripe, tally)


def apply_parsed(
    event: StripeEventEnvelope,
    ledger: BillingLedger,
    now: datetime,
    stripe: StripeAccess | None = None,
    tally: Tally | None = None,
) -> Outcome:
    """:func:`apply_event` for an event already parsed (the consumer reads its id first).
    ``stripe`` is where the engine asks when a payload cannot decide (without it, such an
    event is recorded ``unknown_object``, as before the engine asked)."""
    tally = tally if tally is not None else Tally()
    if event.event_type not in HANDLERS:
        outcome = Outcome.UNHANDLED
        return outcome if ledger.record(event, outcome, now) else Outcome.DUPLICATE
    tally.malformed = object_problem(event.event_type, event.data_object)
    if tally.malformed is not None:
        # Retrying cannot change a payload: recorded once, nothing read from it or granted.
        outcome = Outcome.MALFORMED
        return outcome if ledger.record(event, outcome, now) else Outcome.DUPLICATE
    keys = payload_keys(event)
    dated = event_time_problem(event.created, int(now.timestamp())) is None
    for _ in range(MAX_ATTEMPTS):
        at = Attempt(ledger, stripe, tally)
        if at.prefetch(event_id=event.event_id, **keys):
            return Outcome.DUPLICATE
        planned = plan(event, at, dated=dated)
        if isinstance(planned, Outcome):
            return planned if ledger.record(event, planned, now) else Outcome.DUPLICATE
        change, anomalies = ledger_change(event, planned, at)
        if ledger.commit(change, now):
            tally.anomalies.extend(anomalies)
            return Outcome.APPLIED
    raise DependencyUnavailableError(f"event {event.event_id}: concurrent changes, retry later")
