"""Reconciliation's rules: Stripe's objects as they are now, turned into the events the engine
already understands, and what counts as drift between a stored fact and Stripe.

Stripe is the truth at the moment a page is read (``observed_at``). Each object becomes one
synthetic event whose ``created`` is when the object's state came about (a cancellation's
``ended_at``, an invoice's ``paid_at``...), so the times the engine keeps stay right; the
repaired fact then carries ``observed_at`` as its version, so a webhook older than the
observation can never undo a repair, and a newer one still wins.

Each kind compares only what its own Stripe object can know: a payment intent says nothing
about refunds (a refunded purchase's intent still says ``succeeded``), an invoice says nothing
about the subscription's current status. Refunds and disputes are not compared from the page
itself: each makes the engine read its payment from Stripe (its charge, its disputes, and for
a subscription invoice Stripe's invoice payment), and that truth is compared.

A run lists payments, refunds and disputes created since the last successful run started (a
little before, for clocks), the first run ``ReconciliationDaysBack`` days; disputes further
back, since they close weeks after they open. Subscriptions are listed whatever their status
and age, so one that ended while webhooks were lost is repaired whenever it ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from billing.domain.billing_facts import Fact, PaymentFact, SubscriptionFact
from billing.domain.entitlement_rules import PriceAnomaly, PriceTerms
from billing.domain.entitlements import EntitlementSource
from billing.domain.grants import AuditEntry
from billing.domain.stripe_events import StripeEventEnvelope
from billing.domain.stripe_reads import payment_state, subscription_happened_at
from billing.domain.tenancy import Interval, StripePriceTerms, terms_differing

ObjectKind = Literal["subscription", "invoice", "payment_intent", "refund", "dispute"]
# The order a run walks Stripe in: subscriptions first, so the payments found later meet the
# subscriptions they belong to.
KINDS: tuple[ObjectKind, ...] = ("subscription", "invoice", "payment_intent", "refund", "dispute")
# Kinds whose objects are only a pointer to the payment, which is read from Stripe.
READ_KINDS: frozenset[ObjectKind] = frozenset({"refund", "dispute"})
# How much further back than the run's window a kind is listed: a dispute opened months ago
# may close tonight.
EXTRA_LOOKBACK: dict[ObjectKind, timedelta] = {"dispute": timedelta(days=120)}
# The next run's window starts this long before the last successful run started.
CURSOR_OVERLAP = timedelta(minutes=15)

RECONCILIATION_ACTOR = "reconciliation"
_COMPARED: dict[ObjectKind, tuple[str, ...]] = {
    "subscription": (
        "status",
        "price_ids",
        "quantities",
        "period_end",
        "cancel_at_period_end",
        "trial_end",
        "ended_at",
        "customer_id",
        "terms",  # what the metrics count: Stripe's prices and discounts
        "discounts",
    ),
    "invoice": ("amount", "currency", "subscription_id"),
    "payment_intent": ("price_id", "amount", "currency", "payment"),
    "refund": ("payment", "amount_refunded"),
    "dispute": ("payment", "amount_refunded", "disputes"),
}


@dataclass(frozen=True)
class Checkpoint:
    """Where a run stands: the kind being listed, the last object id read of it, and how many
    pages the run has finished (which also guards against two invocations racing)."""

    kind_index: int = 0
    starting_after: str | None = None
    pages: int = 0

    @property
    def done(self) -> bool:
        return self.kind_index >= len(KINDS)

    @property
    def kind(self) -> ObjectKind:
        return KINDS[self.kind_index]

    def after_page(self, last_id: str | None, has_more: bool) -> Checkpoint:
        """The next position: further along this kind, or the start of the next one."""
        if has_more and last_id:
            return Checkpoint(self.kind_index, last_id, self.pages + 1)
        return Checkpoint(self.kind_index + 1, None, self.pages + 1)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def observed_event(
    kind: ObjectKind, obj: dict[str, Any], run_id: str
) -> StripeEventEnvelope | None:
    """The event the engine would have received for this object's current state, or None
    when the object holds nothing the service keeps (an unpaid invoice, a payment still
    processing, a refund not yet succeeded)."""
    object_id = obj.get("id")
    if not isinstance(object_id, str):
        return None
    event_type: str
    created = _int(obj.get("created")) or 0
    if kind == "subscription":
        event_type = "customer.subscription.updated"
        created = subscription_happened_at(obj) or created
    elif kind == "invoice":
        if obj.get("status") != "paid":
            return None
        event_type = "invoice.paid"
        created = _int((obj.get("status_transitions") or {}).get("paid_at")) or created
    elif kind == "payment_intent":
        status = obj.get("status")
        if status == "succeeded":
            event_type = "payment_intent.succeeded"
        elif payment_state(obj) == "failed":
            event_type = "payment_intent.payment_failed"
        else:
            return None
    else:
        return None  # refunds and disputes: the engine reads their payment from Stripe
    return StripeEventEnvelope(
        event_id=f"evt_reconcile_{run_id}_{object_id}",
        event_type=event_type,
        created=created,
        livemode=bool(obj.get("livemode", False)),
        data_object=obj,
    )


def repair_event(kind: ObjectKind, obj: dict[str, Any], run_id: str) -> StripeEventEnvelope:
    """The mark a repair from an object read through its payment (a refund, a dispute)
    writes: one per run and object, like the other kinds'."""
    return StripeEventEnvelope(
        event_id=f"evt_reconcile_{run_id}_{obj.get('id')}",
        event_type=f"reconciliation.{kind}",
        created=_int(obj.get("created")) or 0,
        livemode=bool(obj.get("livemode", False)),
        data_object=obj,
    )


def keeps(kind: ObjectKind, fact: Fact) -> bool:
    """Whether this kind speaks for that fact: an invoice, a refund or a dispute speaks for
    its payment, not for the subscription (the subscription's own object says what it is
    now)."""
    return kind == "subscription" or not isinstance(fact, SubscriptionFact)


def drift(kind: ObjectKind, stored: Fact | None, observed: Fact) -> tuple[str, ...]:
    """The fields where Stripe disagrees with the stored fact; ``("missing",)`` when the
    service has no fact at all; empty when they agree."""
    if stored is None:
        return ("missing",)
    if stored.kind != observed.kind:
        return ("kind",)
    differing = []
    for name in _COMPARED[kind]:
        before, after = getattr(stored, name, None), getattr(observed, name, None)
        if before != after:
            differing.append(name)
    return tuple(differing)


def repaired(observed: Fact, stored: Fact | None, observed_at: int) -> Fact:
    """The fact to write: Stripe's view, under the stored owner (a fact never changes hands),
    versioned at the observation; a payment read from its invoice keeps the refunds and
    disputes only its charge knows about."""
    fact: Fact = replace(observed, version=max(observed_at, observed.version))
    if stored is None:
        return fact
    fact = replace(fact, owner=stored.owner)
    if isinstance(fact, PaymentFact) and isinstance(stored, PaymentFact):
        fact = replace(
            fact,
            amount_refunded=stored.amount_refunded,
            refunds=stored.refunds,
            disputes=stored.disputes,
        )
    return fact


def price_drift(fact: Fact, prices: Mapping[str, PriceTerms]) -> list[PriceAnomaly]:
    """The prices a subscription bills whose registered amount, currency or interval differ
    from what Stripe bills for them (its items embed Stripe's price): one ``drift`` each."""
    if not isinstance(fact, SubscriptionFact):
        return []
    found = []
    for index, price_id in enumerate(fact.price_ids):
        at_stripe, registered = fact.terms_of(index), prices.get(price_id)
        if at_stripe is None or registered is None or registered.billing is None:
            continue
        if registered.project_id not in (None, fact.owner.project_id):
            continue  # another project's price: reported as foreign
        stripe = StripePriceTerms(
            at_stripe.amount,
            at_stripe.currency,
            cast(Interval, at_stripe.interval),
            at_stripe.interval_count,
        )
        differing = terms_differing(registered.billing, stripe)
        if differing:
            detail = "; ".join(f"{name}: {reason}" for name, reason in differing)
            found.append(
                PriceAnomaly(fact.stripe_id, price_id, fact.owner.project_id, "drift", None, detail)
            )
    return found


def access_changes(
    before: list[EntitlementSource], after: list[EntitlementSource]
) -> list[tuple[str, EntitlementSource | None, EntitlementSource | None]]:
    """(feature, source before, source after) for each billing source a repair changed."""
    old = {(s.feature_code, s.source_id): s for s in before if s.source != "manual"}
    new = {(s.feature_code, s.source_id): s for s in after if s.source != "manual"}
    return [
        (key[0], old.get(key), new.get(key))
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]


def repair_audit(
    change: tuple[str, EntitlementSource | None, EntitlementSource | None],
    *,
    project_id: str,
    user_id: str,
    reason: str,
    at: datetime,
) -> AuditEntry:
    """The audit entry of one feature whose access a repair changed."""
    feature, before, after = change
    return AuditEntry(
        project_id=project_id,
        user_id=user_id,
        action="reconcile",
        feature_code=feature,
        actor=RECONCILIATION_ACTOR,
        reason=reason,
        at=at,
        app_id=RECONCILIATION_ACTOR,
        before=before,
        after=after,
    )


def window_start(now: datetime, days_back: int) -> int:
    """Epoch seconds from which a first run lists payments and refunds."""
    return int((now - timedelta(days=days_back)).timestamp())


def cursor_after(last_success: RunSummary) -> int:
    """Where the next run's window starts: everything created before the last successful run
    started was listed by it."""
    return int((last_success.started_at - CURSOR_OVERLAP).timestamp())


def listed_since(kind: ObjectKind, since: int) -> int:
    """The ``created`` bound a kind is listed from."""
    return since - int(EXTRA_LOOKBACK.get(kind, timedelta()).total_seconds())


# ---------------------------------------------------------------------- runs and their report
RunStatus = Literal["running", "completed", "completed_with_errors"]
Verdict = Literal["in_sync", "repaired", "unmapped", "not_ours", "skipped", "newer", "error"]
VERDICTS: tuple[Verdict, ...] = (
    "in_sync",
    "repaired",
    "unmapped",
    "not_ours",
    "skipped",
    "newer",
    "error",
)


def count_key(verdict: Verdict, kind: ObjectKind) -> str:
    """How a run's counters are named: ``repaired_subscription``."""
    return f"{verdict}_{kind}"


def tally(counts: dict[str, int], *verdicts: Verdict) -> int:
    """The counts of these verdicts, over every kind."""
    return sum(counts.get(count_key(verdict, kind), 0) for verdict in verdicts for kind in KINDS)


def zero_counts() -> dict[str, int]:
    return {count_key(verdict, kind): 0 for verdict in VERDICTS for kind in KINDS}


@dataclass(frozen=True)
class RunSummary:
    """A run as stored: its window, where it stands and what it has counted so far."""

    run_id: str
    trigger: str
    started_at: datetime
    since: int
    status: RunStatus
    checkpoint: Checkpoint
    counts: dict[str, int]
    invocations: int = 0
    finished_at: datetime | None = None

    def total(self, verdict: Verdict) -> int:
        return tally(self.counts, verdict)

    def examined(self, kind: ObjectKind) -> int:
        """Objects of that kind read from Stripe (skipped ones included)."""
        return sum(self.counts.get(count_key(verdict, kind), 0) for verdict in VERDICTS)


@dataclass(frozen=True)
class RepairRecord:
    """One repaired fact, with the stored fact before (None: it was missing) and after."""

    kind: ObjectKind
    object_id: str  # the Stripe object read
    fact_id: str  # the fact written (a refund repairs its purchase)
    project_id: str
    user_id: str
    fields: tuple[str, ...]
    before: Fact | None
    after: Fact
    at: datetime


@dataclass(frozen=True)
class RepairError:
    """An object that could not be compared or repaired; the next run tries it again."""

    kind: ObjectKind
    object_id: str
    message: str
    at: datetime


@dataclass
class PageOutcome:
    """What one page found: counters to add, repairs made, objects that failed."""

    counts: dict[str, int] = field(default_factory=dict)
    repairs: list[RepairRecord] = field(default_factory=list)
    errors: list[RepairError] = field(default_factory=list)
    anomalies: list[PriceAnomaly] = field(default_factory=list)

    def count(self, verdict: Verdict, kind: ObjectKind) -> None:
        key = count_key(verdict, kind)
        self.counts[key] = self.counts.get(key, 0) + 1


@dataclass(frozen=True)
class StripePage:
    """One page of a Stripe list, as plain JSON objects."""

    objects: list[dict[str, Any]]
    has_more: bool
