"""A scripted quarter over HTTP: the metrics routes against a hand computation and against an
independent recomputation from the Stripe stand-in's own objects (issue 21's acceptance).

A stack of this module's own runs the stand-in, which holds the truth; its clock is moved day
by day as things happen (06:00 new subscriptions and purchases, 12:00 the renewals due, 18:00
changes), and each day's webhooks are applied before the clock moves on. Project 401, grace 3
days, the quarter Q = [Jan 1, Apr 1) of the year after next (so the calendar is the same on
any day this runs: months keep their day, Dec 12 renews on Jan 12).

Prices (Stripe's; billing-admin price add reads them there): basic 20.00 USD/month, pro 50.00
USD/month, yearly 240.00 USD/year, eur 15.00 EUR/month, eur_2w 10.00 EUR every 2 weeks, life
99.00 USD one-time. Coupons: 25 % forever, 10.00 USD off repeating 2 months, 50 % once.

  A usd  Dec 12 basic, 10.00 off for 2 months (to Feb 12 06:00); Jan 12 renewal (10.00), then
         upgraded to pro (18:00); Feb 12 and Mar 12 renewals (50.00 each, the discount over)
  B usd  Dec 22 yearly x1, 25 % forever; Jan 31 quantity 3
  C usd  Dec 2 pro; Jan 2 renewal fails (past_due), Jan 4 the invoice is paid (inside the
         grace); Jan 21 downgraded to basic; Feb 2, Mar 2 renewals (20.00); Feb 15 the Jan 4
         payment is disputed (50.00), won on Apr 5, after the quarter
  D usd  Jan 6 basic with a 14-day trial; converts Jan 20 (20.00); Feb 20, Mar 20 renewals
  E eur  Jan 13 eur with a 14-day trial; canceled Jan 20, in the trial
  F eur  Dec 27 eur, 50 % once (its first invoice); Jan 27, Feb 27, Mar 27 renewals (15.00)
  G eur  Jan 2 eur_2w (10.00); Jan 16 renewal fails: past_due, its grace over Jan 19 12:00;
         Jan 23 unpaid, and stays so
  H usd  Dec 17 basic; Jan 17 renewal; canceled Feb 10; Feb 25 basic again; Mar 25 renewal
  I usd  Jan 4 life (99.00); Jan 8 30.00 refunded, Jan 10 that refund fails; Jan 14 20.00
         refunded
  After the quarter: Apr 2 C renews, Apr 3 B is canceled, Apr 5 C's dispute is won, Apr 8 A
  is canceled.

By hand, for Q (MRR in minor units; a customer's MRR rounded half up):
  MRR at Jan 1: USD A 2000 - 1000 = 1000, B 24000 / 12 x 75 % = 1500, C 5000, H 2000 = 9500
    (4 customers); EUR F 1500 x 50 % = 750 (1).
  USD movements: Jan 12 A +3000 (5000 - 1000) expansion; Jan 20 D +2000 new; Jan 21 C -3000
    contraction; Jan 31 B +3000 (6000 x 75 % = 4500) expansion; Feb 10 H -2000 churned;
    Feb 12 A +1000 expansion (the repeating discount ended); Feb 25 H +2000 reactivation.
    new 2000, reactivation 2000, expansion 7000, contraction 3000, churned 2000;
    MRR at Apr 1: 9500 + 2000 + 2000 + 7000 - 3000 - 2000 = 15500 (A 5000, B 4500, C 2000,
    D 2000, H 2000). C's failed renewal never stopped it paying: inside the grace.
  EUR movements: Jan 2 G +2167 new (1000 x 52 / 24 = 2166.67); Jan 19 G -2167 churned (its
    grace ran out); Jan 27 F +750 expansion (the once discount's period ended).
    MRR at Apr 1: 750 + 2167 - 2167 + 750 = 1500. E's trial never paid: not churn.
  Customers: USD 4 at start, 5 at end, 1 new (D), 1 reactivated (H), 1 churned (H): customer
    churn 1 / 4 = 0.25, revenue churn (2000 + 3000) / 9500 = 0.5263. EUR 1 at start, 1 at
    end, 1 new (G), 1 churned (G): 1.0 and 2167 / 750 = 2.8893.
  Revenue USD: gross A 1000 + 5000 + 5000, C 5000 + 2000 + 2000, D 2000 x 3, H 2000 x 3,
    I 9900 = 41900; refunded 3000 - 3000 + 2000 = 2000; disputed 5000; net 34900.
    EUR: gross G 1000, F 1500 x 3 = 5500; refunded 0, disputed 0, net 5500.
  At Apr 1: active A, B, C, D, F, H's second = 6, canceled E and H's first = 2, unpaid G;
    6 give access; new customers 2 (D, G), churned 2 (H, G).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import partial
from typing import Any

import pytest
import requests

from billing_devstack.launcher import StackProcess, wait_until
from tests.integration.conftest import start_stack
from tests.integration.test_engine_truth_over_http import Stripe
from tests.support.mrr_bridge import bridged_mrr_end

pytestmark = pytest.mark.integration

PROJECT = "401"
YEAR = datetime.now(UTC).year + 2
Q_START = datetime(YEAR, 1, 1, tzinfo=UTC)
Q_END = datetime(YEAR, 4, 1, tzinfo=UTC)
GRACE_SECONDS = 3 * 86_400
APPLIED_WITHIN = 60.0
ORIGIN = "https://quarter.example.com"

PRICES: dict[str, tuple[int, str, dict[str, Any] | None]] = {
    "price_q_basic": (2000, "usd", {"interval": "month", "interval_count": 1}),
    "price_q_pro": (5000, "usd", {"interval": "month", "interval_count": 1}),
    "price_q_yearly": (24000, "usd", {"interval": "year", "interval_count": 1}),
    "price_q_eur": (1500, "eur", {"interval": "month", "interval_count": 1}),
    "price_q_eur_2w": (1000, "eur", {"interval": "week", "interval_count": 2}),
    "price_q_life": (9900, "usd", None),
}
COUPONS = {
    "Q_FOREVER25": {"percent_off": "25", "duration": "forever"},
    "Q_TENOFF2M": {
        "amount_off": "1000",
        "currency": "usd",
        "duration": "repeating",
        "duration_in_months": "2",
    },
    "Q_HALFONCE": {"percent_off": "50", "duration": "once"},
}

HAND_QUARTER = {
    "usd": {
        "gross": 41900,
        "refunded": 2000,
        "disputed": 5000,
        "net": 34900,
        "mrr": 15500,
        "arr": 186000,
        "mrr_start": 9500,
        "mrr_end": 15500,
        "movements": {
            "new": 2000,
            "reactivation": 2000,
            "expansion": 7000,
            "contraction": 3000,
            "churned": 2000,
        },
        "customers": {"at_start": 4, "at_end": 5, "new": 1, "reactivated": 1, "churned": 1},
        "customer_churn_rate": 0.25,
        "revenue_churn_rate": 0.5263,
    },
    "eur": {
        "gross": 5500,
        "refunded": 0,
        "disputed": 0,
        "net": 5500,
        "mrr": 1500,
        "arr": 18000,
        "mrr_start": 750,
        "mrr_end": 1500,
        "movements": {
            "new": 2167,
            "reactivation": 0,
            "expansion": 750,
            "contraction": 0,
            "churned": 2167,
        },
        "customers": {"at_start": 1, "at_end": 1, "new": 1, "reactivated": 0, "churned": 1},
        "customer_churn_rate": 1.0,
        "revenue_churn_rate": 2.8893,
    },
}


def epoch(day: date, hour: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp())


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------- the story
@dataclass
class Quarter:
    """The stack, the stand-in, and what the story made in it."""

    stack: StackProcess
    stripe: Stripe
    key: str
    subscriptions: dict[str, str] = field(default_factory=dict)  # A, B2... -> sub id
    charges: dict[str, str] = field(default_factory=dict)
    refunds: dict[str, str] = field(default_factory=dict)
    disputes: dict[str, str] = field(default_factory=dict)
    failing: dict[str, date] = field(default_factory=dict)  # renewals that fail, by day
    snapshots: list[tuple[int, list[dict[str, Any]]]] = field(default_factory=list)
    applied: set[str] = field(default_factory=set)
    answers: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ Stripe's side
    def clock(self, moment: int) -> None:
        self.stripe.control("clock", {"now": moment})

    def customer(self, user: str) -> str:
        found = self.stripe.post(
            "customers", {"metadata[project_id]": PROJECT, "metadata[user_id]": user}
        )
        return str(found["id"])

    def subscribe(
        self,
        name: str,
        price: str,
        *,
        coupon: str | None = None,
        trial_days: int | None = None,
    ) -> None:
        user = name.rstrip("0123456789")
        form = {
            "mode": "subscription",
            "customer": self.customer(user),
            "line_items[0][price]": price,
            "line_items[0][quantity]": "1",
            "success_url": f"{ORIGIN}/ok",
            "subscription_data[metadata][project_id]": PROJECT,
            "subscription_data[metadata][user_id]": user,
        }
        if coupon:
            form["discounts[0][coupon]"] = coupon
        if trial_days:
            form["subscription_data[trial_period_days]"] = str(trial_days)
        session = self.stripe.post("checkout/sessions", form)
        self.subscriptions[name] = self.stripe.control(f"checkout/{session['id']}/pay")[
            "subscription"
        ]

    def buy(self, user: str, price: str) -> None:
        metadata = {"project_id": PROJECT, "user_id": user, "price_id": price}
        form = {
            "mode": "payment",
            "customer": self.customer(user),
            "line_items[0][price]": price,
            "line_items[0][quantity]": "1",
            "success_url": f"{ORIGIN}/ok",
            **{f"metadata[{k}]": v for k, v in metadata.items()},
            **{f"payment_intent_data[metadata][{k}]": v for k, v in metadata.items()},
        }
        session = self.stripe.post("checkout/sessions", form)
        self.charges[user] = self.stripe.control(f"checkout/{session['id']}/pay")["charge"]

    def change(self, name: str, **item: str) -> None:
        sub_id = self.subscriptions[name]
        found = self.stripe.get(f"subscriptions/{sub_id}")
        form = {"items[0][id]": found["items"]["data"][0]["id"], "proration_behavior": "none"}
        form.update({f"items[0][{key}]": value for key, value in item.items()})
        self.stripe.post(f"subscriptions/{sub_id}", form)

    def cancel(self, name: str) -> None:
        self.stripe.control(f"subscriptions/{self.subscriptions[name]}/cancel")

    def pay_open_invoice(self, name: str) -> None:
        found = self.stripe.get(f"subscriptions/{self.subscriptions[name]}")
        self.stripe.post(f"invoices/{found['latest_invoice']}/pay", {})
        payments = self.stripe.get("invoice_payments", invoice=found["latest_invoice"])
        intent = payments["data"][0]["payment"]["payment_intent"]
        self.charges[name] = self.stripe.get(f"payment_intents/{intent}")["latest_charge"]

    def refund(self, name: str, amount: int, label: str) -> None:
        refund = self.stripe.control(f"charges/{self.charges[name]}/refund", {"amount": amount})
        self.refunds[label] = refund["id"]

    def renew_due(self, now: int) -> None:
        """Every live subscription whose period ended: renewed, or its renewal failing."""
        for sub in self.listed():
            item = sub["items"]["data"][0]
            if sub["status"] not in ("active", "trialing") or item["current_period_end"] > now:
                continue
            name = next(n for n, i in self.subscriptions.items() if i == sub["id"])
            fails = self.failing.get(name) == datetime.fromtimestamp(now, UTC).date()
            self.stripe.control(
                f"subscriptions/{sub['id']}/{'fail_renewal' if fails else 'advance'}"
            )

    def listed(self) -> list[dict[str, Any]]:
        """Every subscription, its discounts with their coupons, its latest invoice."""
        found = self.stripe.get(
            "subscriptions",
            status="all",
            limit=100,
            **{"expand[]": ["data.discounts.source.coupon", "data.latest_invoice"]},
        )
        assert not found["has_more"]
        return list(found["data"])

    # ------------------------------------------------------------------ the service's side
    def settle(self) -> None:
        """Wait until the consumer applied every event Stripe emitted so far."""
        events = requests.get(f"{self.stripe.url}/_standin/events", timeout=30).json()["data"]
        for event in events:
            if event["id"] in self.applied:
                continue
            assert wait_until(partial(self.stripe.applied, event["id"]), APPLIED_WITHIN), (
                f"{event['type']} {event['id']} was not applied"
            )
            self.applied.add(event["id"])

    def metrics(self, route: str, since: datetime, until: datetime) -> dict[str, Any]:
        response = requests.get(
            f"{self.stack.url}/api/v1/metrics/project/{PROJECT}/{route}",
            params={"since": iso(since), "until": iso(until)},
            headers={"X-API-Key": self.key},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


Action = Callable[[Quarter], None]


def story() -> dict[date, dict[str, list[Action]]]:
    """What happens each day, by phase: starts (06:00), renewals (12:00), changes (18:00)."""
    december, jan, feb, apr = YEAR - 1, (YEAR, 1), (YEAR, 2), (YEAR, 4)
    days: dict[date, dict[str, list[Action]]] = defaultdict(lambda: defaultdict(list))

    def on(when: date, phase: str, action: Action) -> None:
        days[when][phase].append(action)

    on(date(december, 12, 2), "start", lambda q: q.subscribe("C", "price_q_pro"))
    on(date(december, 12, 12), "start",
       lambda q: q.subscribe("A", "price_q_basic", coupon="Q_TENOFF2M"))  # fmt: skip
    on(date(december, 12, 17), "start", lambda q: q.subscribe("H", "price_q_basic"))
    on(date(december, 12, 22), "start",
       lambda q: q.subscribe("B", "price_q_yearly", coupon="Q_FOREVER25"))  # fmt: skip
    on(date(december, 12, 27), "start",
       lambda q: q.subscribe("F", "price_q_eur", coupon="Q_HALFONCE"))  # fmt: skip
    on(date(*jan, 2), "start", lambda q: q.subscribe("G", "price_q_eur_2w"))
    on(date(*jan, 4), "change", lambda q: q.pay_open_invoice("C"))
    on(date(*jan, 4), "start", lambda q: q.buy("I", "price_q_life"))
    on(date(*jan, 6), "start", lambda q: q.subscribe("D", "price_q_basic", trial_days=14))
    on(date(*jan, 8), "change", lambda q: q.refund("I", 3000, "failing"))
    on(date(*jan, 10), "change",
       lambda q: q.stripe.control(f"refunds/{q.refunds['failing']}/fail"))  # fmt: skip
    on(date(*jan, 12), "change", lambda q: q.change("A", price="price_q_pro"))
    on(date(*jan, 13), "start", lambda q: q.subscribe("E", "price_q_eur", trial_days=14))
    on(date(*jan, 14), "change", lambda q: q.refund("I", 2000, "kept"))
    on(date(*jan, 20), "change", lambda q: q.cancel("E"))
    on(date(*jan, 21), "change", lambda q: q.change("C", price="price_q_basic"))
    on(date(*jan, 23), "change",
       lambda q: q.stripe.control(f"subscriptions/{q.subscriptions['G']}/mark_unpaid"))  # fmt: skip
    on(date(*jan, 31), "change", lambda q: q.change("B", quantity="3"))
    on(date(*feb, 10), "change", lambda q: q.cancel("H"))

    def dispute(q: Quarter) -> None:
        q.disputes["C"] = q.stripe.control(f"charges/{q.charges['C']}/dispute")["id"]

    on(date(*feb, 15), "change", dispute)
    on(date(*feb, 25), "start", lambda q: q.subscribe("H2", "price_q_basic"))
    on(date(*apr, 3), "change", lambda q: q.cancel("B"))
    won = {"outcome": "won"}
    on(date(*apr, 5), "change",
       lambda q: q.stripe.control(f"disputes/{q.disputes['C']}/close", won))  # fmt: skip
    on(date(*apr, 8), "change", lambda q: q.cancel("A"))
    return days


def tell(q: Quarter, first: date, last: date) -> None:
    """Each day from ``first`` to ``last``: its phases at their hours, the renewals due,
    every event applied; then what Stripe holds, for the independent recomputation."""
    days = story()
    day = first
    while day <= last:
        phases = days.get(day, {})
        due = any(
            s["status"] in ("active", "trialing")
            and s["items"]["data"][0]["current_period_end"] <= epoch(day, 12)
            for s in (q.snapshots[-1][1] if q.snapshots else [])
        )
        if phases or due:
            for hour, phase in ((6, "start"), (12, "renewals"), (18, "change")):
                q.clock(epoch(day, hour))
                if phase == "renewals":
                    q.renew_due(epoch(day, hour))
                for action in phases.get(phase, []):
                    action(q)
            q.settle()
            q.snapshots.append((epoch(day, 18), q.listed()))
        day += timedelta(days=1)


@pytest.fixture(scope="module")
def quarter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Quarter]:
    stack = start_stack(tmp_path_factory.mktemp("quarter"))
    try:
        stripe = Stripe(stack)
        stack.admin("project", "create", "--id", PROJECT, "--name", "quarter", "--origin", ORIGIN)
        stripe.control("clock", {"now": epoch(date(YEAR - 1, 12, 1))})
        for price_id, (amount, currency, recurring) in PRICES.items():
            stripe.control(
                "prices",
                {"id": price_id, "unit_amount": amount, "currency": currency,
                 "recurring": recurring},
            )  # fmt: skip
            # Nothing but the grant given: the amount, currency and interval are Stripe's.
            added = stack.admin("price", "add", "--project", PROJECT, "--price", price_id,
                                "--feature", "pro")  # fmt: skip
            assert (added["amount"], added["currency"]) == (amount, currency)
        for coupon_id, terms in COUPONS.items():
            stripe.post("coupons", {"id": coupon_id, **terms})
        key = stack.admin("app", "create", "--project", PROJECT, "--name", "quarter")["api_key"]
        q = Quarter(stack, stripe, str(key))
        q.failing = {"C": date(YEAR, 1, 2), "G": date(YEAR, 1, 16)}
        tell(q, date(YEAR - 1, 12, 2), date(YEAR, 3, 31))
        q.answers["before"] = {
            route: q.metrics(route, Q_START, Q_END) for route in ("revenue", "subscriptions")
        }
        tell(q, date(YEAR, 4, 1), date(YEAR, 4, 10))
        yield q
    finally:
        stack.stop()


# ---------------------------------------------------------------------- Stripe, recomputed
# This recomputation reads only the stand-in's objects (subscriptions with their discounts and
# latest invoices, invoices, payment intents, refunds, disputes, events) and shares no code
# with the service: it is the definitions in docs/metrics.md, written again.
PER_MONTH = {
    "day": Fraction(365, 12),
    "week": Fraction(52, 12),
    "month": Fraction(1),
    "year": Fraction(1, 12),
}


def half_up(value: Fraction, places: str = "1") -> Decimal:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def discount_in_force(sub: dict[str, Any], discount: dict[str, Any], moment: int) -> bool:
    coupon = discount["source"]["coupon"]
    if coupon["duration"] == "forever":
        return bool(discount["start"] <= moment)
    if coupon["duration"] == "repeating":
        return bool(discount["start"] <= moment < discount["end"])
    invoice = sub["latest_invoice"]  # once: the period of the invoice it took something off
    took = any(
        entry["discount"] == discount["id"] and entry["amount"] > 0
        for entry in invoice["total_discount_amounts"]
    )
    period_end = max(line["period"]["end"] for line in invoice["lines"]["data"])
    return took and moment < period_end


def pays(sub: dict[str, Any], moment: int) -> bool:
    if sub["status"] == "active":
        return True
    if sub["status"] == "past_due":
        invoice = sub["latest_invoice"]
        failed: int = invoice["status_transitions"]["finalized_at"] or invoice["created"]
        return moment < failed + GRACE_SECONDS
    return False


def customers_mrr(subs: list[dict[str, Any]], moment: int) -> dict[tuple[str, str], int]:
    """(currency, user) -> MRR at second ``moment``, from Stripe's subscriptions."""
    exact: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    for sub in subs:
        if not pays(sub, moment):
            continue
        total = Fraction(0)
        for item in sub["items"]["data"]:
            price, recurring = item["price"], item["price"]["recurring"]
            every = PER_MONTH[recurring["interval"]] / recurring["interval_count"]
            total += Fraction(price["unit_amount"] * item["quantity"]) * every
        for discount in sub["discounts"]:
            if not discount_in_force(sub, discount, moment):
                continue
            coupon = discount["source"]["coupon"]
            if coupon["percent_off"] is not None:
                total *= 1 - Fraction(str(coupon["percent_off"])) / 100
            else:
                total -= Fraction(coupon["amount_off"]) * every
            total = max(total, Fraction(0))
        exact[(sub["currency"], sub["metadata"]["user_id"])] += total
    return {key: int(half_up(value)) for key, value in exact.items()}


def stripe_mrr_at(q: Quarter, moment: int) -> dict[tuple[str, str], int]:
    """Customers' MRR at ``moment`` (the second before it) from the latest snapshot then."""
    taken = [subs for when, subs in q.snapshots if when <= moment - 1]
    return customers_mrr(taken[-1], moment - 1) if taken else {}


def stripe_figures(q: Quarter, since: datetime, until: datetime) -> dict[str, dict[str, Any]]:
    start, end = int(since.timestamp()), int(until.timestamp())
    figures: dict[str, dict[str, Any]] = {}

    def of(currency: str) -> dict[str, Any]:
        empty = {"gross": 0, "refunded": 0, "disputed": 0, "start": 0, "end": 0,
                 "paying_at_start": 0, "paying_at_end": 0,
                 "moves": defaultdict(int), "who": defaultdict(set)}  # fmt: skip
        return figures.setdefault(currency, empty)

    first, last = _stripe_movements(q, start, end, of)
    for key, value in first.items():
        of(key[0])["start"] += value
        of(key[0])["paying_at_start"] += value > 0
    for key, value in last.items():
        of(key[0])["end"] += value
        of(key[0])["paying_at_end"] += value > 0
    inside = range(start, end)
    _stripe_gross(q, inside, of)
    _stripe_refunded_and_disputed(q, inside, of)
    return {currency: _shaped(found) for currency, found in figures.items()}


Customers = dict[tuple[str, str], int]


def _stripe_movements(
    q: Quarter, start: int, end: int, of: Callable[[str], Any]
) -> tuple[Customers, Customers]:
    """Each customer sampled at the window's start, each midnight inside it and its end;
    the movements between samples; the first and last samples."""
    samples = [start, *range((start // 86_400 + 1) * 86_400, end, 86_400), end]
    earlier = range((q.snapshots[0][0] // 86_400 + 1) * 86_400, start, 86_400)
    paid_before = {
        key for moment in earlier for key, value in stripe_mrr_at(q, moment).items() if value
    }
    first = previous = stripe_mrr_at(q, start)
    for moment in samples[1:]:
        now = stripe_mrr_at(q, moment)
        for key in previous.keys() | now.keys():
            before, after = previous.get(key, 0), now.get(key, 0)
            if before == 0 and after > 0:
                kind = "reactivation" if key in paid_before else "new"
            elif before > 0 and after == 0:
                kind = "churned"
            else:
                kind = "expansion" if after > before else "contraction"
            if after != before:
                of(key[0])["moves"][kind] += abs(after - before)
                of(key[0])["who"][kind].add(key[1])
            if after:
                paid_before.add(key)
        previous = now
    return first, previous


def _stripe_gross(q: Quarter, inside: range, of: Callable[[str], Any]) -> None:
    """Invoices paid in the window, and one-time purchases (a payment intent naming its
    price) whose charge was made in it."""
    for invoice in q.stripe.get("invoices", limit=100, status="paid")["data"]:
        if invoice["amount_paid"] and invoice["status_transitions"]["paid_at"] in inside:
            of(invoice["currency"])["gross"] += invoice["amount_paid"]
    intents = q.stripe.get("payment_intents", limit=100, **{"expand[]": "data.latest_charge"})
    for intent in intents["data"]:
        one_time = "price_id" in intent["metadata"] and intent["status"] == "succeeded"
        if one_time and intent["latest_charge"]["created"] in inside:
            of(intent["currency"])["gross"] += intent["amount"]


def _stripe_refunded_and_disputed(q: Quarter, inside: range, of: Callable[[str], Any]) -> None:
    """Refunds made in the window less those that failed in it (Stripe's refund.failed);
    disputes opened in it (funds withdrawn) less those reinstated in it."""
    for refund in q.stripe.get("refunds", limit=100)["data"]:
        if refund["created"] in inside:
            of(refund["currency"])["refunded"] += refund["amount"]
    for dispute in q.stripe.get("disputes", limit=100)["data"]:
        if not dispute["status"].startswith("warning_") and dispute["created"] in inside:
            of(dispute["currency"])["disputed"] += dispute["amount"]
    for event_type, figure in (
        ("refund.failed", "refunded"),
        ("charge.dispute.funds_reinstated", "disputed"),
    ):
        for event in q.stripe.get("events", limit=100, type=event_type)["data"]:
            if event["created"] in inside:
                obj = event["data"]["object"]
                of(obj["currency"])[figure] -= obj["amount"]


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else float(half_up(Fraction(part, whole), "0.0001"))


def _shaped(found: dict[str, Any]) -> dict[str, Any]:
    moves, who = found["moves"], found["who"]
    start, end = found["start"], found["end"]
    kinds = ("new", "reactivation", "expansion", "contraction", "churned")
    return {
        "gross": found["gross"],
        "refunded": found["refunded"],
        "disputed": found["disputed"],
        "net": found["gross"] - found["refunded"] - found["disputed"],
        "mrr": end,
        "arr": end * 12,
        "mrr_start": start,
        "mrr_end": end,
        "movements": {kind: moves[kind] for kind in kinds},
        "customers": {
            "at_start": found["paying_at_start"],
            "at_end": found["paying_at_end"],
            "new": len(who["new"]),
            "reactivated": len(who["reactivation"]),
            "churned": len(who["churned"]),
        },
        "customer_churn_rate": _rate(len(who["churned"]), found["paying_at_start"]),
        "revenue_churn_rate": _rate(moves["churned"] + moves["contraction"], start),
    }


# ---------------------------------------------------------------------- the checks
def months() -> list[tuple[datetime, datetime]]:
    return [
        (datetime(YEAR, m, 1, tzinfo=UTC), datetime(YEAR, m + 1, 1, tzinfo=UTC)) for m in (1, 2, 3)
    ]


def test_the_quarter_matches_the_hand_computation_figure_by_figure(quarter: Quarter) -> None:
    revenue = quarter.metrics("revenue", Q_START, Q_END)
    subscriptions = quarter.metrics("subscriptions", Q_START, Q_END)
    assert revenue["currencies"] == HAND_QUARTER
    assert subscriptions["currencies"] == HAND_QUARTER
    assert subscriptions["counts_by_status"] == {"active": 6, "canceled": 2, "unpaid": 1}
    assert (subscriptions["total_active"], subscriptions["new"], subscriptions["churned"]) == (
        6,
        2,
        2,
    )
    for currency, found in revenue["currencies"].items():
        assert bridged_mrr_end(found) == found["mrr_end"], currency


def test_the_quarter_and_each_month_match_a_recomputation_from_stripes_objects(
    quarter: Quarter,
) -> None:
    assert stripe_figures(quarter, Q_START, Q_END) == HAND_QUARTER
    for since, until in months():
        recomputed = stripe_figures(quarter, since, until)
        served = quarter.metrics("revenue", since, until)["currencies"]
        assert served == recomputed, f"{since:%B}"
    end = [subs for when, subs in quarter.snapshots if when < int(Q_END.timestamp())][-1]
    statuses: dict[str, int] = defaultdict(int)
    for sub in end:
        statuses[sub["status"]] += 1
    served = quarter.metrics("subscriptions", Q_START, Q_END)
    assert served["counts_by_status"] == dict(statuses)


def test_the_same_window_asked_after_later_events_gives_the_same_answer(
    quarter: Quarter,
) -> None:
    """Asked on Mar 31, then after April's renewal, cancellations and the dispute won."""
    after = {
        route: quarter.metrics(route, Q_START, Q_END) for route in ("revenue", "subscriptions")
    }
    assert after == quarter.answers["before"]
    april = quarter.metrics("revenue", Q_END, datetime(YEAR, 4, 11, tzinfo=UTC))["currencies"]
    assert april["usd"]["disputed"] == -5000, "the dispute won in April counts in April"
    assert april["usd"]["movements"]["churned"] == 4500 + 5000, "B and A, in April"


def test_prices_were_registered_with_stripes_amounts(quarter: Quarter) -> None:
    listed = quarter.stack.admin("price", "list", "--project", PROJECT)
    assert {p["price_id"]: (p["amount"], p["currency"]) for p in listed} == {
        price_id: (amount, currency) for price_id, (amount, currency, _) in PRICES.items()
    }
