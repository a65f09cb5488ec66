"""A property of the entitlement engine: however Stripe delivers a user's billing story
(duplicated, late, a child before its parent, several events in one second), the engine ends
where the story itself says.

The strategy tells a user's billing as Stripe reports it: a subscription created ``active``,
``trialing`` or ``incomplete``, then what Stripe can do next from each status (renewals paid or
failed, trial ends, ``cancel_at_period_end`` set and cleared, ``past_due`` retries that succeed
or fail, the last one leaving it ``unpaid`` (and paid again) or canceled, the first invoice paid
at once, later or never, expiry, deletion at once or at the period end), maybe a refund or a
dispute of one of its paid invoices; optionally a second subscription; and, in their last days,
a one-time purchase (free, paid at once, or by a delayed method that succeeds or fails, maybe
after an abandoned checkout) with refunds that may fail, chargebacks won, lost or undecided,
and inquiries. Every event carries the object as Stripe shows it at that moment, in the current
API shape; events Stripe emits together share their second, in Stripe's order.

Stripe's side is kept as a timeline (tests/support/stripe_timeline.py): each object's state
after every change, at its second. When a payload cannot decide, the engine reads it through
``FakeStripe``, which answers with every object as of the delivery's second (the engine's
``now``).

The reference model reads the events in the order they happened (ties in the order Stripe
emitted them) and keeps what Stripe says (the last subscription object, when a payment first
failed, whether a purchase is paid, what of it is refunded, its disputes); then DESIGN.md's
rules say which features are in force at a time after the story. It does not call the engine's
code.
"""

from __future__ import annotations

import copy
import functools
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import wiring
from billing.adapters.dynamo.models import EntitlementModel, StripeObjectModel, WebhookEventModel
from billing.domain.entitlements import evaluate
from billing.domain.tenancy import Price
from billing.ports.ledger import BillingLedger
from billing.services import engine, tenancy
from tests.support import stripe_events as se
from tests.support.stripe_timeline import READABLE, FakeStripe, StripeTimeline

HOUR, DAY = 3_600, 86_400
PERIOD, TRIAL = 30 * DAY, 14 * DAY
GRACE = 3 * DAY  # the project's default grace period after a failed payment
RENEWAL_LEEWAY = 2 * HOUR  # a renewing period is honoured this long for its webhooks
RETRY_WINDOW = 3 * DAY  # Stripe retries a delivery for up to 3 days: how late one can be
JUDGED_FOR = 45 * DAY  # access is compared hourly this long after the last event
T0 = 1_790_000_000
PROJECT_ID = "1"
PRICES = (
    Price("price_pro", PROJECT_ID, ("pro",), 900, "usd", "month"),
    Price("price_export", PROJECT_ID, ("export",), 300, "usd", "month"),
    Price("price_life", PROJECT_ID, ("lifetime",), 4900, "usd", "one_time"),
    Price("price_pass", PROJECT_ID, ("pass",), 1000, "usd", "one_time", access_days=7),
)
FEATURES = {p.stripe_price_id: p.feature_codes for p in PRICES}
ACCESS_DAYS = {p.stripe_price_id: p.access_days for p in PRICES}
AMOUNT = {p.stripe_price_id: p.amount for p in PRICES}


@dataclass(frozen=True)
class StripeEvent:
    event_id: str
    event_type: str
    created: int
    object_id: str  # what it is about: a subscription, a purchase, or a subscription invoice
    obj: dict[str, Any] = field(repr=False)

    def raw(self) -> str:
        return se.event(self.event_type, self.obj, self.created, event_id=self.event_id)

    def __repr__(self) -> str:
        return f"{self.event_type} of {self.object_id} at +{self.created - T0}s"


@dataclass
class Story:
    """One user's events as Stripe emits them (``clock`` is the current second), and Stripe's
    objects as they change. Every id carries ``world``, so examples sharing the tables never
    meet."""

    world: int
    clock: int = T0
    events: list[StripeEvent] = field(default_factory=list)
    truth: StripeTimeline = field(default_factory=StripeTimeline)

    @property
    def owner(self) -> dict[str, str]:
        return {"project_id": PROJECT_ID, "user_id": f"user_{self.world}"}

    def __repr__(self) -> str:
        return f"Story(world={self.world}, {len(self.events)} events)"

    @property
    def customer(self) -> str:
        return self.id("cus", "1")

    def id(self, prefix: str, name: str) -> str:
        return f"{prefix}_w{self.world}_{name}"

    def wait(self, seconds: int) -> None:
        self.clock += seconds

    def wait_until(self, when: int) -> None:
        self.clock = max(self.clock, when)

    def change(self, *objects: dict[str, Any]) -> None:
        """Stripe's objects change now (an event may say so, or none)."""
        for obj in objects:
            self.truth.record(self.clock, obj)

    def emit(self, event_type: str, obj: dict[str, Any], object_id: str, *, then: int = 1) -> None:
        """Stripe emits an event carrying ``obj`` as it is now, then ``then`` seconds pass (0:
        the next event is of the same second)."""
        if obj.get("object") in READABLE:
            self.change(obj)
        event_id = self.id("evt", f"{len(self.events):03d}")
        self.events.append(
            StripeEvent(event_id, event_type, self.clock, object_id, copy.deepcopy(obj))
        )
        self.clock += then


# ---------------------------------------------------------------------- telling a story
gaps = st.one_of(st.integers(1, 600), st.integers(HOUR, 2 * DAY))
# Or a change comes this long before the period ends (within Stripe's retry window of it).
leads = st.one_of(st.none(), st.integers(60, RETRY_WINDOW))
# Events Stripe emits for one change: in the same second, or the next one.
pauses = st.sampled_from([0, 1])


def _intent(story: Story, pi_id: str, amount: int, metadata: dict[str, str]) -> dict[str, Any]:
    intent = se.payment_intent(pi_id, price_id=None, amount=amount)
    intent.update(
        customer=story.customer,
        metadata=metadata,
        created=story.clock,
        status="processing",
        last_payment_error=None,
        latest_charge=f"ch_{pi_id}",
    )
    return intent


def _charge(story: Story, pi_id: str, amount: int, *, paid: bool) -> dict[str, Any]:
    charge = se.charge(pi_id, amount=amount, amount_refunded=0)
    charge.update(
        id=f"ch_{pi_id}",
        customer=story.customer,
        created=story.clock,
        paid=paid,
        captured=paid,
        amount_captured=amount if paid else 0,
        status="succeeded" if paid else "pending",
        disputed=False,
    )
    return charge


def _succeeded(intent: dict[str, Any], charge: dict[str, Any]) -> None:
    intent.update(status="succeeded", amount_received=intent["amount"])
    charge.update(paid=True, captured=True, amount_captured=charge["amount"], status="succeeded")


@dataclass
class _Payment:
    """Stripe's side of one paid charge (a purchase's, or a subscription invoice's): what is
    refunded of it, and its dispute."""

    story: Story
    object_id: str  # the purchase, or the invoice, the events are about
    charge: dict[str, Any]
    dispute: dict[str, Any] | None = None

    @property
    def amount(self) -> int:
        return int(self.charge["amount"])

    @property
    def refunded(self) -> int:
        return int(self.charge["amount_refunded"])

    def set_refunded(self, amount: int) -> None:
        self.charge.update(amount_refunded=amount, refunded=amount >= self.amount)


DISPUTE_SETTLED = (None, "won", "warning_closed")  # a refund may be made then
# What becomes of a dispute before the story ends, after it opens: a chargeback takes the money
# at once and is decided after review (or lost unanswered); an inquiry (``warning_*``) takes
# nothing and closes.
CHARGEBACK_FATES = (
    (),
    ("under_review",),
    ("under_review", "won"),
    ("under_review", "lost"),
    ("lost",),
)
INQUIRY_FATES = (
    (),
    ("warning_under_review",),
    ("warning_closed",),
    ("warning_under_review", "warning_closed"),
)


def _payment_steps(payment: _Payment) -> list[str]:
    """What can happen next to a paid charge: a refund (while no dispute is open), a
    chargeback or an inquiry (one per charge)."""
    dispute = payment.dispute["status"] if payment.dispute else None
    steps = []
    if dispute in DISPUTE_SETTLED and payment.refunded < payment.amount:
        steps.append("refund")
    if payment.dispute is None and payment.refunded < payment.amount:
        steps += ["chargeback", "inquiry"]
    return steps


def _refund(draw: st.DrawFn, payment: _Payment) -> None:
    """A refund of all that is left or of part of it; a card refund succeeds at once, others
    stay pending a while; either may fail later, and the charge is refunded that less."""
    story, charge, about = payment.story, payment.charge, payment.object_id
    pi_id, left = str(charge["payment_intent"]), payment.amount - payment.refunded
    amount = draw(st.one_of(st.just(left), st.integers(1, left)))
    status = draw(st.sampled_from(["succeeded", "pending"]))
    refund_id = f"re_{pi_id}_{len(story.events)}"
    refund = se.refund(refund_id, pi_id=pi_id, charge_id=charge["id"], amount=amount, status=status)
    refund["created"] = story.clock
    payment.set_refunded(payment.refunded + amount)
    story.emit("charge.refunded", charge, about, then=draw(pauses))
    story.emit("refund.created", refund, about)
    if not draw(st.booleans()):
        return
    story.wait(draw(gaps))
    refund.update(status="failed", failure_reason="expired_or_canceled_card")
    payment.set_refunded(payment.refunded - amount)
    story.change(charge)
    story.emit("refund.updated", refund, about, then=draw(pauses))
    story.emit("refund.failed", refund, about)


def _dispute(draw: st.DrawFn, payment: _Payment, *, chargeback: bool) -> None:
    """A chargeback or an inquiry, and as far as it gets."""
    story, charge, about = payment.story, payment.charge, payment.object_id
    pi_id = str(charge["payment_intent"])
    dispute = se.dispute(
        f"dp_{pi_id}",
        pi_id=pi_id,
        charge_id=charge["id"],
        status="needs_response" if chargeback else "warning_needs_response",
        amount=payment.amount - payment.refunded,
        created=story.clock,
    )
    payment.dispute = dispute
    charge["disputed"] = True
    story.change(charge)
    if chargeback:  # the funds are withdrawn as it opens
        story.emit("charge.dispute.created", dispute, about, then=draw(pauses))
        story.emit("charge.dispute.funds_withdrawn", dispute, about)
    else:
        story.emit("charge.dispute.created", dispute, about)
    for status in draw(st.sampled_from(CHARGEBACK_FATES if chargeback else INQUIRY_FATES)):
        story.wait(draw(gaps))
        dispute["status"] = status
        closed = status in ("won", "lost", "warning_closed")
        kind_of_change = "charge.dispute.closed" if closed else "charge.dispute.updated"
        story.emit(kind_of_change, dispute, about, then=draw(pauses) if status == "won" else 1)
        if status == "won":  # the funds come back
            story.emit("charge.dispute.funds_reinstated", dispute, about)


def payment_aftermath(draw: st.DrawFn, payment: _Payment, most: int) -> None:
    """Up to ``most`` things that happen to a paid charge: refunds (which may fail), a
    chargeback or an inquiry, and what becomes of it."""
    for _ in range(draw(st.integers(1, most))):
        steps = _payment_steps(payment)
        if not steps:
            break
        payment.story.wait(draw(gaps))
        step = draw(st.sampled_from(steps))
        if step == "refund":
            _refund(draw, payment)
        else:
            _dispute(draw, payment, chargeback=step == "chargeback")


@dataclass
class _Subscription:
    """Stripe's side of one subscription, as the story goes."""

    story: Story
    sub_id: str
    price_id: str
    start: int
    status: str
    period_end: int
    trial_end: int | None = None
    cancel_at_period_end: bool = False
    invoices: int = 0
    latest_invoice: dict[str, Any] = field(default_factory=dict, repr=False)
    payments: list[_Payment] = field(default_factory=list, repr=False)

    def snapshot(self, **extra: Any) -> dict[str, Any]:
        sub = se.subscription(
            self.sub_id,
            status=self.status,
            prices=(self.price_id,),
            period_end=self.period_end,
            metadata=self.story.owner,
            customer=self.story.customer,
            cancel_at_period_end=self.cancel_at_period_end,
            trial_end=self.trial_end,
            start=self.start,
        )
        for item in sub["items"]["data"]:
            item["current_period_start"] = self.period_end - (
                TRIAL if self.status == "trialing" else PERIOD
            )
        sub.update(
            latest_invoice=self.latest_invoice.get("id"),
            cancel_at=self.period_end if self.cancel_at_period_end else None,
            **extra,
        )
        return sub

    def new_invoice(self, *, finalized: bool) -> None:
        """Stripe makes the subscription's next invoice (its ``latest_invoice`` from now):
        finalized and charged at once at the start, a renewal's drafted at the period's start
        and finalized an hour later."""
        self.invoices += 1
        inv = se.invoice(self.sub_id, period_end=self.period_end, amount_paid=0)
        inv.update(
            id=f"in_{self.sub_id}_{self.invoices}",
            customer=self.story.customer,
            created=self.story.clock,
            attempt_count=0,
            attempted=False,
            status="open" if finalized else "draft",
        )
        inv["parent"]["subscription_details"]["metadata"] = self.story.owner
        inv["status_transitions"]["finalized_at"] = self.story.clock if finalized else None
        self.latest_invoice = inv
        self.story.change(inv)

    def charge_invoice(self, *, paid: bool) -> dict[str, Any]:
        """An attempt at the latest invoice (a retry, or the customer paying it); a paid one
        with money in it leaves a payment intent, its charge and the invoice payment linking
        them."""
        inv, clock = self.latest_invoice, self.story.clock
        if inv["status_transitions"]["finalized_at"] is None:
            inv["status_transitions"]["finalized_at"] = clock
        amount = AMOUNT[self.price_id] if paid and self.status != "trialing" else 0
        inv.update(attempt_count=inv["attempt_count"] + 1, attempted=True)
        if not paid:
            inv["status"] = "open"
            return inv
        inv.update(status="paid", amount_paid=amount)
        inv["status_transitions"]["paid_at"] = clock
        if amount > 0:
            pi_id = f"pi_{inv['id']}"
            intent = _intent(self.story, pi_id, amount, {})  # no checkout metadata
            charge = _charge(self.story, pi_id, amount, paid=True)
            _succeeded(intent, charge)
            link = se.invoice_payment(inv["id"], pi_id, amount=amount, paid_at=clock)
            self.story.change(intent, charge, link)
            self.payments.append(_Payment(self.story, inv["id"], charge))
        return inv


def _updated(story: Story, sub: _Subscription, *, then: int = 1) -> None:
    story.emit("customer.subscription.updated", sub.snapshot(), sub.sub_id, then=then)


def _charge_invoice(
    draw: st.DrawFn, story: Story, sub: _Subscription, *, paid: bool, status: str | None = None
) -> None:
    """Stripe charges the latest invoice: ``invoice.paid`` (often with
    ``invoice.payment_succeeded``) or ``invoice.payment_failed``; what it does to the
    subscription (its update to ``status``, or a cancellation after it) comes in the same
    second or the next."""
    invoice = sub.charge_invoice(paid=paid)
    kinds = ["invoice.payment_failed"]
    if paid:
        kinds = ["invoice.paid", *(["invoice.payment_succeeded"] if draw(st.booleans()) else [])]
    for kind in kinds:
        story.emit(kind, invoice, sub.sub_id, then=0)
    story.wait(draw(pauses))
    if status is not None:
        sub.status = status
        _updated(story, sub)


def _renew(draw: st.DrawFn, story: Story, sub: _Subscription, *, paid: bool) -> None:
    """The period (or the trial) ends: Stripe starts the next period and drafts its invoice,
    then finalizes and charges it an hour later."""
    story.wait_until(sub.period_end)
    sub.status, sub.period_end, sub.trial_end = "active", sub.period_end + PERIOD, None
    sub.new_invoice(finalized=False)
    _updated(story, sub)
    story.wait(HOUR)
    _charge_invoice(draw, story, sub, paid=paid, status=None if paid else "past_due")


def _delete(story: Story, sub: _Subscription) -> None:
    sub.status = "canceled"
    ended = sub.snapshot(ended_at=story.clock, canceled_at=story.clock)
    story.emit("customer.subscription.deleted", ended, sub.sub_id)


def _next_steps(sub: _Subscription) -> list[str]:
    """What Stripe can do next to a subscription in this state (the subtle ones first: a
    generator draws the first more often)."""
    if sub.status == "incomplete":
        return ["first_invoice_paid", "activated_then_paid", "first_invoice_failed", "expire"]
    if sub.status in ("active", "trialing"):
        if sub.cancel_at_period_end:
            return ["ends_at_period_end", "resume", "cancel_now"]
        return ["renew_failed", "renew_paid", "cancel_at_period_end", "cancel_now"]
    if sub.status == "past_due":
        return ["unpaid", "retry_paid", "retry_failed", "gives_up", "cancel_now"]
    if sub.status == "unpaid":  # not final: paying the latest invoice reactivates it
        return ["retry_paid", "cancel_now"]
    return []  # canceled, incomplete_expired: the end


def _step(draw: st.DrawFn, story: Story, sub: _Subscription, step: str) -> None:  # noqa: C901
    if step in ("renew_paid", "renew_failed"):
        _renew(draw, story, sub, paid=step == "renew_paid")
        return
    if step == "ends_at_period_end":
        story.wait_until(sub.period_end)
        _delete(story, sub)
        return
    story.wait(draw(gaps))
    lead = draw(leads)
    if lead is not None and step in ("cancel_at_period_end", "resume", "cancel_now"):
        story.wait_until(sub.period_end - lead)
    if step in ("first_invoice_paid", "retry_paid"):  # a retry, or the customer paying it
        _charge_invoice(draw, story, sub, paid=True, status="active")
    elif step == "activated_then_paid":  # Stripe's two events of it, in the other order
        sub.status = "active"
        _updated(story, sub, then=draw(pauses))
        _charge_invoice(draw, story, sub, paid=True)
    elif step in ("first_invoice_failed", "retry_failed"):  # incomplete or past_due still
        _charge_invoice(draw, story, sub, paid=False)
    elif step == "unpaid":  # the last retry fails: the subscription is kept, unpaid
        _charge_invoice(draw, story, sub, paid=False, status="unpaid")
    elif step == "gives_up":  # the last retry fails: the subscription is canceled
        _charge_invoice(draw, story, sub, paid=False)
        _delete(story, sub)
    elif step == "expire":
        story.wait_until(sub.start + 23 * HOUR)
        sub.status = "incomplete_expired"
        _updated(story, sub)
    elif step in ("cancel_at_period_end", "resume"):
        sub.cancel_at_period_end = step == "cancel_at_period_end"
        _updated(story, sub)
    elif step == "cancel_now":
        _delete(story, sub)


@st.composite
def subscription_life(draw: st.DrawFn, story: Story, name: str, price_id: str) -> None:
    """A subscription from its creation through up to 5 things Stripe does to it, then maybe
    a refund or a dispute of one of its paid invoices (access follows the subscription)."""
    story.wait(draw(gaps))
    status = draw(st.sampled_from(["active", "trialing", "incomplete"]))
    start, sub_id = story.clock, story.id("sub", name)
    if status == "trialing":
        sub = _Subscription(story, sub_id, price_id, start, status, start + TRIAL, start + TRIAL)
    else:
        sub = _Subscription(story, sub_id, price_id, start, status, start + PERIOD)
    sub.new_invoice(finalized=True)
    if status == "incomplete":  # its first invoice's payment needs the customer
        story.emit("customer.subscription.created", sub.snapshot(), sub_id, then=0)
        if draw(st.booleans()):  # who pays at once: created, paid and active in one second
            _charge_invoice(draw, story, sub, paid=True, status="active")
        story.wait(1)
    else:  # the first invoice (zero for a trial) is paid as it is created
        story.emit("customer.subscription.created", sub.snapshot(), sub_id, then=draw(pauses))
        _charge_invoice(draw, story, sub, paid=True)
    for _ in range(draw(st.integers(1, 5))):
        steps = _next_steps(sub)
        if not steps:
            break
        _step(draw, story, sub, draw(st.sampled_from(steps)))
    if draw(st.booleans()) and sub.payments:
        payment_aftermath(draw, draw(st.sampled_from(sub.payments)), most=2)


@st.composite
def purchase_life(draw: st.DrawFn, story: Story, name: str) -> None:
    """A one-time purchase through Checkout, maybe after an abandoned one that expires: free
    (no payment intent), paid at once (its payment intent and the session in either order), or
    by a delayed method that succeeds or fails; then refunds, disputes and inquiries."""
    price_id = draw(st.sampled_from(["price_life", "price_pass"]))
    amount, metadata = AMOUNT[price_id], {**story.owner, "price_id": price_id}
    pi_id = story.id("pi", name)
    session = se.checkout_session(payment_intent=pi_id, price_id=price_id, amount=amount)
    session.update(id=story.id("cs", name), customer=story.customer, metadata=metadata)
    story.wait(draw(gaps))
    if draw(st.booleans()):  # abandoned: Stripe expires it a day later, having charged nothing
        abandoned = session | {"id": story.id("cs", f"{name}_abandoned"), "status": "expired"}
        abandoned.update(payment_intent=None, payment_status="unpaid")
        story.emit("checkout.session.expired", abandoned, abandoned["id"])
        story.wait(draw(gaps))
    session["status"] = "complete"
    ways = ["intent_first", "delayed_ok", "session_first", "free", "delayed_failed"]
    way = draw(st.sampled_from(ways))
    if way == "free":  # 100 % off: no payment intent, the session is the purchase
        free = session | {"payment_intent": None, "amount_total": 0}
        free["payment_status"] = "no_payment_required"
        story.emit("checkout.session.completed", free, free["id"])
        return
    intent = _intent(story, pi_id, amount, metadata)
    charge = _charge(story, pi_id, amount, paid=False)
    if way.startswith("delayed"):  # the charge is made now and settles days later
        story.change(intent, charge)
        story.emit("checkout.session.completed", session | {"payment_status": "unpaid"}, pi_id)
        story.wait(draw(gaps))
    if way == "delayed_failed":
        intent.update(status="requires_payment_method", last_payment_error={"type": "card_error"})
        charge.update(status="failed")
        story.change(charge)
        story.emit("payment_intent.payment_failed", intent, pi_id, then=draw(pauses))
        story.emit("checkout.session.async_payment_failed", session, pi_id)
        return
    _succeeded(intent, charge)
    story.change(charge)
    pause = draw(pauses)
    if way == "delayed_ok":
        story.emit("payment_intent.succeeded", intent, pi_id, then=pause)
        story.emit("checkout.session.async_payment_succeeded", session, pi_id)
    elif way == "intent_first":
        story.emit("payment_intent.succeeded", intent, pi_id, then=pause)
        story.emit("checkout.session.completed", session, pi_id)
    else:
        story.change(intent)
        story.emit("checkout.session.completed", session, pi_id, then=pause)
        story.emit("payment_intent.succeeded", intent, pi_id)
    payment_aftermath(draw, _Payment(story, pi_id, charge), most=3)


@st.composite
def billing_stories(draw: st.DrawFn, world: int) -> Story:
    """One user's billing: a subscription, maybe a second one, and a purchase."""
    story = Story(world)
    draw(subscription_life(story, "a", "price_pro"))
    if draw(st.booleans()):
        story.clock = T0 + draw(st.integers(0, 20 * DAY))  # overlapping the first, or after
        draw(subscription_life(story, "b", draw(st.sampled_from(["price_pro", "price_export"]))))
    # Bought in the subscriptions' last days, so a 7-day pass still counts when access is judged.
    story.clock = max(e.created for e in story.events) - draw(st.integers(0, 10 * DAY))
    draw(purchase_life(story, "a"))
    return story


# ---------------------------------------------------------------------- delivering it
@dataclass(frozen=True)
class Delivery:
    at: int
    event: StripeEvent


@st.composite
def deliveries(draw: st.DrawFn, events: list[StripeEvent]) -> list[Delivery]:
    """Each event delivered at least once (a third of them twice), each delivery on time or
    up to RETRY_WINDOW late, so the order is shuffled as far as Stripe can shuffle it: a child
    before its parent, a refund before its purchase, the events of one second in any order."""
    rnd = draw(st.randoms(use_true_random=False))
    planned: list[tuple[int, float, StripeEvent]] = []
    for event in events:
        for _ in range(2 if rnd.random() < 1 / 3 else 1):
            late = rnd.randint(0, RETRY_WINDOW) if rnd.random() < 1 / 2 else rnd.randint(0, 2)
            planned.append((event.created + late, rnd.random(), event))
    planned.sort(key=lambda p: p[:2])
    return [Delivery(at, event) for at, _, event in planned]


# ---------------------------------------------------------------------- the reference model
@dataclass
class _Seen:
    status: str
    price_id: str
    period_end: int
    cancel_at_period_end: bool
    failed_at: int | None = None


@dataclass
class _Bought:
    price_id: str
    amount: int
    status: str = "pending"
    paid_at: int | None = None
    refunds: dict[str, int] = field(default_factory=dict)  # refund id -> amount, not failed
    disputes: dict[str, str] = field(default_factory=dict)  # dispute id -> status


# Disputes that hold the money while undecided; inquiries (``warning_*``) take nothing.
SUSPENDING = frozenset({"needs_response", "under_review"})


def _subscription_event(seen: _Seen | None, event: StripeEvent) -> _Seen:
    obj = event.obj
    status = "canceled" if event.event_type.endswith(".deleted") else obj["status"]
    item = obj["items"]["data"][0]
    failed_at = seen.failed_at if seen else None
    if status in ("active", "trialing"):
        failed_at = None
    elif status == "past_due" and failed_at is None:
        failed_at = event.created
    return _Seen(
        status, item["price"]["id"], item["current_period_end"], obj["cancel_at_period_end"],
        failed_at,
    )  # fmt: skip


def _invoice_event(seen: _Seen, event: StripeEvent) -> None:
    if seen.status in ("canceled", "incomplete_expired"):
        return  # final: a late invoice never revives it
    if event.event_type == "invoice.payment_failed":
        if seen.status != "unpaid":
            seen.failed_at = seen.failed_at or event.created
        if seen.status in ("active", "trialing"):
            seen.status = "past_due"
        return
    line_end = max(line["period"]["end"] for line in event.obj["lines"]["data"])
    seen.period_end = max(seen.period_end, line_end)
    seen.failed_at = None
    if seen.status in ("past_due", "incomplete", "unpaid"):  # paid: it starts, or starts again
        seen.status = "active"


def _purchase_event(bought: _Bought, event: StripeEvent) -> None:
    obj = event.obj
    if obj["object"] == "refund":
        if obj["status"] == "failed":
            bought.refunds.pop(obj["id"], None)
        else:
            bought.refunds[obj["id"]] = obj["amount"]
        return
    if obj["object"] == "dispute":
        bought.disputes[obj["id"]] = obj["status"]
        return
    if obj["object"] == "charge":
        return  # charge.refunded: each refund's own events say it too
    paid = event.event_type in (
        "payment_intent.succeeded",
        "checkout.session.async_payment_succeeded",
    ) or (
        event.event_type == "checkout.session.completed"
        and obj["payment_status"] in ("paid", "no_payment_required")
    )
    if paid:
        bought.status = "paid"
        bought.paid_at = bought.paid_at or event.created
    elif event.event_type.endswith("failed"):
        bought.status = "failed"


class Reference:
    """What Stripe's events say, read in the order they happened (ties in the order Stripe
    emitted them); :meth:`features_at` says which features are in force at a time after them
    (DESIGN.md's rules)."""

    def __init__(self, events: list[StripeEvent]) -> None:
        self.subscriptions: dict[str, _Seen] = {}
        self.purchases: dict[str, _Bought] = {}
        for event in sorted(events, key=lambda e: e.created):  # stable: emission order
            if event.object_id.startswith("in_"):
                continue  # a subscription invoice's money: access follows the subscription
            if event.event_type.startswith("customer.subscription."):
                seen = self.subscriptions.get(event.object_id)
                self.subscriptions[event.object_id] = _subscription_event(seen, event)
            elif event.event_type.startswith("invoice."):
                _invoice_event(self.subscriptions[event.object_id], event)
            else:  # a purchase: its first event (a session or an intent) names the price
                if event.object_id not in self.purchases:
                    price_id = event.obj["metadata"]["price_id"]
                    self.purchases[event.object_id] = _Bought(price_id, AMOUNT[price_id])
                _purchase_event(self.purchases[event.object_id], event)

    def features_at(self, now: int) -> frozenset[str]:
        features: set[str] = set()
        for seen in self.subscriptions.values():
            if _subscription_in_force(seen, now):
                features.update(FEATURES[seen.price_id])
        for bought in self.purchases.values():
            if _purchase_in_force(bought, now):
                features.update(FEATURES[bought.price_id])
        return frozenset(features)

    def settled_at(self, now: int) -> bool:
        """Whether the answer is the same 5 s either side (see the property's docstring)."""
        return self.features_at(now - 5) == self.features_at(now) == self.features_at(now + 5)


def _subscription_in_force(seen: _Seen, now: int) -> bool:
    """DESIGN.md: active/trialing until the period end (plus the renewal leeway, unless it
    cancels at the period end); past_due for the grace period after the first failed payment;
    any other status not."""
    if seen.status == "past_due" and seen.failed_at is not None:
        return now < seen.failed_at + GRACE
    if seen.status in ("active", "trialing"):
        return now < seen.period_end + (0 if seen.cancel_at_period_end else RENEWAL_LEEWAY)
    return False


def _purchase_in_force(bought: _Bought, now: int) -> bool:
    """Paid, not fully refunded (a failed refund gave its amount back), under no open or lost
    dispute: for the price's access days from the payment, or without end."""
    if bought.status != "paid" or bought.paid_at is None:
        return False
    refunded = sum(bought.refunds.values())
    if refunded > 0 and refunded >= bought.amount:
        return False
    if any(status in SUSPENDING or status == "lost" for status in bought.disputes.values()):
        return False
    days = ACCESS_DAYS[bought.price_id]
    return days is None or now < bought.paid_at + days * DAY


# ---------------------------------------------------------------------- the property
_worlds = itertools.count(1)


@pytest.fixture
def ledger(aws: dict[str, str]) -> BillingLedger:
    """moto tables from template.yaml with project 1 and its prices, shared by the examples
    (each example is a new user whose ids are all its own)."""
    created = datetime.fromtimestamp(T0 - DAY, UTC)
    tenancy.create_project(wiring.project_store(), name="space_journal", project_id=1, now=created)
    for price in PRICES:
        wiring.price_store().put(price)
    return wiring.billing_ledger()


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _forget_the_example() -> None:
    """Empty the tables the engine writes. Examples never meet (each is a new user), but moto
    copies a whole table on every transaction: what earlier examples left would slow each
    later one down."""
    for model in (WebhookEventModel, StripeObjectModel, EntitlementModel):
        with model.batch_write() as batch:
            for item in model.scan():
                batch.delete(item)


def _told(delivered: list[Delivery]) -> str:
    return "\n".join(
        f"  +{d.at - T0}s: {d.event.event_type} of {d.event.object_id} at +{d.event.created - T0}s"
        for d in delivered
    )


@settings(
    max_examples=80,
    deadline=None,
    # ``ledger`` (moto's tables) is made once for all examples on purpose: every example tells
    # the story of a new user (ids carry a fresh world number), so none sees another's facts;
    # what the engine wrote is emptied after each.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_delivery_order_stripe_can_produce_ends_where_the_story_does(
    ledger: BillingLedger, data: st.DataObject
) -> None:
    """However Stripe delivers a user's events (each on time or up to 3 days late, so
    shuffled, a third of them twice, children before parents, ties in any order), with Stripe
    answering the engine's reads as of each delivery, every event is mapped and the engine
    leaves the same features in force as the reference model applying them in the order they
    happened, judged hourly for 45 days from a random second after the last event (in a trial,
    a grace period, the renewal leeway, past a period end or a pass's 7 days...).

    Instants within 5 s of a change in the reference's answer are not judged: the engine starts
    a grace period at a ``past_due`` ``customer.subscription.updated`` when the failed invoice's
    event, a second older, comes after it (the payload alone cannot tell the earlier second).
    """
    try:
        _check_a_story(ledger, next(_worlds), data)
    finally:
        _forget_the_example()


def _check_a_story(ledger: BillingLedger, world: int, data: st.DataObject) -> None:
    story = data.draw(billing_stories(world), label="story")
    events = sorted(story.events, key=lambda e: e.created)
    delivered = data.draw(deliveries(events), label="deliveries")
    reference = Reference(events)
    first = events[-1].created + data.draw(st.integers(0, HOUR - 1), label="judged from")

    for delivery in delivered:
        stripe = functools.partial(FakeStripe, story.truth, delivery.at)
        outcome = engine.apply_event(delivery.event.raw(), ledger, _at(delivery.at), stripe)
        assert outcome not in (engine.Outcome.UNKNOWN_OBJECT, engine.Outcome.UNMAPPED), (
            f"{delivery.event.event_type} of {delivery.event.object_id}: {outcome}\n"
            f"delivered:\n{_told(delivered)}"
        )

    sources = wiring.entitlement_store().sources_of(PROJECT_ID, f"user_{world}")
    for now in filter(reference.settled_at, range(first, first + JUDGED_FOR, HOUR)):
        in_force = frozenset(v.feature_code for v in evaluate(sources, _at(now)) if v.active)
        expected = reference.features_at(now)
        assert in_force == expected, (
            f"at +{now - T0}s: engine {sorted(in_force)}, reference {sorted(expected)}; "
            f"delivered (at, type, created; seconds after T0):\n{_told(delivered)}"
        )
