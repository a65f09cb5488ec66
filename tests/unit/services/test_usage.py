"""Recording usage against a fake of the usage store: counted once, enforced or over the limit,
replays answered as the first time, races decided by the write's conditions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.domain.allowances import Allowance
from billing.domain.entitlements import EntitlementSource
from billing.domain.usage import UsageRequest
from billing.errors import DependencyUnavailableError, ValidationError
from billing.services.usage import MAX_ATTEMPTS, record_usage
from tests.support.fakes import FakeUsageStore

NOW = datetime(2026, 12, 8, 15, 30, tzinfo=UTC)
USER = ("1", "user_42")


def daily(limit: int, **changes: object) -> EntitlementSource:
    fields: dict[str, object] = {
        "feature_code": "api_calls",
        "source": "subscription",
        "source_id": "sub_1",
        "valid_from": NOW - timedelta(days=3),
        "valid_to": None,
        "allowance": Allowance(limit, "day"),
        **changes,
    }
    return EntitlementSource(**fields)  # type: ignore[arg-type]


def store_with(*sources: EntitlementSource) -> FakeUsageStore:
    return FakeUsageStore(sources={USER: list(sources)})


def use(
    store: FakeUsageStore,
    quantity: int,
    key: str,
    *,
    enforce: bool = False,
    now: datetime = NOW,
    feature: str = "api_calls",
) -> tuple[str, dict[str, object]]:
    request = UsageRequest(*USER, feature, quantity, key, enforce)
    result = record_usage(store, request, now=now, pause=lambda _: None, clock=lambda: now)
    return result.outcome, result.body


def test_within_the_limit_a_usage_is_counted_with_what_remains() -> None:
    store = store_with(daily(100))
    outcome, body = use(store, 30, "req_1", enforce=True)
    assert outcome == "counted"
    assert (body["limit"], body["used"], body["remaining"], body["overage"]) == (100, 30, 70, 0)
    assert body["resets_at"] == "2026-12-09T00:00:00Z"
    assert body["replayed"] is False
    assert store.counters[USER] == {"api_calls#d:2026-12-08": 30}
    assert (store.reads, store.writes) == (1, 1)


def test_a_replay_counts_nothing_and_answers_the_first_answer() -> None:
    store = store_with(daily(100))
    _, first = use(store, 30, "req_1")
    use(store, 5, "req_2")
    outcome, again = use(store, 30, "req_1", now=NOW + timedelta(hours=23))
    assert outcome == "replayed"
    assert again == {**first, "replayed": True}
    assert store.counters[USER]["api_calls#d:2026-12-08"] == 35
    assert store.writes == 2  # the replay read the record and wrote nothing


def test_the_same_key_for_another_usage_is_refused_naming_the_key() -> None:
    store = store_with(daily(100))
    use(store, 30, "req_1")
    with pytest.raises(ValidationError) as refused:
        use(store, 31, "req_1")
    assert refused.value.field == "idempotency_key"
    assert store.counters[USER]["api_calls#d:2026-12-08"] == 30


def test_after_the_replay_window_the_same_key_counts_again() -> None:
    store = store_with(daily(1000, valid_from=NOW - timedelta(days=3)))
    use(store, 10, "req_1")
    outcome, _ = use(store, 10, "req_1", now=NOW + timedelta(hours=24, seconds=1))
    assert outcome == "counted"


def test_enforced_over_the_limit_is_refused_with_what_remains_and_counts_nothing() -> None:
    store = store_with(daily(100))
    use(store, 90, "req_1")
    outcome, body = use(store, 20, "req_2", enforce=True)
    assert outcome == "refused"
    assert (body["remaining"], body["requested"], body["used"]) == (10, 20, 90)
    assert "nothing was counted" in str(body["message"])
    assert store.counters[USER]["api_calls#d:2026-12-08"] == 90
    assert "1#req_2" not in store.records  # refused: the key stays free


def test_not_enforced_over_the_limit_is_counted_and_reported_as_overage() -> None:
    store = store_with(daily(100))
    use(store, 90, "req_1")
    outcome, body = use(store, 20, "req_2")
    assert outcome == "counted"
    assert (body["used"], body["remaining"], body["overage"]) == (110, 0, 10)


def test_the_count_starts_over_at_the_period_edge() -> None:
    store = store_with(daily(100))
    use(store, 100, "req_1", now=datetime(2026, 12, 8, 23, 59, 59, tzinfo=UTC))
    refused, _ = use(
        store, 1, "req_2", enforce=True, now=datetime(2026, 12, 8, 23, 59, 59, tzinfo=UTC)
    )
    next_day = datetime(2026, 12, 9, tzinfo=UTC)
    counted, body = use(store, 1, "req_3", enforce=True, now=next_day)
    assert (refused, counted) == ("refused", "counted")
    assert (body["used"], body["resets_at"]) == (1, "2026-12-10T00:00:00Z")


def test_a_grant_of_credits_raises_the_limit_at_once() -> None:
    store = store_with(daily(100))
    use(store, 100, "req_1")
    assert use(store, 50, "req_2", enforce=True)[0] == "refused"
    store.sources[USER].append(
        daily(50, source="manual", source_id="grant_1", allowance=Allowance(50, "never"))
    )
    outcome, body = use(store, 50, "req_3", enforce=True)
    assert outcome == "counted"
    assert (body["limit"], body["used"], body["remaining"]) == (150, 150, 0)


def test_credits_that_expire_take_no_usage_once_expired() -> None:
    credits = daily(
        10, source="manual", allowance=Allowance(10, "never"), valid_to=NOW + timedelta(hours=1)
    )
    store = store_with(credits)
    assert use(store, 4, "req_1", enforce=True)[0] == "counted"
    with pytest.raises(ValidationError) as expired:
        use(store, 1, "req_2", now=NOW + timedelta(hours=1))
    assert expired.value.field == "feature_code"
    assert store.counters[USER] == {f"api_calls#n:{int(credits.valid_from.timestamp())}": 4}


@pytest.mark.parametrize(
    ("sources", "feature", "reason"),
    [
        ((), "api_calls", "has no feature"),
        ((daily(5, allowance=None),), "api_calls", "has no limit"),
        ((daily(5, in_force=False, reason="canceled"),), "api_calls", "not active"),
        ((daily(5),), "exports", "has no feature"),
    ],
)
def test_usage_of_a_feature_without_a_limit_or_not_held_is_refused_naming_it(
    sources: tuple[EntitlementSource, ...], feature: str, reason: str
) -> None:
    store = store_with(*sources)
    with pytest.raises(ValidationError) as refused:
        use(store, 1, "req_1", feature=feature)
    assert refused.value.field == "feature_code"
    assert reason in refused.value.reason
    assert store.writes == 0


def test_a_caller_with_the_same_key_writing_first_gets_its_answer_replayed() -> None:
    store = store_with(daily(100))

    def first_caller() -> None:
        use(store, 30, "req_1")

    store.before_write = first_caller
    outcome, body = use(store, 30, "req_1")
    assert outcome == "replayed"
    assert store.counters[USER]["api_calls#d:2026-12-08"] == 30
    assert body["used"] == 30


def test_callers_reaching_the_limit_first_make_an_enforced_usage_refused_by_the_write() -> None:
    store = store_with(daily(100))

    def others() -> None:
        use(store, 95, "req_other")

    store.before_write = others
    outcome, body = use(store, 10, "req_1", enforce=True)
    assert outcome == "refused"
    assert (body["used"], body["remaining"]) == (95, 5)  # the counter as the write found it
    assert store.counters[USER]["api_calls#d:2026-12-08"] == 95


def test_a_conflicting_transaction_is_tried_again_then_503() -> None:
    store = store_with(daily(100))
    store.conflicts = 2
    assert use(store, 1, "req_1")[0] == "counted"
    assert store.writes == 3
    store.conflicts = MAX_ATTEMPTS
    with pytest.raises(DependencyUnavailableError):
        use(store, 1, "req_2")
    assert store.counters[USER]["api_calls#d:2026-12-08"] == 1


def test_stale_counters_are_pruned_by_the_next_usage() -> None:
    store = store_with(daily(100))
    store.counters[USER] = {"api_calls#d:2026-08-01": 7}
    use(store, 1, "req_1")
    assert store.counters[USER] == {"api_calls#d:2026-12-08": 1}
