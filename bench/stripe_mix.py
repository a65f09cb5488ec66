"""A realistic stream of Stripe webhook deliveries, the same for the same seed.

Each of U users of one project gets a billing story told as Stripe would report it: a
subscription (checkout, created, the first invoice paid, renewals, a cancellation at period
end or at once, a failed renewal that recovers, ends or is still in its grace period), a
one-time purchase (payment intent, checkout; some refunded in full or in part), or both; a few
subscribers get a goodwill refund of an invoice. Events carry what checkout writes into Stripe
(metadata ``project_id``, ``user_id``, and ``price_id`` for one-time purchases) and are built
with tests/support/stripe_events.py from Stripe's own fixture objects, in the current API shape.

Then they are delivered as Stripe does: a share of deliveries are duplicates (the same event
again, a little later) and a share arrive out of order (after a newer event of the same billing
object: the subscription, or the purchase's payment intent; at most 3 days newer, as Stripe
retries a delivery for 3 days).

Each user's features in force at ``AS_OF`` are written down as the story is told, without the
engine's code, so a benchmark can check the engine got there whatever the delivery order.
Stripe's own state is kept too (``Mix.stripe``, a timeline of every object), so that when the
engine asks Stripe (a payload that cannot decide) it gets what Stripe would answer at the
delivery's moment (``Delivery.at``: the newest event created by then).
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from random import Random
from typing import Any, Literal

from tests.support import stripe_events as se
from tests.support.stripe_timeline import StripeTimeline

from billing.domain.tenancy import Price

PROJECT_ID = "1"
HOUR = 3_600
DAY = 86_400
PERIOD = 30 * DAY  # a monthly subscription's period
START = 1_790_000_000  # the earliest story begins here (2026-09-21)
AS_OF = START + 50 * DAY  # when each user's access is judged, after the last event

PRO = Price("price_pro_monthly", PROJECT_ID, ("pro",), 900, "usd", "month")
TEAM = Price("price_team_monthly", PROJECT_ID, ("pro", "team"), 2900, "usd", "month")
LIFETIME = Price("price_lifetime", PROJECT_ID, ("lifetime",), 4900, "usd", "one_time")
PASS = Price("price_pass_30d", PROJECT_ID, ("pass",), 1500, "usd", "one_time", access_days=30)
PRICES = (PRO, TEAM, LIFETIME, PASS)

# How often each story is told (weights). A user with neither gets a paid purchase.
SUBSCRIPTION_STORIES = {
    "none": 30,
    "renewing": 35,
    "cancels_at_period_end": 12,
    "cancelled_at_once": 10,
    "past_due_recovers": 5,
    "past_due_then_cancelled": 5,
    "past_due_in_grace": 3,
}
PURCHASE_STORIES = {"none": 65, "paid": 20, "fully_refunded": 10, "partly_refunded": 5}
INVOICE_REFUND_SHARE = 0.05  # subscribers refunded part of their first invoice
INCOMPLETE_FIRST_SHARE = 0.3  # subscriptions created `incomplete`, then updated to `active`
RETRY_WINDOW = 3 * DAY  # Stripe retries a delivery for up to 3 days: how late one can be

DeliveryKind = Literal["in_order", "out_of_order", "duplicate"]


@dataclass(frozen=True)
class StripeEvent:
    event_id: str
    event_type: str
    created: int
    object_id: str  # the billing object it changes: a subscription or a payment intent
    user_id: str
    body: str  # the raw event, as the receiver puts it on the queue


@dataclass(frozen=True)
class Delivery:
    event: StripeEvent
    kind: DeliveryKind
    at: int = 0  # when it is delivered: the newest event created by then


@dataclass(frozen=True)
class Mix:
    users: int
    seed: int
    events: int  # distinct events
    deliveries: list[Delivery]
    expected_features: dict[str, frozenset[str]]  # user id -> features in force at AS_OF
    stories: dict[str, int]
    stripe: StripeTimeline  # what Stripe answers a read with, at a delivery's moment

    def proportions(self) -> dict[str, Any]:
        """What the stream is made of, in counts and shares of deliveries."""
        total = len(self.deliveries)

        def shares(counts: Counter[str]) -> dict[str, dict[str, float]]:
            return {
                name: {"count": n, "share": round(n / total, 4)} for name, n in counts.most_common()
            }

        return {
            "users": self.users,
            "seed": self.seed,
            "events": self.events,
            "deliveries": total,
            "by_delivery": shares(Counter(d.kind for d in self.deliveries)),
            "by_event_type": shares(Counter(d.event.event_type for d in self.deliveries)),
            "stories": self.stories,
        }


@dataclass(order=True)
class _Draft:
    created: int
    told: int  # order of telling: Stripe's order within one second
    event_type: str = field(compare=False)
    obj: dict[str, Any] = field(compare=False)
    object_id: str = field(compare=False)
    user_id: str = field(compare=False)


class _User:
    """One user's billing, told event by event; ``in_force`` is what they may use at AS_OF."""

    def __init__(
        self, index: int, rng: Random, drafts: list[_Draft], stripe: StripeTimeline
    ) -> None:
        self.user_id = f"user_{index:05d}"
        self.owner = {"project_id": PROJECT_ID, "user_id": self.user_id}
        self.customer = f"cus_bench{index:05d}"
        self.rng = rng
        self.drafts = drafts
        self.stripe = stripe
        self.in_force: set[str] = set()
        self.sub_id = f"sub_bench{index:05d}"
        self.plan = PRO
        self.started = START
        self.first_invoice_intent = ""
        self._serial = 0

    def _new_id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}_{self.user_id}_{self._serial}"

    def emit(self, event_type: str, obj: dict[str, Any], created: int, object_id: str) -> None:
        """An event, and the object it carries as Stripe holds it from then on."""
        self.drafts.append(
            _Draft(
                created, len(self.drafts), event_type, copy.deepcopy(obj), object_id, self.user_id
            )
        )
        self.stripe.record(created, obj)

    # ------------------------------------------------------------ Stripe objects
    def _subscription(
        self, status: str, period_end: int, *, cancel_at_period_end: bool = False
    ) -> dict[str, Any]:
        sub = se.subscription(
            self.sub_id,
            status=status,
            prices=(self.plan.stripe_price_id,),
            period_end=period_end,
            metadata=self.owner,
            customer=self.customer,
            cancel_at_period_end=cancel_at_period_end,
            start=self.started,
        )
        for item in sub["items"]["data"]:
            item["current_period_start"] = period_end - PERIOD
        sub.update(
            billing_cycle_anchor=self.started,
            cancel_at=period_end if cancel_at_period_end else None,
            currency="usd",
        )
        return sub

    def _invoice(self, period_end: int, reason: str, *, paid: bool) -> dict[str, Any]:
        amount = self.plan.amount
        invoice = se.invoice(self.sub_id, period_end=period_end, amount_paid=amount if paid else 0)
        invoice["parent"]["subscription_details"]["metadata"] = self.owner
        invoice.update(
            id=self._new_id("in"),
            customer=self.customer,
            billing_reason=reason,
            amount_due=amount,
            amount_overpaid=0,
            amount_remaining=0 if paid else amount,
            subtotal=amount,
            total=amount,
            attempted=True,
            attempt_count=1,
            status="paid" if paid else "open",
        )
        return invoice

    def _intent(self, pi_id: str, amount: int, price: Price | None, at: int) -> dict[str, Any]:
        """A payment intent that succeeded at ``at``, and its charge (in Stripe's state)."""
        intent = se.payment_intent(
            pi_id, price_id=price.stripe_price_id if price else None, amount=amount
        )
        if price is not None:
            intent["metadata"] = {**self.owner, "price_id": price.stripe_price_id}
        charge = se.charge(pi_id, amount=amount, amount_refunded=0)
        charge.update(
            id=f"ch_{pi_id}", customer=self.customer, captured=True, paid=True, created=at
        )
        self.stripe.record(at, charge)
        intent.update(
            customer=self.customer,
            status="succeeded",
            amount_received=amount,
            created=at,
            latest_charge=charge["id"],
        )
        return intent

    def _checkout(self, mode: str, price: Price, pi_id: str) -> dict[str, Any]:
        session = se.checkout_session(
            mode=mode, payment_intent=pi_id, price_id=price.stripe_price_id, amount=price.amount
        )
        session.update(
            id=self._new_id("cs"),
            customer=self.customer,
            metadata={**self.owner, "price_id": price.stripe_price_id},
            client_reference_id=f"{PROJECT_ID}:{self.user_id}",
            subscription=self.sub_id if mode == "subscription" else None,
            status="complete",
        )
        return session

    def _refund(self, pi_id: str, amount: int, refunded: int, at: int) -> None:
        charge = self.stripe.as_of(f"ch_{pi_id}", at)
        if charge is None:
            raise ValueError(f"no charge of {pi_id} at {at}")
        charge.update(amount_refunded=refunded, refunded=refunded >= amount)
        self.emit("charge.refunded", charge, at, pi_id)

    # ------------------------------------------------------------ subscription story
    def _pay(self, at: int, period_end: int, reason: str) -> str:
        """A subscription invoice paid: its payment intent, then invoice.paid and
        invoice.payment_succeeded (the same second, as Stripe sends them)."""
        pi_id = self._new_id("pi")
        self.emit(
            "payment_intent.succeeded", self._intent(pi_id, self.plan.amount, None, at), at, pi_id
        )
        invoice = self._invoice(period_end, reason, paid=True)
        invoice["status_transitions"]["paid_at"] = at
        link = se.invoice_payment(invoice["id"], pi_id, amount=self.plan.amount, paid_at=at)
        self.stripe.record(at, link)
        self.emit("invoice.paid", invoice, at, self.sub_id)
        self.emit("invoice.payment_succeeded", invoice, at, self.sub_id)
        return pi_id

    def _renew_until(self, until: int, period_end: int) -> int:
        """Renew (period advanced, invoice paid an hour later) while the period ends by
        ``until``; return the period end reached."""
        while period_end <= until:
            self.emit(
                "customer.subscription.updated",
                self._subscription("active", period_end + PERIOD),
                period_end,
                self.sub_id,
            )
            self._pay(period_end + HOUR, period_end + PERIOD, "subscription_cycle")
            period_end += PERIOD
        return period_end

    def _end(self, at: int, period_end: int) -> None:
        ended = self._subscription("canceled", period_end)
        ended.update(ended_at=at, canceled_at=at)
        self.emit("customer.subscription.deleted", ended, at, self.sub_id)

    def _fail(self, at: int, period_end: int) -> None:
        self.emit(
            "invoice.payment_failed",
            self._invoice(period_end, "subscription_cycle", paid=False),
            at,
            self.sub_id,
        )

    def _start(self) -> int:
        """Checkout of a subscription: created (sometimes incomplete until paid), the first
        invoice paid, then checkout.session.completed. Returns the first period's end."""
        period_end = self.started + PERIOD
        incomplete = self.rng.random() < INCOMPLETE_FIRST_SHARE
        status = "incomplete" if incomplete else "active"
        self.emit(
            "customer.subscription.created",
            self._subscription(status, period_end),
            self.started,
            self.sub_id,
        )
        self.first_invoice_intent = self._pay(self.started + 2, period_end, "subscription_create")
        if incomplete:
            self.emit(
                "customer.subscription.updated",
                self._subscription("active", period_end),
                self.started + 3,
                self.sub_id,
            )
        session = self._checkout("subscription", self.plan, "")
        self.emit("checkout.session.completed", session, self.started + 4, session["id"])
        return period_end

    def subscribe(self, story: str) -> None:
        rng = self.rng
        self.plan = rng.choices((PRO, TEAM), weights=(7, 3))[0]
        if story == "past_due_in_grace":  # the first renewal fails 4 h to 2 days before AS_OF
            self.started = AS_OF - PERIOD - rng.randint(4 * HOUR, 2 * DAY)
        elif story.startswith("past_due"):  # the first renewal fails well before AS_OF
            self.started = rng.randint(START, AS_OF - PERIOD - 12 * DAY)
        else:
            self.started = rng.randint(START, AS_OF - 10 * DAY)
        period_end = self._start()
        if rng.random() < INVOICE_REFUND_SHARE:
            refund_at = self.started + rng.randint(DAY, 5 * DAY)
            self._refund(
                self.first_invoice_intent, self.plan.amount, self.plan.amount // 2, refund_at
            )
        if story.startswith("past_due"):
            self._past_due(story, period_end)
            return
        if story == "renewing":
            self._renew_until(AS_OF, period_end)
            self.in_force.update(self.plan.feature_codes)
            return
        cancelled_at = rng.randint(self.started + DAY, AS_OF - DAY)
        period_end = self._renew_until(cancelled_at, period_end)
        if story == "cancelled_at_once":
            self._end(cancelled_at, period_end)
            return
        self.emit(
            "customer.subscription.updated",
            self._subscription("active", period_end, cancel_at_period_end=True),
            cancelled_at,
            self.sub_id,
        )
        if period_end <= AS_OF:
            self._end(period_end, period_end)
        else:
            self.in_force.update(self.plan.feature_codes)

    def _past_due(self, story: str, first_period_end: int) -> None:
        """The first renewal's payment fails; Stripe advances the period, says past_due."""
        failed_at, period_end = first_period_end, first_period_end + PERIOD
        self._fail(failed_at, period_end)
        self.emit(
            "customer.subscription.updated",
            self._subscription("past_due", period_end),
            failed_at + 1,
            self.sub_id,
        )
        if story == "past_due_recovers":
            paid_at = failed_at + 2 * DAY
            self._pay(paid_at, period_end, "subscription_cycle")
            self.emit(
                "customer.subscription.updated",
                self._subscription("active", period_end),
                paid_at + 1,
                self.sub_id,
            )
            self.in_force.update(self.plan.feature_codes)
        elif story == "past_due_then_cancelled":
            self._fail(failed_at + 3 * DAY, period_end)  # Stripe's retry
            self._end(failed_at + 10 * DAY, period_end)
        else:  # still within the project's grace period (3 days) at AS_OF
            self.in_force.update(self.plan.feature_codes)

    # ------------------------------------------------------------ purchase story
    def purchase(self, story: str) -> None:
        rng = self.rng
        price = rng.choices((LIFETIME, PASS), weights=(7, 3))[0]
        paid_at = rng.randint(START, AS_OF - 2 * DAY)
        expires_at = paid_at + (price.access_days or 0) * DAY
        if price.access_days and abs(expires_at - AS_OF) < 2 * HOUR:
            paid_at -= 4 * HOUR  # keep clear of the expiry at AS_OF
        pi_id = self._new_id("pi")
        self.emit(
            "payment_intent.succeeded",
            self._intent(pi_id, price.amount, price, paid_at),
            paid_at,
            pi_id,
        )
        session = self._checkout("payment", price, pi_id)
        self.emit("checkout.session.completed", session, paid_at + 2, pi_id)
        if story != "paid":
            refunded = price.amount if story == "fully_refunded" else price.amount // 3
            refund_at = rng.randint(paid_at + 600, min(paid_at + 10 * DAY, AS_OF - 600))
            self._refund(pi_id, price.amount, refunded, refund_at)
        lasts = price.access_days is None or paid_at + price.access_days * DAY > AS_OF
        if story != "fully_refunded" and lasts:
            self.in_force.update(price.feature_codes)


def _pick(rng: Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def generate(
    users: int, seed: int, *, duplicate_share: float = 0.1, out_of_order_share: float = 0.1
) -> Mix:
    """The stream for ``users`` users: every story told, then delivered with the given shares
    of duplicate and out-of-order deliveries."""
    rng = Random(seed)  # noqa: S311 - a reproducible stream, not a secret
    drafts: list[_Draft] = []
    stripe = StripeTimeline()
    expected: dict[str, frozenset[str]] = {}
    stories: Counter[str] = Counter()
    for index in range(users):
        user = _User(index, rng, drafts, stripe)
        subscription, purchase = _pick(rng, SUBSCRIPTION_STORIES), _pick(rng, PURCHASE_STORIES)
        if subscription == purchase == "none":
            purchase = "paid"
        if subscription != "none":
            user.subscribe(subscription)
            stories[f"subscription {subscription}"] += 1
        if purchase != "none":
            user.purchase(purchase)
            stories[f"purchase {purchase}"] += 1
        expected[user.user_id] = frozenset(user.in_force)
    drafts.sort()
    events = [
        StripeEvent(
            event_id=f"evt_bench{n:07d}",
            event_type=d.event_type,
            created=d.created,
            object_id=d.object_id,
            user_id=d.user_id,
            body=se.event(d.event_type, d.obj, d.created, event_id=f"evt_bench{n:07d}"),
        )
        for n, d in enumerate(drafts)
    ]
    deliveries = _deliver(events, rng, duplicate_share, out_of_order_share)
    return Mix(users, seed, len(events), deliveries, expected, dict(stories.most_common()), stripe)


def _deliver(
    events: list[StripeEvent], rng: Random, duplicate_share: float, out_of_order_share: float
) -> list[Delivery]:
    """Delivery order: each event in time order, except that some are held back until just
    after a newer event of the same object (created at most RETRY_WINDOW later, and never one
    held back itself), and some are delivered a second time a few to a few hundred deliveries
    later."""
    total = round(len(events) / (1 - duplicate_share))
    late_target = round(out_of_order_share * total)
    positions: dict[str, list[int]] = {}
    for index, event in enumerate(events):
        positions.setdefault(event.object_id, []).append(index)

    slot = [float(index) for index in range(len(events))]
    held_back: set[int] = set()
    overtakers: set[int] = set()
    candidates = list(range(len(events)))
    rng.shuffle(candidates)
    for index in candidates:
        if len(held_back) == late_target:
            break
        if index in overtakers:
            continue
        created = events[index].created
        newer = [
            later
            for later in positions[events[index].object_id]
            if created < events[later].created <= created + RETRY_WINDOW and later not in held_back
        ]
        if not newer:
            continue
        overtaker = newer[min(len(newer) - 1, rng.randrange(2))]
        held_back.add(index)
        overtakers.add(overtaker)
        slot[index] = overtaker + rng.uniform(0.1, 0.9)

    ordered = [
        (slot[i], Delivery(e, "out_of_order" if i in held_back else "in_order"))
        for i, e in enumerate(events)
    ]
    for index in rng.sample(range(len(events)), total - len(events)):
        ordered.append((slot[index] + rng.uniform(1, 300), Delivery(events[index], "duplicate")))
    ordered.sort(key=lambda pair: pair[0])
    delivered: list[Delivery] = []
    now = 0
    for _, delivery in ordered:
        now = max(now, delivery.event.created)
        delivered.append(Delivery(delivery.event, delivery.kind, now))
    return delivered
