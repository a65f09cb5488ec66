"""Balances of limited features: limits that add up, periods that start over by themselves,
credits that expire, and what recording a usage checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from billing.domain.allowances import Allowance, FeatureLimit, validate_feature_limits
from billing.domain.entitlements import EntitlementSource, evaluate
from billing.domain.usage import (
    COUNTER_RETENTION,
    MAX_QUANTITY,
    UsageRequest,
    balance_of,
    balances,
    checked_feature,
    counted,
    counters_expire_at,
    fits,
    meter_identifier,
    stale_counters,
    usable_balance,
    validate_usage,
)
from billing.errors import ValidationError

NOW = datetime(2026, 12, 8, 15, 30, tzinfo=UTC)
PERIOD_START = datetime(2026, 11, 20, 9, tzinfo=UTC)
PERIOD_END = datetime(2026, 12, 20, 9, tzinfo=UTC)


def plan(
    limit: int = 50_000, reset: str = "billing_period", **changes: object
) -> EntitlementSource:
    """A subscription's source of ``api_calls`` limited per billing period."""
    source = EntitlementSource(
        feature_code="api_calls",
        source="subscription",
        source_id="sub_1",
        valid_from=PERIOD_START - timedelta(days=60),
        valid_to=PERIOD_END,
        active_until=PERIOD_END + timedelta(hours=2),
        allowance=FeatureLimit("api_calls", limit, reset, "api_requests").allowance(  # type: ignore[arg-type]
            PERIOD_START, PERIOD_END
        ),
    )
    return replace(source, **changes)  # type: ignore[arg-type]


def credits(quantity: int = 1_000, valid_to: datetime | None = None) -> EntitlementSource:
    """Support's grant of ``quantity`` more, until ``valid_to``."""
    return EntitlementSource(
        feature_code="api_calls",
        source="manual",
        source_id="grant_1",
        valid_from=NOW - timedelta(days=1),
        valid_to=valid_to,
        allowance=Allowance(quantity, "never"),
    )


def test_a_plans_limit_counts_in_the_subscriptions_current_period() -> None:
    balance = balance_of([plan()], "api_calls", NOW, {"api_calls#bp:1797757200": 120})
    assert balance is not None
    assert (balance.limit, balance.used, balance.remaining) == (50_000, 120, 49_880)
    assert balance.period.end == PERIOD_END
    assert balance.period.start == PERIOD_START
    assert balance.counter == f"api_calls#bp:{int(PERIOD_END.timestamp())}"
    assert (balance.meter, balance.metered_source_id) == ("api_requests", "sub_1")


def test_a_grant_of_credits_raises_the_limit_of_the_plans_period() -> None:
    alone = balance_of([plan()], "api_calls", NOW, {})
    with_grant = balance_of([plan(), credits(1_000)], "api_calls", NOW, {})
    assert alone is not None and with_grant is not None
    assert with_grant.limit == alone.limit + 1_000
    assert with_grant.counter == alone.counter  # the grant changes no period: used stays


def test_credits_that_expire_stop_counting_in_the_limit() -> None:
    expiring = credits(1_000, valid_to=NOW + timedelta(hours=1))
    before = balance_of([plan(), expiring], "api_calls", NOW, {})
    after = balance_of([plan(), expiring], "api_calls", NOW + timedelta(hours=1), {})
    assert before is not None and after is not None
    assert (before.limit, after.limit) == (51_000, 50_000)
    alone = [expiring]
    assert balance_of(alone, "api_calls", NOW + timedelta(hours=1), {}) is None
    with pytest.raises(ValidationError) as refused:
        usable_balance(alone, "api_calls", NOW + timedelta(hours=1), {})
    assert refused.value.field == "feature_code"
    assert "not active" in refused.value.reason


def test_a_new_period_starts_at_zero_without_any_sweep() -> None:
    counters = {f"api_calls#bp:{int(PERIOD_END.timestamp())}": 50_000}
    now_full = balance_of([plan()], "api_calls", NOW, counters)
    renewed_end = PERIOD_END + timedelta(days=30)
    renewed = plan(
        allowance=Allowance(50_000, "billing_period", "api_requests", PERIOD_END, renewed_end),
        valid_to=renewed_end,
        active_until=renewed_end,
    )
    next_period = balance_of([renewed], "api_calls", PERIOD_END + timedelta(seconds=1), counters)
    assert now_full is not None and next_period is not None
    assert now_full.remaining == 0
    assert (next_period.used, next_period.remaining) == (0, 50_000)
    assert next_period.period.end == renewed_end


@pytest.mark.parametrize(
    ("reset", "moment", "key", "resets_at"),
    [
        ("day", NOW, "d:2026-12-08", datetime(2026, 12, 9, tzinfo=UTC)),
        ("day", datetime(2026, 12, 8, 23, 59, 59, tzinfo=UTC), "d:2026-12-08", None),
        ("day", datetime(2026, 12, 9, tzinfo=UTC), "d:2026-12-09", None),
        ("month", NOW, "m:2026-12", datetime(2027, 1, 1, tzinfo=UTC)),
        ("month", datetime(2026, 11, 30, 23, 59, tzinfo=UTC), "m:2026-11", None),
        ("month", datetime(2027, 2, 14, tzinfo=UTC), "m:2027-02", datetime(2027, 3, 1, tzinfo=UTC)),
    ],
)
def test_calendar_resets_count_per_utc_day_and_month(
    reset: str, moment: datetime, key: str, resets_at: datetime | None
) -> None:
    source = plan(reset=reset, valid_to=None, active_until=None)
    balance = balance_of([source], "api_calls", moment, {})
    assert balance is not None
    assert balance.period.key == key
    if resets_at is not None:
        assert balance.period.end == resets_at


def test_the_shortest_reset_sets_the_period_when_sources_differ() -> None:
    daily = replace(credits(), allowance=Allowance(100, "day"))
    balance = balance_of([plan(), daily], "api_calls", NOW, {})
    assert balance is not None
    assert balance.period.key == "d:2026-12-08"
    assert balance.limit == 50_100


def test_a_feature_that_never_resets_counts_from_its_earliest_active_source() -> None:
    first = credits(500)
    second = replace(credits(300), source="purchase", source_id="pi_2", valid_from=NOW)
    balance = balance_of([first, second], "api_calls", NOW + timedelta(minutes=1), {})
    assert balance is not None
    assert balance.period.key == f"n:{int(first.valid_from.timestamp())}"
    assert balance.period.end is None
    assert balance.limit == 800
    assert balance.to_api()["resets_at"] is None


def test_a_grant_replacing_an_expired_one_starts_a_fresh_count() -> None:
    old = credits(100, valid_to=NOW)
    new = replace(credits(100), source_id="grant_1", valid_from=NOW + timedelta(minutes=5))
    before = balance_of([old], "api_calls", NOW - timedelta(minutes=1), {})
    after = balance_of([new], "api_calls", NOW + timedelta(minutes=6), {})
    assert before is not None and after is not None
    assert before.counter != after.counter


def test_sources_without_a_limit_add_nothing_and_a_feature_without_any_takes_no_usage() -> None:
    unlimited = replace(credits(), allowance=None, source_id="grant_2")
    balance = balance_of([plan(), unlimited], "api_calls", NOW, {})
    assert balance is not None and balance.limit == 50_000
    with pytest.raises(ValidationError) as refused:
        usable_balance([unlimited], "api_calls", NOW, {})
    assert (refused.value.field, "has no limit" in refused.value.reason) == ("feature_code", True)
    with pytest.raises(ValidationError) as unknown:
        usable_balance([plan()], "exports", NOW, {})
    assert "has no feature exports" in unknown.value.reason


def test_a_refunded_or_canceled_source_gives_nothing() -> None:
    canceled = plan(in_force=False, reason="canceled")
    assert balance_of([canceled], "api_calls", NOW, {}) is None
    assert balances([canceled, credits(10)], NOW, {})[0].limit == 10


def test_over_the_limit_the_figures_show_the_overage() -> None:
    balance = balance_of([plan(limit=100)], "api_calls", NOW, {})
    assert balance is not None
    request = UsageRequest("1", "u", "api_calls", 130, "k")
    assert not fits(balance, 130)
    after = counted(balance, request, NOW).to_api()
    assert (after["used"], after["remaining"], after["overage"]) == (130, 0, 30)


def test_the_check_answer_carries_the_balance_of_a_limited_feature_only() -> None:
    sources = [plan(), replace(credits(), feature_code="pro", allowance=None)]
    views = evaluate(sources, NOW)
    found = balances(sources, NOW, {})
    limited = checked_feature(views, found, "api_calls")
    assert limited["limit"] == 50_000 and limited["remaining"] == 50_000
    assert limited["resets_at"] == "2026-12-20T09:00:00Z"
    assert "limit" not in checked_feature(views, found, "pro")


def test_stale_counters_are_pruned_and_the_counters_expire_after_their_last_period() -> None:
    names = ["a#d:2026-09-01", "a#m:2026-12", f"a#bp:{int(PERIOD_END.timestamp())}"]
    assert stale_counters(names, NOW) == ["a#d:2026-09-01"]
    assert counters_expire_at(names) == datetime(2027, 1, 1, tzinfo=UTC) + COUNTER_RETENTION
    assert counters_expire_at([*names, "a#n:1700000000"]) is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": -5}, "quantity"),
        ({"quantity": MAX_QUANTITY + 1}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "a b"}, "idempotency_key"),
        ({"idempotency_key": "k" * 256}, "idempotency_key"),
        ({"feature_code": "API CALLS"}, "feature_code"),
        ({"user_id": "a/b"}, "user_id"),
    ],
)
def test_a_usage_request_names_its_bad_field(changes: dict[str, object], field: str) -> None:
    request = replace(UsageRequest("1", "u", "api_calls", 1, "k"), **changes)  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as refused:
        validate_usage(request)
    assert refused.value.field == field


def test_a_meter_identifier_is_stable_and_fits_stripes_100_characters() -> None:
    key = "1#" + "k" * 255
    assert meter_identifier(key) == meter_identifier(key)
    assert meter_identifier(key) != meter_identifier("1#other")
    assert len(meter_identifier(key)) <= 100


TWO_LIMITS = (FeatureLimit("api_calls", 1, "never"), FeatureLimit("api_calls", 2, "day"))


@pytest.mark.parametrize(
    ("limits", "recurring", "field"),
    [
        ((FeatureLimit("nope", 1, "never"),), True, "limit"),
        (
            (FeatureLimit("api_calls", 1, "never"), FeatureLimit("api_calls", 2, "day")),
            True,
            "limit",
        ),
        ((FeatureLimit("api_calls", -1, "never"),), True, "limit"),
        ((FeatureLimit("api_calls", 1, "weekly"),), True, "reset"),  # type: ignore[arg-type]
        ((FeatureLimit("api_calls", 1, "billing_period"),), False, "reset"),
        ((FeatureLimit("api_calls", 1, "day", "api requests"),), True, "meter"),
        ((FeatureLimit("api_calls", 1, "day", "api_requests"),), False, "meter"),
    ],
)
def test_a_prices_limits_are_checked(
    limits: tuple[FeatureLimit, ...], recurring: bool, field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        validate_feature_limits(limits, ("api_calls", "pro"), recurring=recurring)
    assert refused.value.field == field
