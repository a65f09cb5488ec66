"""Subscription and revenue figures of one project, from its status history and money facts.

Every figure is per currency, never summed across currencies, in the currency's minor unit.
The definitions (docs/metrics.md), as computed here:

- MRR of a subscription: billing.domain.mrr. A customer is a user of the project; the
  customer's MRR in a currency at a moment is the sum over their subscriptions, exact, then
  rounded half up to the minor unit. The project's MRR is the sum of its customers'.
- "MRR at a moment t": what was in force during the second before t, so that an event of
  second t counts in the window that starts at t (windows are [since, until)).
- Movements over a window: each customer is sampled at the window's start, at each UTC day
  boundary inside it, and at its end; between two samples a customer going from 0 to > 0 is
  ``new`` (no MRR ever before) or ``reactivation`` (had MRR before), from > 0 to more is
  ``expansion``, to less ``contraction``, from > 0 to 0 ``churned``. So MRR at start + new +
  reactivation + expansion - contraction - churned = MRR at end, exactly.
- Customer churn rate: customers with a churn in the window / paying customers at its start;
  revenue churn rate: (churned + contraction) / MRR at start; null when the start is 0.
- Revenue: ``gross`` is what invoice payments and one-time purchases paid in the window;
  ``refunded`` the refunds made in it (a refund that failed gives back: negative);
  ``disputed`` the funds disputes withdrew in it (a chargeback, not an inquiry) less those
  reinstated in it (a dispute won); ``net`` = gross - refunded - disputed.

Everything is read from what the history says was true at each moment: a later event never
changes a past window's figures (a late delivery about a past moment corrects it).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Any

from billing.domain.billing_facts import Fact, PaymentFact, PurchaseFact, SubscriptionFact
from billing.domain.clock import EARLIEST_INSTANT, to_iso, utc_instant
from billing.domain.mrr import (
    DAY_SECONDS,
    Steps,
    SubscriptionSeries,
    entitled,
    subscription_series,
    timeline_of,
)
from billing.domain.status_history import StatusEntry
from billing.domain.tenancy import Price
from billing.errors import ValidationError

DEFAULT_WINDOW = timedelta(days=30)
MAX_WINDOW = timedelta(days=366)
MOVEMENTS = ("new", "reactivation", "expansion", "contraction", "churned")
RATE_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    @property
    def start(self) -> int:
        return int(self.since.timestamp())

    @property
    def end(self) -> int:
        return int(self.until.timestamp())

    def holds(self, epoch: int | None) -> bool:
        return epoch is not None and self.start <= epoch < self.end

    def to_api(self) -> dict[str, str]:
        return {"since": to_iso(self.since), "until": to_iso(self.until)}

    def boundaries(self) -> list[int]:
        """The window's start, each UTC midnight inside it, and its end."""
        first_midnight = (self.start // DAY_SECONDS + 1) * DAY_SECONDS
        return [self.start, *range(first_midnight, self.end, DAY_SECONDS), self.end]


def window(since: datetime | None, until: datetime | None, now: datetime) -> Window:
    """[since, until): by default the 30 days before until (from 1970 on); at most 366 days;
    times need a timezone (and to lie in the years the API takes: :func:`utc_instant`)."""
    end = now.astimezone(UTC) if until is None else utc_instant(until, "until")
    start = (
        max(end - DEFAULT_WINDOW, EARLIEST_INSTANT)
        if since is None
        else utc_instant(since, "since")
    )
    if start >= end:
        raise ValidationError("since", "must be before until")
    if end - start > MAX_WINDOW:
        raise ValidationError("since", f"the window is at most {MAX_WINDOW.days} days")
    return Window(start, end)


def round_half_up(value: Fraction) -> int:
    """To the minor unit, half away from zero (amounts here are never negative)."""
    return int(
        (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
    )


def rate(part: int, whole: int) -> float | None:
    """part / whole, rounded half up to 4 places; None when ``whole`` is 0."""
    if whole == 0:
        return None
    exact = Decimal(part) / Decimal(whole)
    return float(exact.quantize(RATE_PLACES, rounding=ROUND_HALF_UP))


# ---------------------------------------------------------------------- the project over time
@dataclass(frozen=True)
class CustomerSeries:
    """One customer's MRR in one currency, rounded to the minor unit at every moment."""

    user_id: str
    mrr: Steps

    @property
    def first_paying(self) -> int | None:
        """The first moment the customer had MRR (None: never)."""
        return next((t for t, v in zip(self.mrr.times, self.mrr.values, strict=True) if v), None)

    def moves_within(self, first: int, last: int) -> bool:
        """Whether the MRR may differ between seconds ``first`` and ``last``."""
        return bisect_right(self.mrr.times, last) > bisect_right(self.mrr.times, first)


@dataclass
class ProjectHistory:
    """A project's subscriptions over time and its money facts: all its metrics need."""

    subscriptions: list[SubscriptionSeries]
    money: list[PurchaseFact | PaymentFact]
    prices: Mapping[str, Price]
    grace_seconds: int
    customers: dict[str, list[CustomerSeries]] = field(default_factory=dict)  # per currency

    def __post_init__(self) -> None:
        grouped: dict[tuple[str, str], list[SubscriptionSeries]] = defaultdict(list)
        for series in self.subscriptions:
            if series.currency is not None:
                grouped[(series.currency, series.user_id)].append(series)
        for (currency, user_id), owned in sorted(grouped.items()):
            times = sorted({t for s in owned for t in s.mrr.times})
            values = tuple(Fraction(round_half_up(sum((s.mrr.at(t) for s in owned), Fraction(0))))
                           for t in times)  # fmt: skip
            steps = Steps(tuple(times), values)
            self.customers.setdefault(currency, []).append(CustomerSeries(user_id, steps))


def project_history(
    facts: Iterable[Fact],
    history: Iterable[StatusEntry],
    prices: Mapping[str, Price],
    grace_days: int,
) -> ProjectHistory:
    """The project's history: each subscription's entries, or for a subscription stored
    before the history began and not changed since, its fact as one entry at its version."""
    facts = list(facts)
    entries: dict[str, list[StatusEntry]] = defaultdict(list)
    for entry in history:
        entries[entry.subscription.stripe_id].append(entry)
    for fact in facts:
        if isinstance(fact, SubscriptionFact) and fact.stripe_id not in entries:
            entries[fact.stripe_id].append(StatusEntry(fact, fact.version, "fact"))
    grace_seconds = grace_days * DAY_SECONDS
    series = [
        subscription_series(timeline_of(found), grace_seconds=grace_seconds, prices=prices)
        for _, found in sorted(entries.items())
    ]
    money = [f for f in facts if isinstance(f, PurchaseFact | PaymentFact)]
    return ProjectHistory(series, money, prices, grace_seconds)


# ---------------------------------------------------------------------- figures
@dataclass
class Movement:
    """What changed the MRR of one currency between two samples, and who."""

    amounts: Counter[str] = field(default_factory=Counter)
    customers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, other: Movement) -> None:
        self.amounts.update(other.amounts)
        for kind, users in other.customers.items():
            self.customers[kind] |= users


def mrr_at(history: ProjectHistory, currency: str, moment: int) -> tuple[int, int]:
    """The project's MRR in ``currency`` at ``moment`` (the second before it), and how many
    customers pay."""
    values = [c.mrr.at(moment - 1) for c in history.customers.get(currency, ())]
    return int(sum(values)), sum(1 for v in values if v)


def movement(history: ProjectHistory, currency: str, first: int, last: int) -> Movement:
    """The movements of ``currency`` between the samples at ``first`` and ``last``."""
    found = Movement()
    for customer in history.customers.get(currency, ()):
        if not customer.moves_within(first - 1, last - 1):
            continue
        before, after = int(customer.mrr.at(first - 1)), int(customer.mrr.at(last - 1))
        if before == after:
            continue
        if before == 0:
            began = customer.first_paying
            kind = "new" if began is None or began > first - 1 else "reactivation"
        elif after == 0:
            kind = "churned"
        else:
            kind = "expansion" if after > before else "contraction"
        found.amounts[kind] += abs(after - before)
        found.customers[kind].add(customer.user_id)
    return found


def _revenue(history: ProjectHistory, span: Window) -> dict[str, Counter[str]]:
    """gross, refunded and disputed per currency over the window."""
    found: dict[str, Counter[str]] = defaultdict(Counter)
    for fact in history.money:
        if isinstance(fact, PurchaseFact) and fact.payment != "paid":
            continue  # no money came in
        money = found[fact.currency]
        if span.holds(fact.paid_at):
            money["gross"] += fact.amount
        money["refunded"] += sum(change for at, change in fact.refunds if span.holds(at))
        for dispute in fact.disputes:
            if not dispute.withdraws_funds:
                continue
            if span.holds(dispute.opened_at):
                money["disputed"] += dispute.amount
            if dispute.status == "won" and span.holds(dispute.closed_at):
                money["disputed"] -= dispute.amount
    return found


def currency_figures(history: ProjectHistory, span: Window) -> dict[str, dict[str, Any]]:
    """Per currency: revenue, MRR at the start and end, movements, customers and churn."""
    revenue = _revenue(history, span)
    samples = span.boundaries()
    figures = {}
    for currency in sorted(set(history.customers) | set(revenue)):
        start, paying_at_start = mrr_at(history, currency, span.start)
        end, paying_at_end = mrr_at(history, currency, span.end)
        moved = Movement()
        for first, last in pairwise(samples):
            moved.add(movement(history, currency, first, last))
        money = revenue.get(currency, Counter())
        if not (start or end or any(moved.amounts.values()) or any(money.values())):
            continue
        amounts = {kind: moved.amounts[kind] for kind in MOVEMENTS}
        churned_customers = len(moved.customers["churned"])
        lost = amounts["churned"] + amounts["contraction"]
        figures[currency] = {
            "gross": money["gross"],
            "refunded": money["refunded"],
            "disputed": money["disputed"],
            "net": money["gross"] - money["refunded"] - money["disputed"],
            "mrr": end,
            "arr": end * 12,
            "mrr_start": start,
            "mrr_end": end,
            "movements": amounts,
            "customers": {
                "at_start": paying_at_start,
                "at_end": paying_at_end,
                "new": len(moved.customers["new"]),
                "reactivated": len(moved.customers["reactivation"]),
                "churned": churned_customers,
            },
            "customer_churn_rate": rate(churned_customers, paying_at_start),
            "revenue_churn_rate": rate(lost, start),
        }
    return figures


def _states_at(history: ProjectHistory, moment: int) -> list[SubscriptionFact]:
    """Each subscription as it stood at ``moment`` (those known by then)."""
    return [s for series in history.subscriptions if (s := series.state_at(moment)) is not None]


def subscription_report(history: ProjectHistory, span: Window) -> dict[str, Any]:
    """Statuses and access at the window's end (the second before ``until``), customers won
    and lost over it, and the per-currency figures."""
    states = _states_at(history, span.end - 1)
    active = [s for s in states if entitled(s, span.end - 1, history.grace_seconds)]
    by_price: dict[str, dict[str, Any]] = {}
    by_feature: Counter[str] = Counter()
    for sub in active:
        features: set[str] = set()
        for price_id in sub.price_ids:
            price = history.prices.get(price_id)
            codes = list(price.feature_codes) if price else []
            entry = by_price.setdefault(price_id, {"active": 0, "feature_codes": codes})
            entry["active"] += 1
            features.update(codes)
        by_feature.update(features)
    currencies = currency_figures(history, span)
    return {
        **span.to_api(),
        "counts_by_status": dict(sorted(Counter(s.status for s in states).items())),
        "total_active": len(active),
        "new": sum(c["customers"]["new"] for c in currencies.values()),
        "churned": sum(c["customers"]["churned"] for c in currencies.values()),
        "by_price": dict(sorted(by_price.items())),
        "by_feature": dict(sorted(by_feature.items())),
        "currencies": currencies,
    }


def revenue_report(history: ProjectHistory, span: Window) -> dict[str, Any]:
    return {**span.to_api(), "currencies": currency_figures(history, span)}


def daily_series(history: ProjectHistory, span: Window) -> list[dict[str, Any]]:
    """Per day of the window (UTC; the first and last may be partial): subscriptions giving
    access and MRR per currency at its end, and the day's MRR movements per currency."""
    samples = span.boundaries()
    currencies = sorted(history.customers)
    points = []
    for first, last in pairwise(samples):
        states = _states_at(history, last - 1)
        mrr: dict[str, int] = {}
        movements: dict[str, dict[str, int]] = {}
        for currency in currencies:
            value, _ = mrr_at(history, currency, last)
            moved = movement(history, currency, first, last)
            if value or any(moved.amounts.values()):
                mrr[currency] = value
                movements[currency] = {kind: moved.amounts[kind] for kind in MOVEMENTS}
        points.append(
            {
                "day": datetime.fromtimestamp(first, UTC).date().isoformat(),
                "active_subscriptions": sum(
                    1 for s in states if entitled(s, last - 1, history.grace_seconds)
                ),
                "mrr": mrr,
                "movements": movements,
            }
        )
    return points
