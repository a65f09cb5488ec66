"""Billing facts kept from Stripe's objects, and how each event changes them.

A fact is the service's own copy of one Stripe object (a subscription, or a one-time purchase
keyed by its payment intent) with the tenancy it belongs to and a version watermark: the
``created`` time of the newest event applied. Stripe delivers at least once and in any order,
so an event older than the watermark never wins, and on a tie the more final status wins.

Stripe's quirks, written down:
- periods live on subscription items (``items.data[].current_period_end``) since 2025-03-31;
  older payloads carry ``current_period_end`` on the subscription: both are read;
- an invoice names its subscription under ``parent.subscription_details.subscription`` (older:
  ``invoice.subscription``), and its period on ``lines.data[].period.end``;
- ``customer.subscription.deleted`` is a cancellation, whatever ``status`` says;
- an ``invoice.paid`` for a subscription that already ended never revives it;
- a subscription's own payment intents carry no checkout metadata: they are not purchases.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from billing.domain.stripe_events import StripeEventEnvelope

PurchaseStatus = Literal["pending", "paid", "failed", "refunded", "disputed"]
ENDED_STATUSES = frozenset({"canceled", "unpaid", "incomplete_expired"})
# On a tie of event times, the more final state wins (Stripe cannot go back from these).
_SUBSCRIPTION_RANK = {"incomplete": 0, "trialing": 1, "active": 1, "past_due": 2, "paused": 2}
_PURCHASE_RANK = {"pending": 0, "failed": 1, "paid": 2, "disputed": 3, "refunded": 4}


@dataclass(frozen=True)
class Owner:
    project_id: str
    user_id: str


@dataclass(frozen=True)
class SubscriptionFact:
    stripe_id: str
    owner: Owner
    customer_id: str | None
    status: str
    price_ids: tuple[str, ...]
    started_at: int
    period_end: int | None
    cancel_at_period_end: bool
    trial_end: int | None
    payment_failed_at: int | None
    version: int

    kind: Literal["subscription"] = "subscription"
    quantities: tuple[int, ...] = ()  # per price, in price_ids order
    ended_at: int | None = None

    @property
    def rank(self) -> int:
        return 9 if self.status in ENDED_STATUSES else _SUBSCRIPTION_RANK.get(self.status, 1)

    def quantity_of(self, index: int) -> int:
        return self.quantities[index] if index < len(self.quantities) else 1


@dataclass(frozen=True)
class PurchaseFact:
    stripe_id: str
    owner: Owner
    customer_id: str | None
    price_id: str
    amount: int
    currency: str
    status: PurchaseStatus
    paid_at: int | None
    amount_refunded: int
    version: int

    kind: Literal["purchase"] = "purchase"
    refunds: tuple[tuple[int, int], ...] = ()  # (when, amount) of each refund

    @property
    def rank(self) -> int:
        return _PURCHASE_RANK[self.status]


@dataclass(frozen=True)
class PaymentFact:
    """A paid subscription invoice: money in, for revenue (access follows the subscription)."""

    stripe_id: str  # the invoice
    owner: Owner
    subscription_id: str
    amount: int
    currency: str
    paid_at: int
    version: int

    kind: Literal["payment"] = "payment"
    amount_refunded: int = 0
    refunds: tuple[tuple[int, int], ...] = ()

    @property
    def rank(self) -> int:
        return 0


Fact = SubscriptionFact | PurchaseFact | PaymentFact


def supersedes(new: Fact, old: Fact | None) -> bool:
    """Whether ``new`` may replace ``old``: newer event, or the same second and not less final."""
    if old is None:
        return True
    if new.version != old.version:
        return new.version > old.version
    return new.rank >= old.rank


# ---------------------------------------------------------------------- reading Stripe objects
def _str(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])  # an expanded object
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def owner_from_metadata(metadata: Any) -> Owner | None:
    """The tenancy the service wrote into metadata at checkout, if present."""
    if not isinstance(metadata, dict):
        return None
    project_id, user_id = metadata.get("project_id"), metadata.get("user_id")
    if isinstance(project_id, str) and isinstance(user_id, str) and project_id and user_id:
        return Owner(project_id, user_id)
    return None


def subscription_items(
    subscription: dict[str, Any],
) -> tuple[tuple[str, ...], tuple[int, ...], int | None]:
    """Price ids, their quantities and the period end: from the items (current API) or the
    top level (older)."""
    items = (subscription.get("items") or {}).get("data") or []
    quantities: dict[str, int] = {}
    ends: list[int] = []
    for item in items:
        price_id = _str(item.get("price")) or _str(item.get("plan"))
        if price_id:
            quantities[price_id] = quantities.get(price_id, 0) + (_int(item.get("quantity")) or 1)
        end = _int(item.get("current_period_end"))
        if end is not None:
            ends.append(end)
    if not quantities:
        legacy = _str(subscription.get("plan"))
        if legacy:
            quantities[legacy] = _int(subscription.get("quantity")) or 1
    top = _int(subscription.get("current_period_end"))
    period_end = max(ends) if ends else top
    return tuple(quantities), tuple(quantities.values()), period_end


def invoice_subscription_id(invoice: dict[str, Any]) -> str | None:
    details = ((invoice.get("parent") or {}).get("subscription_details")) or {}
    return _str(details.get("subscription")) or _str(invoice.get("subscription"))


def invoice_period_end(invoice: dict[str, Any]) -> int | None:
    ends = [
        end
        for line in (invoice.get("lines") or {}).get("data") or []
        if (end := _int((line.get("period") or {}).get("end"))) is not None
    ]
    return max(ends) if ends else _int(invoice.get("period_end"))


def invoice_owner(invoice: dict[str, Any]) -> Owner | None:
    """The subscription's metadata as the invoice copies it (current API)."""
    details = ((invoice.get("parent") or {}).get("subscription_details")) or {}
    return owner_from_metadata(details.get("metadata"))


# ---------------------------------------------------------------------- events -> facts
def subscription_fact(
    event: StripeEventEnvelope, owner: Owner, old: SubscriptionFact | None
) -> SubscriptionFact:
    """The subscription as this event shows it, keeping what only earlier events knew."""
    sub = event.data_object
    prices, quantities, period_end = subscription_items(sub)
    status = str(sub.get("status") or "incomplete")
    if event.event_type == "customer.subscription.deleted":
        status = "canceled"
    ended_at = None
    if status in ENDED_STATUSES:
        ended_at = (old.ended_at if old else None) or _int(sub.get("ended_at")) or event.created
    failed_at = old.payment_failed_at if old else None
    if status == "past_due" and failed_at is None:
        failed_at = event.created  # the failed invoice's event may come later, or never
    if status in ("active", "trialing"):
        failed_at = None
    return SubscriptionFact(
        stripe_id=str(sub["id"]),
        owner=owner,
        customer_id=_str(sub.get("customer")),
        status=status,
        price_ids=prices or (old.price_ids if old else ()),
        quantities=quantities or (old.quantities if old else ()),
        ended_at=ended_at,
        started_at=_int(sub.get("start_date")) or _int(sub.get("created")) or event.created,
        period_end=period_end if period_end is not None else (old.period_end if old else None),
        cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
        trial_end=_int(sub.get("trial_end")),
        payment_failed_at=failed_at,
        version=event.created,
    )


def invoice_paid(event: StripeEventEnvelope, old: SubscriptionFact) -> SubscriptionFact:
    """A paid invoice extends the period, ends a payment failure, starts an ``incomplete``
    subscription (its first invoice) and ends a trial it pays past, unless the subscription
    has already ended (a late ``invoice.paid`` never revives access).

    Stripe says each of these in a ``customer.subscription.updated`` too, but that update can
    be older than the invoice's event by a second and come after it: it is then stale."""
    if old.status in ENDED_STATUSES:
        return replace(old, version=max(old.version, event.created))
    end = invoice_period_end(event.data_object)
    status = "active" if old.status in ("past_due", "incomplete") else old.status
    if status == "trialing" and end is not None and end > (old.trial_end or end):
        status = "active"  # the trial's end, whose update came an hour before this invoice
    return replace(
        old,
        status=status,
        period_end=max(filter(None, (old.period_end, end)), default=None),
        payment_failed_at=None,
        version=event.created,
    )


def first_collection_attempt(invoice: dict[str, Any], event_created: int) -> int:
    """When Stripe first tried to collect this invoice: at its finalization (automatic
    collection charges right away), so a retry's failure, even delivered before the first
    one's (which is then stale), dates the failure from the first attempt. Without a
    finalization time (or one after the event), the event's own time."""
    transitions = invoice.get("status_transitions")
    finalized = _int(transitions.get("finalized_at")) if isinstance(transitions, dict) else None
    return finalized if finalized is not None and finalized <= event_created else event_created


def invoice_failed(event: StripeEventEnvelope, old: SubscriptionFact) -> SubscriptionFact:
    """A failed renewal starts the grace period, from the first failure of this episode (the
    invoice's first attempt, or an earlier ``past_due`` already known), not each retry."""
    if old.status in ENDED_STATUSES:
        return replace(old, version=max(old.version, event.created))
    first = first_collection_attempt(event.data_object, event.created)
    failed_at = min(old.payment_failed_at or first, first)
    status = "past_due" if old.status in ("active", "trialing") else old.status
    return replace(old, status=status, payment_failed_at=failed_at, version=event.created)


def purchase_fact(
    payment_intent_id: str,
    owner: Owner,
    price_id: str,
    *,
    amount: int,
    currency: str,
    status: PurchaseStatus,
    customer_id: str | None,
    event: StripeEventEnvelope,
    old: PurchaseFact | None,
) -> PurchaseFact:
    paid_at = old.paid_at if old and old.paid_at else None
    if status == "paid" and paid_at is None:
        paid_at = event.created
    return PurchaseFact(
        stripe_id=payment_intent_id,
        owner=owner,
        customer_id=customer_id or (old.customer_id if old else None),
        price_id=price_id,
        amount=amount,
        currency=currency,
        status=status,
        paid_at=paid_at,
        amount_refunded=old.amount_refunded if old else 0,
        version=event.created,
    )


def invoice_payment(
    event: StripeEventEnvelope, owner: Owner, subscription_id: str
) -> PaymentFact | None:
    """The money a paid subscription invoice brought in (None for a zero invoice: a trial)."""
    invoice = event.data_object
    amount = _int(invoice.get("amount_paid")) or 0
    if amount <= 0:
        return None
    return PaymentFact(
        stripe_id=str(invoice["id"]),
        owner=owner,
        subscription_id=subscription_id,
        amount=amount,
        currency=str(invoice.get("currency") or ""),
        paid_at=event.created,
        version=event.created,
    )


def refunded[P: (PurchaseFact, PaymentFact)](event: StripeEventEnvelope, old: P) -> P:
    """Record a refund (each one, with its time, for revenue). A full refund ends a purchase's
    access; a partial one does not."""
    charge = event.data_object
    amount_refunded = max(_int(charge.get("amount_refunded")) or 0, old.amount_refunded)
    refund = amount_refunded - old.amount_refunded
    refunds = (*old.refunds, (event.created, refund)) if refund > 0 else old.refunds
    changed = replace(old, amount_refunded=amount_refunded, refunds=refunds, version=event.created)
    full = bool(charge.get("refunded")) or amount_refunded >= old.amount > 0
    if isinstance(changed, PurchaseFact) and changed.status == "pending" and charge.get("paid"):
        # Only a paid charge can be refunded: the payment's own events, older than this one,
        # would be stale once it is applied.
        paid_at = _int(charge.get("created")) or event.created
        changed = replace(changed, status="paid", paid_at=changed.paid_at or paid_at)
    if isinstance(changed, PurchaseFact) and full:
        return replace(changed, status="refunded")
    return changed
