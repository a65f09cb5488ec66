"""One subscription's MRR (billing.domain.mrr): normalization to a month, which statuses pay,
the grace of a past-due subscription, and each discount duration at the edges of its window."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest

from billing.domain.billing_facts import (
    Owner,
    RecurringPrice,
    SubscriptionDiscount,
    SubscriptionFact,
)
from billing.domain.mrr import (
    discount_windows,
    per_month,
    state_mrr,
    subscription_series,
    timeline_of,
)
from billing.domain.status_history import BASELINE, StatusEntry
from billing.domain.tenancy import Price

DAY = 86_400
T0 = 1_790_000_000
GRACE = 3 * DAY
MONTHLY_USD = RecurringPrice(900, "usd", "month")


def state(status: str = "active", version: int = T0, **fields: Any) -> SubscriptionFact:
    base = SubscriptionFact(
        stripe_id="sub_1",
        owner=Owner("1", "u1"),
        customer_id="cus_1",
        status=status,
        price_ids=("price_a",),
        started_at=T0,
        period_end=T0 + 30 * DAY,
        cancel_at_period_end=False,
        trial_end=None,
        payment_failed_at=None,
        version=version,
        quantities=(1,),
        terms=(MONTHLY_USD,),
        period_start=T0,
    )
    return replace(base, **fields)


def entries(*states: SubscriptionFact) -> list[StatusEntry]:
    return [StatusEntry(s, s.version, f"evt_{n}") for n, s in enumerate(states)]


def mrr_of(fact: SubscriptionFact, at: int, timeline: list[StatusEntry] | None = None) -> Any:
    windows = discount_windows(timeline or entries(fact))
    found = state_mrr(fact, at, windows=windows, grace_seconds=GRACE, prices={})
    return found[1] if found else None


# ---------------------------------------------------------------------- normalization
@pytest.mark.parametrize(
    ("interval", "count", "expected"),
    [
        ("day", 1, Fraction(1200 * 365, 12)),
        ("week", 1, Fraction(1200 * 52, 12)),
        ("week", 2, Fraction(1200 * 52, 24)),
        ("month", 1, Fraction(1200)),
        ("month", 3, Fraction(400)),
        ("year", 1, Fraction(100)),
        ("year", 2, Fraction(50)),
    ],
)
def test_each_interval_is_normalized_to_a_month_exactly(
    interval: str, count: int, expected: Fraction
) -> None:
    assert per_month(1200, interval, count) == expected
    terms = RecurringPrice(400, "usd", interval, count)
    assert mrr_of(state(terms=(terms,), quantities=(3,)), T0) == expected


def test_items_add_up_and_an_unkept_price_counts_at_the_registered_amount() -> None:
    fact = state(
        price_ids=("price_a", "price_b", "price_old"),
        quantities=(2, 1, 1),
        terms=(MONTHLY_USD, RecurringPrice(12_000, "usd", "year"), None),
    )
    registered = {"price_old": Price("price_old", "1", ("x",), 300, "usd", "month")}
    found = state_mrr(fact, T0, windows={}, grace_seconds=GRACE, prices=registered)
    assert found == ("usd", Fraction(1800 + 1000 + 300))


# ---------------------------------------------------------------------- who pays
@pytest.mark.parametrize(
    ("status", "pays"),
    [
        ("active", True),
        ("past_due", True),
        ("trialing", False),
        ("unpaid", False),
        ("paused", False),
        ("incomplete", False),
        ("incomplete_expired", False),
        ("canceled", False),
    ],
)
def test_only_active_and_past_due_inside_the_grace_pay(status: str, pays: bool) -> None:
    assert (mrr_of(state(status, payment_failed_at=T0), T0) is not None) is pays


def test_a_past_due_subscription_pays_until_its_grace_runs_out_from_the_first_failure() -> None:
    failed = state("past_due", version=T0 + 5 * DAY, payment_failed_at=T0 + 2 * DAY)
    assert mrr_of(failed, T0 + 5 * DAY - 1) == 900
    assert mrr_of(failed, T0 + 2 * DAY + GRACE - 1) == 900
    assert mrr_of(failed, T0 + 2 * DAY + GRACE) is None


# ---------------------------------------------------------------------- discounts
def half(duration: str = "forever", start: int = T0, end: int | None = None) -> Any:
    return SubscriptionDiscount("di_half", duration, start, end, "50")


def off(amount: int, currency: str = "usd", start: int = T0) -> SubscriptionDiscount:
    return SubscriptionDiscount("di_off", "forever", start, None, None, amount, currency)


def test_percent_multiplies_and_amount_subtracts_per_invoice_normalized_never_below_0() -> None:
    assert mrr_of(state(discounts=(half(),)), T0) == 450
    yearly = state(terms=(RecurringPrice(12_000, "usd", "year"),))
    assert mrr_of(replace(yearly, discounts=(off(2_400),)), T0) == 1000 - 200
    assert mrr_of(state(discounts=(off(5_000),)), T0) == 0
    assert mrr_of(state(discounts=(off(100, "eur"),)), T0) == 900, "another currency's"
    both = state(discounts=(half(), off(100)))
    assert mrr_of(both, T0) == 350, "in the order listed: 900 x 50 % - 100"


def test_an_unknown_discount_takes_nothing_off() -> None:
    assert mrr_of(state(discounts=(SubscriptionDiscount("di_ids_only"),)), T0) == 900


def test_forever_is_in_force_from_its_start_on() -> None:
    fact = state(discounts=(half(start=T0 + 10),))
    assert mrr_of(fact, T0 + 9) == 900
    assert mrr_of(fact, T0 + 10) == 450
    assert mrr_of(fact, T0 + 900 * DAY) == 450


def test_repeating_is_in_force_from_its_start_to_its_end() -> None:
    fact = state(discounts=(half("repeating", T0, T0 + 90 * DAY),))
    assert mrr_of(fact, T0) == 450
    assert mrr_of(fact, T0 + 90 * DAY - 1) == 450
    assert mrr_of(fact, T0 + 90 * DAY) == 900


def test_once_covers_the_first_period_billed_with_it() -> None:
    fact = state(discounts=(half("once", T0 + 1),))  # applied with the subscription
    assert mrr_of(fact, T0 + 1) == 450
    assert mrr_of(fact, T0 + 30 * DAY - 1) == 450
    assert mrr_of(fact, T0 + 30 * DAY) == 900


def test_once_applied_in_mid_period_discounts_the_next_period() -> None:
    applied = T0 + 10 * DAY
    first = state(version=applied, discounts=(half("once", applied),))
    renewed = state(
        version=T0 + 30 * DAY,
        period_start=T0 + 30 * DAY,
        period_end=T0 + 60 * DAY,
        discounts=(half("once", applied),),
    )
    timeline = entries(state(), first, renewed)
    assert mrr_of(first, applied, timeline) == 900, "the period already paid in full"
    assert mrr_of(renewed, T0 + 30 * DAY, timeline) == 450
    assert mrr_of(renewed, T0 + 60 * DAY - 1, timeline) == 450
    assert mrr_of(renewed, T0 + 60 * DAY, timeline) == 900


def test_once_during_a_trial_discounts_the_first_paid_period() -> None:
    coupon = half("once", T0)
    trial = state("trialing", trial_end=T0 + 14 * DAY, period_end=T0 + 14 * DAY,
                  discounts=(coupon,))  # fmt: skip
    paid = state(
        version=T0 + 14 * DAY,
        period_start=T0 + 14 * DAY,
        period_end=T0 + 44 * DAY,
        discounts=(coupon,),
    )
    timeline = entries(trial, paid)
    assert mrr_of(paid, T0 + 14 * DAY, timeline) == 450
    assert mrr_of(paid, T0 + 44 * DAY, timeline) == 900


def test_once_without_a_known_period_start_covers_the_period_it_began_in() -> None:
    fact = state(period_start=None, discounts=(half("once", T0 + 5 * DAY),))
    assert mrr_of(fact, T0 + 5 * DAY) == 450
    assert mrr_of(fact, T0 + 30 * DAY) == 900


def test_a_discount_removed_from_the_subscription_is_no_longer_in_force() -> None:
    with_it = state(discounts=(half(),))
    without = state(version=T0 + 5 * DAY)
    timeline = entries(with_it, without)
    series = subscription_series(timeline, grace_seconds=GRACE, prices={})
    assert series.mrr.at(T0 + 5 * DAY - 1) == 450
    assert series.mrr.at(T0 + 5 * DAY) == 900


def test_a_coupons_terms_learnt_later_apply_to_earlier_states_listing_it() -> None:
    """A trial's payload named the discount by id only; the read at conversion knew it."""
    trial = state("trialing", discounts=(SubscriptionDiscount("di_half"),))
    paid = state(version=T0 + 14 * DAY, period_start=T0 + 14 * DAY, discounts=(half(),))
    series = subscription_series(entries(trial, paid), grace_seconds=GRACE, prices={})
    assert series.mrr.at(T0 + 14 * DAY) == 450


# ---------------------------------------------------------------------- over time
def test_the_series_steps_where_a_state_a_discount_or_a_grace_changes() -> None:
    timeline = entries(
        state(discounts=(half("repeating", T0, T0 + 20 * DAY),)),
        state("past_due", version=T0 + 30 * DAY, payment_failed_at=T0 + 30 * DAY),
        state("unpaid", version=T0 + 40 * DAY),
    )
    series = subscription_series(timeline, grace_seconds=GRACE, prices={})
    assert series.currency == "usd"
    assert [(t - T0) // DAY for t in series.mrr.times] == [0, 20, 30, 33, 40]
    assert list(series.mrr.values) == [450, 900, 900, 0, 0]
    assert series.mrr.at(T0 - 1) == 0, "nothing before its first state"


def test_states_of_the_same_second_and_version_follow_the_order_they_were_written() -> None:
    """A repair observed in the second of the event it corrects: same moment, same version;
    the later write is the later state, whatever order the store lists them in."""
    written = datetime(2027, 1, 1, tzinfo=UTC)
    first = StatusEntry(state("active", T0), T0, "evt_zz", written)
    repair = StatusEntry(
        state("canceled", T0), T0, "evt_reconcile_r", written + timedelta(seconds=1)
    )
    for listed in ([first, repair], [repair, first]):
        assert [e.subscription.status for e in timeline_of(listed)] == ["active", "canceled"]
    baseline = StatusEntry(state("active", T0), T0, BASELINE, written)
    change = StatusEntry(state("past_due", T0), T0, "evt_a", written)  # one transaction
    assert timeline_of([change, baseline]) == [baseline, change]
