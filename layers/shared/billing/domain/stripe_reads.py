"""Facts from Stripe's objects as read now: the truth when an event's payload cannot decide.

A read fact is versioned at the read (``read_at``, the second of Stripe's answer): every event
older than that second is already in what Stripe answered, so it is stale once the read is
applied; an event of the same second that says the same thing changes nothing, and one that
says something else is read again. Times the service keeps (when a payment was made, a
subscription started or ended) come from the objects themselves, never from the read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from billing.domain.billing_facts import (
    ENDED_STATUSES,
    Owner,
    PaymentFact,
    PaymentState,
    PurchaseFact,
    SubscriptionFact,
    disputes_from,
    first_collection_attempt,
    invoice_subscription_id,
    purchase_fact,
    subscription_fact,
    subscription_period_start,
    with_refunds,
)
from billing.domain.stripe_events import StripeEventEnvelope


@dataclass(frozen=True)
class StripeRead:
    """One object as Stripe answered, and the second of the answer (Stripe's own clock)."""

    obj: dict[str, Any]
    read_at: int


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def subscription_happened_at(sub: dict[str, Any]) -> int | None:
    """When the subscription's current state began: its end, or its current period's start
    (where a renewal that failed left it ``past_due``)."""
    if sub.get("status") in ENDED_STATUSES:
        ended = _int(sub.get("ended_at")) or _int(sub.get("canceled_at"))
        if ended:
            return ended
    return subscription_period_start(sub)


def as_event(
    event_type: str, obj: dict[str, Any], created: int, event_id: str
) -> StripeEventEnvelope:
    """A synthetic event carrying ``obj``, for the rules that read events."""
    return StripeEventEnvelope(
        event_id=event_id,
        event_type=event_type,
        created=created,
        livemode=bool(obj.get("livemode", False)),
        data_object=obj,
    )


def subscription_as_read(
    read: StripeRead, owner: Owner, old: SubscriptionFact | None
) -> SubscriptionFact:
    """The subscription as Stripe has it now (``latest_invoice`` expanded dates a payment
    failure from the failing invoice's first attempt)."""
    sub = read.obj
    happened = min(subscription_happened_at(sub) or read.read_at, read.read_at)
    event = as_event("customer.subscription.updated", sub, happened, "evt_read")
    fact = subscription_fact(event, owner, old)
    latest = sub.get("latest_invoice")
    known = old.payment_failed_at if old else None
    if fact.status == "past_due" and known is None and isinstance(latest, dict):
        # The failing invoice's first attempt dates the grace period, as its event would.
        fact = replace(fact, payment_failed_at=first_collection_attempt(latest, read.read_at))
    return replace(fact, version=read.read_at)


def payment_state(intent: dict[str, Any]) -> PaymentState:
    """``paid``, ``failed`` or ``pending``, from a payment intent's status."""
    status = intent.get("status")
    if status == "succeeded":
        return "paid"
    if status == "canceled" or (
        status == "requires_payment_method" and intent.get("last_payment_error")
    ):
        return "failed"
    return "pending"


def _charge(obj: dict[str, Any], name: str) -> dict[str, Any] | None:
    charge = obj.get(name)
    return charge if isinstance(charge, dict) else None


def purchase_as_read(
    read: StripeRead,
    disputes: list[dict[str, Any]],
    owner: Owner,
    old: PurchaseFact | None,
) -> PurchaseFact | None:
    """A Checkout purchase as its payment intent (``latest_charge`` expanded) and its
    disputes say it is now; None when the intent is not a purchase (no ``price_id``)."""
    intent = read.obj
    metadata = intent.get("metadata") if isinstance(intent.get("metadata"), dict) else {}
    price_id = metadata.get("price_id") if metadata else None
    if not isinstance(price_id, str) or not isinstance(intent.get("id"), str):
        return None
    charge = _charge(intent, "latest_charge")
    fact = purchase_fact(
        intent["id"],
        owner,
        price_id,
        amount=_int(intent.get("amount")) or 0,
        currency=str(intent.get("currency") or ""),
        payment=payment_state(intent),
        customer_id=intent.get("customer") if isinstance(intent.get("customer"), str) else None,
        at=read.read_at,  # paid by now; its success event dates it exactly
        old=old,
    )
    return _settled(fact, charge, disputes, read.read_at)


def payment_as_read(
    invoice: StripeRead,
    charge: dict[str, Any] | None,
    disputes: list[dict[str, Any]],
    owner: Owner,
    old: PaymentFact | None,
) -> PaymentFact | None:
    """A paid subscription invoice with its charge's refunds and its disputes; None for an
    invoice that is not a paid subscription invoice with money in it."""
    obj = invoice.obj
    subscription_id = invoice_subscription_id(obj)
    amount = _int(obj.get("amount_paid")) or 0
    if obj.get("status") != "paid" or subscription_id is None or amount <= 0:
        return None
    transitions = obj.get("status_transitions")
    paid_at = _int(transitions.get("paid_at")) if isinstance(transitions, dict) else None
    fact = PaymentFact(
        stripe_id=str(obj["id"]),
        owner=owner,
        subscription_id=subscription_id,
        amount=amount,
        currency=str(obj.get("currency") or ""),
        paid_at=min(paid_at or invoice.read_at, invoice.read_at),
        version=invoice.read_at,
    )
    if old is not None:
        fact = replace(
            fact, amount_refunded=old.amount_refunded, refunds=old.refunds, disputes=old.disputes
        )
    return _settled(fact, charge, disputes, invoice.read_at)


def _settled[M: (PurchaseFact, PaymentFact)](
    fact: M, charge: dict[str, Any] | None, disputes: list[dict[str, Any]], read_at: int
) -> M:
    if charge is not None:
        refunded = _int(charge.get("amount_refunded")) or 0
        fact = with_refunds(fact, refunded, read_at, charge)
    return replace(fact, disputes=disputes_from(disputes, fact.disputes, read_at), version=read_at)
