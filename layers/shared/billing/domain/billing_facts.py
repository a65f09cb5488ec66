"""Billing facts kept from Stripe's objects, and how each event changes them.

A fact is the service's own copy of one Stripe object (a subscription, a one-time purchase keyed
by its payment intent, or a paid subscription invoice) with the tenancy it belongs to and a
version watermark: the ``created`` time of the newest event applied, or the moment Stripe was
read (:mod:`billing.domain.stripe_reads`). Stripe delivers at least once and in any order, so an
event older than the watermark never wins. When an event ties with the watermark and says
something else, the payload cannot decide: the engine reads the object from Stripe instead.

Stripe's quirks, written down:
- periods live on subscription items (``items.data[].current_period_end``) since 2025-03-31;
  older payloads carry ``current_period_end`` on the subscription: both are read;
- an invoice names its subscription under ``parent.subscription_details.subscription`` (older:
  ``invoice.subscription``), and its period on ``lines.data[].period.end``;
- ``customer.subscription.deleted`` is a cancellation, whatever ``status`` says;
- ``canceled`` and ``incomplete_expired`` are final; ``unpaid`` is not: paying its latest
  invoice makes the subscription ``active`` again;
- an ``invoice.paid`` for a subscription that already ended never revives it;
- a subscription's own payment intents carry no checkout metadata: they are not purchases, and
  under the current API neither they nor their charges name the invoice (Stripe's invoice
  payments link them);
- a 100 %-off one-time Checkout has no payment intent (``payment_status:
  no_payment_required``): the purchase is keyed by the Checkout Session.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from billing.domain.stripe_events import StripeEventEnvelope

PaymentState = Literal["pending", "paid", "failed"]
# Not in force (and counted as ended by the metrics while they last).
ENDED_STATUSES = frozenset({"canceled", "unpaid", "incomplete_expired"})
# Stripe never moves a subscription out of these.
FINAL_STATUSES = frozenset({"canceled", "incomplete_expired"})
# A dispute whose funds Stripe has withdrawn and whose outcome is not known yet. Inquiries
# (``warning_*``) withdraw nothing: they are recorded and suspend nothing.
DISPUTE_OPEN = frozenset(
    {"needs_response", "under_review", "appeal_needs_response", "appeal_under_review"}
)
DISPUTE_LOST = "lost"


@dataclass(frozen=True)
class Owner:
    project_id: str
    user_id: str


@dataclass(frozen=True)
class Dispute:
    """One dispute (chargeback) of a payment, as Stripe last said it was."""

    dispute_id: str
    status: str
    amount: int
    opened_at: int
    closed_at: int | None = None  # when the service first learnt the outcome (won or lost)

    @property
    def withdraws_funds(self) -> bool:
        return not self.status.startswith("warning_")


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
    cancel_at: int | None = None  # Stripe's ``cancel_at``: access ends then
    period_start: int | None = None  # the current period's start (usage resets with it)

    def quantity_of(self, index: int) -> int:
        return self.quantities[index] if index < len(self.quantities) else 1


@dataclass(frozen=True)
class PurchaseFact:
    """A one-time purchase through Checkout, keyed by its payment intent (or, for a free
    checkout, by the session)."""

    stripe_id: str
    owner: Owner
    customer_id: str | None
    price_id: str
    amount: int
    currency: str
    payment: PaymentState
    paid_at: int | None
    version: int

    kind: Literal["purchase"] = "purchase"
    amount_refunded: int = 0
    refunds: tuple[tuple[int, int], ...] = ()  # (when, amount) of each change; a failure < 0
    disputes: tuple[Dispute, ...] = ()

    @property
    def status(self) -> str:
        """What the purchase is worth now: ``paid`` grants access, nothing else does."""
        if self.payment != "paid":
            return self.payment
        if self.amount > 0 and self.amount_refunded >= self.amount:
            return "refunded"
        if any(d.status == DISPUTE_LOST for d in self.disputes):
            return "dispute_lost"
        if any(d.status in DISPUTE_OPEN for d in self.disputes):
            return "disputed"
        return "paid"


@dataclass(frozen=True)
class PaymentFact:
    """A paid subscription invoice: money in, for revenue (access follows the subscription).
    Its refunds and disputes are recorded here and counted; they change no access."""

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
    disputes: tuple[Dispute, ...] = ()


Fact = SubscriptionFact | PurchaseFact | PaymentFact
MoneyFact = PurchaseFact | PaymentFact


def same_state(a: Fact, b: Fact) -> bool:
    """Whether two facts say the same thing, whatever their versions."""
    return replace(a, version=0) == replace(b, version=0)


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


def subscription_period_start(subscription: dict[str, Any]) -> int | None:
    """The current period's start: from the items (current API) or the top level (older)."""
    starts = [
        start
        for item in (subscription.get("items") or {}).get("data") or []
        if (start := _int(item.get("current_period_start"))) is not None
    ]
    return max(starts, default=None) or _int(subscription.get("current_period_start"))


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


def invoice_period_start(invoice: dict[str, Any]) -> int | None:
    starts = [
        start
        for line in (invoice.get("lines") or {}).get("data") or []
        if (start := _int((line.get("period") or {}).get("start"))) is not None
    ]
    return max(starts) if starts else _int(invoice.get("period_start"))


def invoice_price_ids(invoice: dict[str, Any]) -> tuple[str, ...]:
    """The prices an invoice bills (current API: ``pricing.price_details.price``; older:
    ``price``), so their terms can be read with everything else."""
    found: dict[str, None] = {}
    for line in (invoice.get("lines") or {}).get("data") or []:
        details = (line.get("pricing") or {}).get("price_details") or {}
        price_id = _str(details.get("price")) or _str(line.get("price"))
        if price_id:
            found[price_id] = None
    return tuple(found)


def invoice_owner(invoice: dict[str, Any]) -> Owner | None:
    """The subscription's metadata as the invoice copies it (current API)."""
    details = ((invoice.get("parent") or {}).get("subscription_details")) or {}
    return owner_from_metadata(details.get("metadata"))


def first_collection_attempt(invoice: dict[str, Any], event_created: int) -> int:
    """When Stripe first tried to collect this invoice: at its finalization (automatic
    collection charges right away), so a retry's failure, even delivered before the first
    one's (which is then stale), dates the failure from the first attempt. Without a
    finalization time (or one after the event), the event's own time."""
    transitions = invoice.get("status_transitions")
    finalized = _int(transitions.get("finalized_at")) if isinstance(transitions, dict) else None
    return finalized if finalized is not None and finalized <= event_created else event_created


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
        latest = sub.get("latest_invoice")
        failed_at = (  # the failed invoice's event may come later, or never
            first_collection_attempt(latest, event.created)
            if isinstance(latest, dict) and latest.get("status") == "open"
            else event.created
        )
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
        period_start=subscription_period_start(sub) or (old.period_start if old else None),
        cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
        cancel_at=_int(sub.get("cancel_at")),
        trial_end=_int(sub.get("trial_end")),
        payment_failed_at=failed_at,
        version=event.created,
    )


def invoice_paid(event: StripeEventEnvelope, old: SubscriptionFact) -> SubscriptionFact:
    """A paid invoice extends the period, ends a payment failure, starts an ``incomplete``
    subscription (its first invoice) and ends a trial it pays past. It never revives a
    subscription that reached a final status, and it changes the status only when it is the
    subscription's latest invoice (an older one paid late leaves the status to Stripe).

    Stripe says each of these in a ``customer.subscription.updated`` too, but that update can
    be older than the invoice's event by a second and come after it: it is then stale.
    (An ``unpaid`` subscription is not judged here: only Stripe says whether this payment
    revived it, so the engine reads it.)"""
    if old.status in FINAL_STATUSES:
        return replace(old, version=max(old.version, event.created))
    end = invoice_period_end(event.data_object)
    latest = end is None or old.period_end is None or end >= old.period_end
    status = old.status
    if latest and status in ("past_due", "incomplete"):
        status = "active"
    if latest and status == "trialing" and end is not None and end > (old.trial_end or end):
        status = "active"  # the trial's end, whose update came an hour before this invoice
    moved_on = end is not None and (old.period_end is None or end > old.period_end)
    return replace(
        old,
        status=status,
        period_end=max(filter(None, (old.period_end, end)), default=None),
        period_start=(invoice_period_start(event.data_object) if moved_on else None)
        or old.period_start,
        payment_failed_at=None if latest else old.payment_failed_at,
        version=event.created,
    )


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
    stripe_id: str,
    owner: Owner,
    price_id: str,
    *,
    amount: int,
    currency: str,
    payment: PaymentState,
    customer_id: str | None,
    at: int,
    old: PurchaseFact | None,
) -> PurchaseFact:
    """A purchase's payment as an event (or a read, ``at``) shows it, keeping its refunds
    and disputes. ``paid_at`` is the earliest moment known paid: a success event's time is
    exact, while a refund, a dispute or a read only bounds it from above (a delayed payment's
    charge is made days before it succeeds), so an older success event still dates it."""
    paid_at = old.paid_at if old and old.paid_at else None
    if payment == "paid":
        paid_at = min(paid_at, at) if paid_at is not None else at
    fact = PurchaseFact(
        stripe_id=stripe_id,
        owner=owner,
        customer_id=customer_id or (old.customer_id if old else None),
        price_id=price_id,
        amount=amount,
        currency=currency,
        payment=payment,
        paid_at=paid_at,
        version=at,
    )
    if old is not None:
        fact = replace(
            fact, amount_refunded=old.amount_refunded, refunds=old.refunds, disputes=old.disputes
        )
    return fact


def invoice_payment(
    event: StripeEventEnvelope, owner: Owner, subscription_id: str
) -> PaymentFact | None:
    """The money a paid subscription invoice brought in (None for a zero invoice: a trial)."""
    invoice = event.data_object
    amount = _int(invoice.get("amount_paid")) or 0
    if amount <= 0:
        return None
    transitions = invoice.get("status_transitions")
    paid_at = _int(transitions.get("paid_at")) if isinstance(transitions, dict) else None
    return PaymentFact(
        stripe_id=str(invoice["id"]),
        owner=owner,
        subscription_id=subscription_id,
        amount=amount,
        currency=str(invoice.get("currency") or ""),
        paid_at=paid_at if paid_at is not None and paid_at <= event.created else event.created,
        version=event.created,
    )


def with_refunds[M: (PurchaseFact, PaymentFact)](
    old: M, amount_refunded: int, at: int, charge: dict[str, Any] | None
) -> M:
    """The payment with the charge's ``amount_refunded`` as Stripe says it is at ``at``; each
    change is kept with its time for revenue (a refund that failed gives money back: a
    negative change). A partial refund changes no access, a full one ends a purchase's."""
    change = amount_refunded - old.amount_refunded
    refunds = (*old.refunds, (at, change)) if change else old.refunds
    fact = replace(old, amount_refunded=amount_refunded, refunds=refunds, version=at)
    if isinstance(fact, PurchaseFact) and fact.payment == "pending" and (charge or {}).get("paid"):
        # Only a paid charge can be refunded: it was paid by ``at`` (a delayed payment's
        # charge is created when it starts, not when it succeeds). The payment's own success
        # events, older than this, still date it (:func:`earlier_payment`).
        fact = replace(fact, payment="paid", paid_at=fact.paid_at or at)
    return fact


def earlier_payment(candidate: Fact, stored: Fact | None) -> Fact | None:
    """A stored paid purchase dated earlier by an older success event (otherwise stale), or
    None: the moment a payment succeeded is known exactly only from its own event."""
    if not (isinstance(candidate, PurchaseFact) and isinstance(stored, PurchaseFact)):
        return None
    if candidate.payment != "paid" or stored.payment != "paid":
        return None
    if candidate.paid_at is None or stored.paid_at is None or candidate.paid_at >= stored.paid_at:
        return None
    return replace(stored, paid_at=candidate.paid_at)


def refunded[M: (PurchaseFact, PaymentFact)](event: StripeEventEnvelope, old: M) -> M:
    """``charge.refunded``: the charge says how much of it is refunded now."""
    charge = event.data_object
    amount_refunded = _int(charge.get("amount_refunded")) or 0
    return with_refunds(old, amount_refunded, event.created, charge)


def disputes_from(
    objects: list[dict[str, Any]], old: tuple[Dispute, ...], at: int
) -> tuple[Dispute, ...]:
    """The payment's disputes as Stripe lists them now, keeping when an outcome was first
    known."""
    known = {d.dispute_id: d for d in old}
    found = []
    for obj in objects:
        dispute_id, status = _str(obj.get("id")), obj.get("status")
        if dispute_id is None or not isinstance(status, str):
            continue
        before = known.get(dispute_id)
        closed_at = before.closed_at if before else None
        if status in ("won", DISPUTE_LOST) and closed_at is None:
            closed_at = at
        found.append(
            Dispute(
                dispute_id=dispute_id,
                status=status,
                amount=_int(obj.get("amount")) or 0,
                opened_at=_int(obj.get("created")) or at,
                closed_at=closed_at if status in ("won", DISPUTE_LOST) else None,
            )
        )
    return tuple(sorted(found, key=lambda d: (d.opened_at, d.dispute_id)))
