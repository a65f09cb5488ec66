"""Monthly recurring revenue of one subscription over time, from its status history.

A subscription pays while it is ``active``, or ``past_due`` inside the project's grace period
(counted from the first failed payment); never while ``trialing``, ``unpaid``, ``paused``,
``incomplete``, ``incomplete_expired`` or ``canceled``. What it pays per month, exactly
(Fraction, minor units of its currency):

    sum over items of unit_amount x quantity, normalized to a month: a day's x 365/12, a
    week's x 52/12, a month's x 1, a year's / 12, each divided by the interval count;

then each discount in force, in the order the subscription lists them: ``percent_off``
multiplies by (1 - percent/100), ``amount_off`` (an amount per invoice, in the
subscription's currency) is normalized to a month like the price and subtracted; never
below 0. A discount is in force while the subscription lists it and:

- ``forever``: from its start on;
- ``repeating``: from its start to its ``end`` (Stripe's: start + duration_in_months);
- ``once``: during the first billing period it applies to, the first paid period that
  starts at (or, by a minute, just before) its start or later: from the start of that period
  (the discount's start, when it was applied with the subscription) to that period's end.
  Stripe bills in advance, so a coupon applied in mid-period or during a trial discounts the
  next invoice, not the period already paid or free. Without a known period start (a fact
  stored before the service kept it): from its start to the first period end after it.

An item whose price terms were not kept from Stripe (a fact stored before the service kept
them) counts at the registered price's amount, if the project registered it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from billing.domain.billing_facts import RecurringPrice, SubscriptionDiscount, SubscriptionFact
from billing.domain.status_history import BASELINE, StatusEntry
from billing.domain.tenancy import Price

PER_MONTH = {
    "day": Fraction(365, 12),
    "week": Fraction(52, 12),
    "month": Fraction(1),
    "year": Fraction(1, 12),
}
PAYING = frozenset({"active", "past_due"})
ENTITLED = frozenset({"active", "trialing", "past_due"})
# A coupon applied with the subscription starts a second or so after its first period.
ONCE_TOLERANCE_SECONDS = 60
DAY_SECONDS = 86_400


def per_month(amount: int | Fraction, interval: str, interval_count: int = 1) -> Fraction:
    """What ``amount`` every ``interval_count`` ``interval``s is worth a month, exactly."""
    return Fraction(amount) * PER_MONTH[interval] / max(interval_count, 1)


def paying(state: SubscriptionFact, at: int, grace_seconds: int) -> bool:
    """Whether the subscription pays at second ``at`` (``past_due``: inside the grace)."""
    if state.status == "active":
        return True
    if state.status == "past_due":
        return at < grace_end(state, grace_seconds)
    return False


def entitled(state: SubscriptionFact, at: int, grace_seconds: int) -> bool:
    """Whether the subscription gives access at ``at`` by its status (``past_due``: inside
    the grace): what ``total_active`` counts."""
    if state.status == "past_due":
        return at < grace_end(state, grace_seconds)
    return state.status in ENTITLED


def grace_end(state: SubscriptionFact, grace_seconds: int) -> int:
    return (state.payment_failed_at or state.version) + grace_seconds


@dataclass(frozen=True)
class DiscountWindow:
    """When a discount takes something off (``end`` None: no end), with its coupon's terms."""

    discount: SubscriptionDiscount
    start: int
    end: int | None

    def holds(self, at: int) -> bool:
        return self.start <= at and (self.end is None or at < self.end)


def discount_windows(timeline: Sequence[StatusEntry]) -> dict[str, DiscountWindow]:
    """When each discount a subscription ever listed is in force (see the module's rules);
    a discount whose coupon was never known has none."""
    known: dict[str, tuple[SubscriptionDiscount, int]] = {}
    for entry in timeline:
        for discount in entry.subscription.discounts:
            if discount.known and discount.discount_id not in known:
                start = discount.start if discount.start is not None else entry.effective_at
                known[discount.discount_id] = (discount, start)
    windows = {}
    for discount_id, (discount, start) in known.items():
        if discount.duration == "forever":
            windows[discount_id] = DiscountWindow(discount, start, None)
        elif discount.duration == "repeating":
            windows[discount_id] = DiscountWindow(discount, start, discount.end)
        else:
            once = _first_billed_period(timeline, discount_id, start)
            if once is not None:
                windows[discount_id] = DiscountWindow(discount, *once)
    return windows


def _first_billed_period(
    timeline: Sequence[StatusEntry], discount_id: str, start: int
) -> tuple[int, int | None] | None:
    """The first paid period a ``once`` discount applies to, as (start, end)."""
    listing = [e.subscription for e in timeline if discount_id in _ids(e.subscription)]
    for state in listing:
        begun = state.period_start
        if state.status in PAYING and begun is not None and begun >= start - ONCE_TOLERANCE_SECONDS:
            return max(begun, start), state.period_end
    for state in listing:  # no period start kept: the period the discount began in
        if state.period_start is None and state.period_end is not None and state.period_end > start:
            return start, state.period_end
    return None


def _ids(state: SubscriptionFact) -> set[str]:
    return {d.discount_id for d in state.discounts}


def _terms(
    state: SubscriptionFact, index: int, prices: Mapping[str, Price]
) -> RecurringPrice | None:
    found = state.terms_of(index)
    if found is not None:
        return found
    price = prices.get(state.price_ids[index])  # a fact stored before terms were kept
    if price is None or not price.recurring:
        return None
    return RecurringPrice(price.amount, price.currency, price.interval, price.interval_count)


def state_mrr(
    state: SubscriptionFact,
    at: int,
    *,
    windows: Mapping[str, DiscountWindow],
    grace_seconds: int,
    prices: Mapping[str, Price],
) -> tuple[str, Fraction] | None:
    """(currency, exact MRR) of the subscription in ``state`` at second ``at``; None when it
    pays nothing then (or bills nothing known)."""
    if not paying(state, at, grace_seconds):
        return None
    currency: str | None = None
    billing: RecurringPrice | None = None
    total = Fraction(0)
    for index in range(len(state.price_ids)):
        terms = _terms(state, index, prices)
        if terms is None or (currency is not None and terms.currency != currency):
            continue  # Stripe bills one currency per subscription
        currency, billing = terms.currency, billing or terms
        total += per_month(terms.amount * state.quantity_of(index), terms.interval,
                           terms.interval_count)  # fmt: skip
    if currency is None or billing is None:
        return None
    for listed in state.discounts:
        window = windows.get(listed.discount_id)
        if window is None or not window.holds(at):
            continue
        discount = window.discount
        if discount.percent_off is not None:
            total *= 1 - Fraction(discount.percent_off) / 100
        elif discount.amount_off is not None and discount.currency == currency:
            total -= per_month(discount.amount_off, billing.interval, billing.interval_count)
        total = max(total, Fraction(0))
    return currency, total


# ---------------------------------------------------------------------- over time
def timeline_of(entries: Iterable[StatusEntry]) -> list[StatusEntry]:
    """One subscription's entries in the order they took effect; a tie: the later version,
    then the later write (a state stored before the history, written with its successor,
    first)."""

    def order(entry: StatusEntry) -> tuple[int, int, float, bool]:
        written = entry.recorded_at.timestamp() if entry.recorded_at else 0.0
        return entry.effective_at, entry.version, written, entry.cause != BASELINE

    return sorted(entries, key=order)


@dataclass(frozen=True)
class Steps:
    """A value that changes only at ``times`` (sorted): ``values[i]`` from ``times[i]`` until
    the next; 0 before the first."""

    times: tuple[int, ...]
    values: tuple[Fraction, ...]

    def at(self, moment: int) -> Fraction:
        index = bisect_right(self.times, moment) - 1
        return self.values[index] if index >= 0 else Fraction(0)


@dataclass(frozen=True)
class SubscriptionSeries:
    """One subscription over time: its states, the currency it bills in, its MRR steps."""

    subscription_id: str
    user_id: str
    timeline: tuple[StatusEntry, ...]
    currency: str | None
    mrr: Steps

    def state_at(self, moment: int) -> SubscriptionFact | None:
        """The state in force at second ``moment`` (None: not known yet)."""
        index = bisect_right([e.effective_at for e in self.timeline], moment) - 1
        return self.timeline[index].subscription if index >= 0 else None


def subscription_series(
    timeline: Sequence[StatusEntry], *, grace_seconds: int, prices: Mapping[str, Price]
) -> SubscriptionSeries:
    """The subscription's MRR at every moment, as steps: it changes only where a state takes
    effect, a discount's window opens or closes, or a past-due grace runs out."""
    windows = discount_windows(timeline)
    moments = {e.effective_at for e in timeline}
    for window in windows.values():
        moments.add(window.start)
        if window.end is not None:
            moments.add(window.end)
    for entry in timeline:
        if entry.subscription.status == "past_due":
            moments.add(grace_end(entry.subscription, grace_seconds))
    first = timeline[0].effective_at
    times = tuple(sorted(m for m in moments if m >= first))
    effective = [e.effective_at for e in timeline]
    values: list[Fraction] = []
    currency: str | None = None
    for moment in times:
        state = timeline[bisect_right(effective, moment) - 1].subscription
        found = state_mrr(state, moment, windows=windows, grace_seconds=grace_seconds,
                          prices=prices)  # fmt: skip
        if found is not None:
            currency = currency or found[0]
        values.append(found[1] if found is not None and found[0] == currency else Fraction(0))
    last = timeline[-1].subscription
    return SubscriptionSeries(last.stripe_id, last.owner.user_id, tuple(timeline), currency,
                              Steps(times, tuple(values)))  # fmt: skip
