"""Subscription and revenue figures of one project, computed from its billing facts.

Money stays in minor units, per currency, never summed across currencies. MRR normalizes each
price to a month (week: x52/12, year: /12, day: x365/12, divided by the interval count) and
counts subscriptions that pay now (``active``, ``past_due``; a trial pays nothing yet). The
daily series is rebuilt from start and end times: the service keeps no status history.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from billing.domain.billing_facts import Fact, PaymentFact, PurchaseFact, SubscriptionFact
from billing.domain.clock import to_iso, utc_instant
from billing.domain.tenancy import Price
from billing.errors import ValidationError

ENTITLED_STATUSES = frozenset({"active", "trialing", "past_due"})
PAYING_STATUSES = frozenset({"active", "past_due"})
_NEVER_STARTED = frozenset({"incomplete", "incomplete_expired"})
# Still in a trial or paused today: counted as alive, not as paying, on every day.
_NOT_PAYING_NOW = frozenset({"trialing", "paused"})
DEFAULT_WINDOW = timedelta(days=30)
MAX_WINDOW = timedelta(days=366)
_PER_MONTH = {
    "day": Fraction(365, 12),
    "week": Fraction(52, 12),
    "month": Fraction(1),
    "year": Fraction(1, 12),
}


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


def window(since: datetime | None, until: datetime | None, now: datetime) -> Window:
    """[since, until): by default the last 30 days; at most 366 days; times need a timezone
    (and to lie in the years the API takes: :func:`utc_instant`)."""
    end = now.astimezone(UTC) if until is None else utc_instant(until, "until")
    start = end - DEFAULT_WINDOW if since is None else utc_instant(since, "since")
    if start >= end:
        raise ValidationError("since", "must be before until")
    if end - start > MAX_WINDOW:
        raise ValidationError("since", f"the window is at most {MAX_WINDOW.days} days")
    return Window(start, end)


def monthly(price: Price, quantity: int = 1) -> Fraction:
    """What a price brings in a month, in its currency's minor unit (exact)."""
    if not price.recurring:
        return Fraction(0)
    return Fraction(price.amount * quantity) * _PER_MONTH[price.interval] / price.interval_count


def _round(value: Fraction) -> int:
    return int(
        (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
    )


def _subscriptions(facts: Iterable[Fact]) -> list[SubscriptionFact]:
    return [f for f in facts if isinstance(f, SubscriptionFact)]


def subscription_report(
    facts: Iterable[Fact], prices: Mapping[str, Price], span: Window
) -> dict[str, Any]:
    subs = _subscriptions(facts)
    entitled = [s for s in subs if s.status in ENTITLED_STATUSES]
    by_price: dict[str, dict[str, Any]] = {}
    by_feature: Counter[str] = Counter()
    for sub in entitled:
        features: set[str] = set()
        for price_id in sub.price_ids:
            price = prices.get(price_id)
            codes = list(price.feature_codes) if price else []
            entry = by_price.setdefault(price_id, {"active": 0, "feature_codes": codes})
            entry["active"] += 1
            features.update(codes)
        by_feature.update(features)
    return {
        **span.to_api(),
        "counts_by_status": dict(sorted(Counter(s.status for s in subs).items())),
        "total_active": len(entitled),
        "new": sum(1 for s in subs if span.holds(s.started_at)),
        "churned": sum(1 for s in subs if span.holds(s.ended_at)),
        "by_price": dict(sorted(by_price.items())),
        "by_feature": dict(sorted(by_feature.items())),
    }


def mrr(subs: Iterable[SubscriptionFact], prices: Mapping[str, Price]) -> dict[str, Fraction]:
    """Exact MRR per currency of the given subscriptions."""
    totals: dict[str, Fraction] = defaultdict(Fraction)
    for sub in subs:
        for index, price_id in enumerate(sub.price_ids):
            price = prices.get(price_id)
            if price is not None:
                totals[price.currency] += monthly(price, sub.quantity_of(index))
    return totals


def _money_in(facts: Iterable[Fact], span: Window) -> tuple[Counter[str], Counter[str]]:
    gross: Counter[str] = Counter()
    refunded: Counter[str] = Counter()
    for fact in facts:
        if isinstance(fact, PurchaseFact | PaymentFact):
            if isinstance(fact, PurchaseFact) and fact.status in ("pending", "failed"):
                continue  # no money came in
            if span.holds(fact.paid_at):
                gross[fact.currency] += fact.amount
            for at, amount in fact.refunds:
                if span.holds(at):
                    refunded[fact.currency] += amount
    return gross, refunded


def revenue_report(
    facts: Iterable[Fact], prices: Mapping[str, Price], span: Window
) -> dict[str, Any]:
    facts = list(facts)
    gross, refunded = _money_in(facts, span)
    paying = [s for s in _subscriptions(facts) if s.status in PAYING_STATUSES]
    recurring = {currency: _round(value) for currency, value in mrr(paying, prices).items()}
    currencies = sorted(set(gross) | set(refunded) | set(recurring))
    return {
        **span.to_api(),
        "currencies": {
            currency: {
                "gross": gross[currency],
                "refunded": refunded[currency],
                "net": gross[currency] - refunded[currency],
                "mrr": recurring.get(currency, 0),
                "arr": recurring.get(currency, 0) * 12,
            }
            for currency in currencies
        },
    }


def daily_series(
    facts: Iterable[Fact], prices: Mapping[str, Price], span: Window
) -> list[dict[str, Any]]:
    """Active subscriptions and MRR at the end of each day of the window (from start and end
    times; a subscription counts from its start until it ended)."""
    subs = [s for s in _subscriptions(facts) if s.status not in _NEVER_STARTED]
    points = []
    day = span.since
    while day < span.until:
        moment = min(int((day + timedelta(days=1)).timestamp()), span.end)
        alive = [
            s
            for s in subs
            if s.started_at <= moment and (s.ended_at is None or s.ended_at > moment)
        ]
        paying = [s for s in alive if s.status not in _NOT_PAYING_NOW]
        points.append(
            {
                "day": day.date().isoformat(),
                "active_subscriptions": len(alive),
                "mrr": {c: _round(v) for c, v in sorted(mrr(paying, prices).items())},
            }
        )
        day += timedelta(days=1)
    return points
