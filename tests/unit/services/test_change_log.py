"""The change log (issue #22): every writer of a (project, user) record appends the state it
left, under the record's own version, in the record's transaction; history reads it back."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing import wiring
from billing.adapters.dynamo.change_log import ChangeLogModel, change_log_item
from billing.domain.billing_facts import Owner
from billing.domain.change_log import (
    ChangeCause,
    ChangeEntry,
    change_payload,
    reconciliation_cause,
    state_at,
)
from billing.domain.cursors import CursorSeal
from billing.domain.entitlements import EntitlementSource
from billing.domain.grants import GrantRequest
from billing.domain.ledger import FactChange, LedgerChange
from billing.domain.stripe_events import parse_event
from billing.domain.tenancy import Price
from billing.errors import DependencyUnavailableError, ValidationError
from billing.services import engine, grants, history, tenancy
from tests.support import stripe_events as se
from tests.unit.conftest import AUDIT_CURSOR_KEY

T0 = datetime(2026, 11, 26, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


def at(hours: float) -> datetime:
    return T0 + hours * HOUR


@pytest.fixture
def project(aws: dict[str, str]) -> None:
    tenancy.create_project(wiring.project_store(), name="space_journal", project_id=1, now=T0)
    wiring.price_store().put(Price("price_pro", "1", ("pro",), 900, "usd", "month"))
    wiring.price_store().put(Price("price_life", "1", ("pass",), 4900, "usd", "one_time"))


def _request(feature: str) -> GrantRequest:
    return GrantRequest("1", "user_42", feature, "support@example.com", "pilot")


def _stripe(event_type: str, obj: dict[str, object], moment: datetime, event_id: str) -> None:
    raw = se.event(event_type, obj, int(moment.timestamp()), event_id)
    assert engine.apply_event(raw, wiring.billing_ledger(), moment) is engine.Outcome.APPLIED


def _active(answer: dict[str, object]) -> dict[str, bool]:
    entitlements = answer["entitlements"]
    assert isinstance(entitlements, list)
    return {e["feature_code"]: e["active"] for e in entitlements}


# ---------------------------------------------------------------------- each writer appends
def test_a_grant_and_its_revoke_append_versions_1_and_2_naming_the_grant_and_who(
    project: None,
) -> None:
    store = wiring.grant_store()
    source, _ = grants.grant(wiring.project_store(), store, _request("beta"), app_id="a", now=at(1))
    grants.revoke(wiring.project_store(), store, _request("beta"), app_id="a", now=at(2))

    log = wiring.change_log()
    first, second = log.entry("1", "user_42", 1), log.entry("1", "user_42", 2)
    assert first is not None and second is not None
    actor = "support@example.com"
    assert first.cause == ChangeCause("grant", grant_id=source.source_id, actor=actor)
    assert second.cause == ChangeCause("revoke", grant_id=source.source_id, actor=actor)
    assert (first.at, second.at) == (at(1), at(2))
    assert [s.in_force for s in first.sources] == [True]
    assert [(s.in_force, s.reason) for s in second.sources] == [(False, "revoked")]
    assert store.read("1", "user_42")[1] == 2  # the record's version is the last entry's
    assert log.entry("1", "user_42", 3) is None


def test_a_stripe_event_appends_the_records_version_with_its_event_id(project: None) -> None:
    _stripe("customer.subscription.created", se.subscription(), at(1), "evt_sub_created")
    entry = wiring.change_log().entry("1", "user_42", 1)
    assert entry is not None
    assert entry.cause == ChangeCause("stripe_event", event_id="evt_sub_created")
    assert [(s.feature_code, s.source, s.source_id) for s in entry.sources] == [
        ("pro", "subscription", "sub_1")
    ]


def test_a_reconciliation_repair_names_its_run(project: None) -> None:
    _stripe("customer.subscription.created", se.subscription(), at(1), "evt_sub_created")
    ledger = wiring.billing_ledger()
    state = ledger.read(fact_ids=["sub_1"], owner=Owner("1", "user_42"))
    assert state.record is not None
    fact = state.facts["sub_1"]
    event = parse_event(se.event("customer.subscription.updated", se.subscription(), 3))
    change = LedgerChange(
        event,
        (FactChange(dataclasses.replace(fact, version=fact.version + 1), fact.version),),
        state.record[0],
        state.record[1],
        cause=reconciliation_cause("run_1", event.event_id),
    )
    assert ledger.commit(change, at(2))
    entry = wiring.change_log().entry("1", "user_42", 2)
    assert entry is not None
    assert entry.cause.to_api() == {
        "kind": "reconciliation",
        "event_id": event.event_id,
        "run_id": "run_1",
    }


def test_an_entry_already_at_the_next_version_refuses_the_whole_change(project: None) -> None:
    """Written in the record's transaction: when the log cannot take the entry, neither the
    record nor the audit trail changes (the grant is retried, then answered 503)."""
    taken, _ = change_log_item(
        ChangeEntry("1", "user_42", 1, at(0), (), ChangeCause("grant", grant_id="x", actor="y"))
    )
    taken.save()
    with pytest.raises(DependencyUnavailableError):
        grants.grant(
            wiring.project_store(),
            wiring.grant_store(),
            _request("beta"),
            app_id="a",
            now=at(1),
            pause=lambda _seconds: None,
        )
    assert wiring.grant_store().read("1", "user_42") == ([], 0)
    assert wiring.grant_store().audit("1", "user_42", 10, None) == ([], None)
    assert ChangeLogModel.count("1#user_42") == 1


# ---------------------------------------------------------------------- history of a story
def _story() -> None:
    """A purchase, a grant, a subscription, the grant revoked, the purchase refunded, the
    subscription cancelled: hour 1 to 6 after T0."""
    session = se.checkout_session(payment_intent="pi_1", price_id="price_life")
    _stripe("checkout.session.completed", session, at(1), "evt_bought")
    store, projects = wiring.grant_store(), wiring.project_store()
    grants.grant(projects, store, _request("beta"), app_id="a", now=at(2))
    _stripe("customer.subscription.created", se.subscription(), at(3), "evt_subscribed")
    grants.revoke(projects, store, _request("beta"), app_id="a", now=at(4))
    refunded = se.charge("pi_1", amount=4900, amount_refunded=4900)
    _stripe("charge.refunded", refunded, at(5), "evt_refunded")
    canceled = se.subscription(status="canceled")
    _stripe("customer.subscription.deleted", canceled, at(6), "evt_canceled")


# hours after T0 -> what was active then (an inactive source listed as False)
EXPECTED = {
    0.5: {},
    1: {"pass": True},
    1.5: {"pass": True},
    2: {"pass": True, "beta": True},
    3: {"pass": True, "beta": True, "pro": True},
    4: {"pass": True, "beta": False, "pro": True},
    5: {"pass": False, "beta": False, "pro": True},
    6: {"pass": False, "beta": False, "pro": False},
    30: {"pass": False, "beta": False, "pro": False},
}


def test_history_answers_the_state_at_each_moment_of_a_story(project: None) -> None:
    _story()
    log = wiring.change_log()
    for hours, active in EXPECTED.items():
        assert _active(history.state_at(log, "1", "user_42", at(hours))) == active, hours
    refunded = history.state_at(log, "1", "user_42", at(5))
    (purchase,) = [e for e in refunded["entitlements"] if e["feature_code"] == "pass"]
    assert purchase["reason"] == "refunded"
    assert (refunded["version"], refunded["cause"]) == (
        5,
        {"kind": "stripe_event", "event_id": "evt_refunded"},
    )
    assert history.state_at(log, "1", "user_42", at(0.5))["version"] is None


def _page(user_id: str, since: datetime, until: datetime, limit: int, cursor: str | None) -> Any:
    return history.changes_between(
        wiring.change_log(),
        "1",
        user_id,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
        seal=CursorSeal([AUDIT_CURSOR_KEY]),
    )


def test_history_lists_the_changes_of_a_window_with_their_causes_a_page_at_a_time(
    project: None,
) -> None:
    _story()
    first = _page("user_42", at(2), at(5.5), 3, None)  # from 2h to 5.5h: four changes
    rest = _page("user_42", at(2), at(5.5), 3, first["next_cursor"])
    changes = first["changes"] + rest["changes"]
    assert rest["next_cursor"] is None
    assert [c["version"] for c in changes] == [2, 3, 4, 5]
    kinds = [c["cause"]["kind"] for c in changes]
    assert kinds == ["grant", "stripe_event", "revoke", "stripe_event"]
    assert [c["cause"].get("event_id") for c in changes] == [
        None, "evt_subscribed", None, "evt_refunded",
    ]  # fmt: skip
    assert {e["feature_code"]: e["active"] for e in changes[-1]["entitlements"]} == EXPECTED[5]
    (sixth,) = _page("user_42", at(6), at(6), 10, None)["changes"]  # until's second counts
    assert sixth["cause"]["event_id"] == "evt_canceled"


def test_a_history_cursor_is_good_only_for_its_user(project: None) -> None:
    _story()
    page = _page("user_42", at(0), at(7), 1, None)
    with pytest.raises(ValidationError) as refused:
        _page("user_7", at(0), at(7), 1, page["next_cursor"])
    assert refused.value.field == "cursor"


def test_a_cursor_asked_with_another_window_is_a_position_in_it(project: None) -> None:
    """A cursor is a position in the user's list: with a window that ends before it, nothing
    follows (DynamoDB refuses a start key outside the key condition, which was a 503); with
    one that starts after it, the page starts at the window's beginning."""
    _story()
    first = _page("user_42", at(0), at(7), 3, None)  # versions 1-3, position at 3h
    assert [c["version"] for c in first["changes"]] == [1, 2, 3]
    ended = _page("user_42", at(0), at(2.5), 3, first["next_cursor"])
    assert (ended["changes"], ended["next_cursor"]) == ([], None)
    later = _page("user_42", at(4.5), at(7), 3, first["next_cursor"])
    assert [c["version"] for c in later["changes"]] == [5, 6]
    inside = _page("user_42", at(2.5), at(7), 2, first["next_cursor"])
    assert [c["version"] for c in inside["changes"]] == [4, 5]


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [(at(2), at(1), "until"), (datetime(2026, 1, 1), at(1), "since")],
)
def test_a_window_that_is_not_one_is_refused_naming_the_field(
    project: None, since: datetime, until: datetime, field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        _page("user_42", since, until, 10, None)
    assert refused.value.field == field


# ---------------------------------------------------------------------- the domain's rules
def _entry(version: int, moment: datetime) -> ChangeEntry:
    return ChangeEntry("1", "u", version, moment, (), ChangeCause("grant", grant_id="g", actor="a"))


def test_a_change_is_in_force_from_its_second_and_the_highest_version_wins() -> None:
    late_in_second = _entry(1, T0 + timedelta(microseconds=900_000))
    same_second = _entry(2, T0 + timedelta(microseconds=950_000))
    assert state_at([late_in_second], T0) is late_in_second  # asked at its changed_at
    assert state_at([same_second, late_in_second], T0) is same_second
    assert state_at([late_in_second], T0 - timedelta(microseconds=1)) is None


def test_the_payload_carries_the_type_the_version_the_full_state_and_the_cause() -> None:
    grant = EntitlementSource("pro", "manual", "grant_1", T0, T0 + HOUR)
    entry = dataclasses.replace(_entry(7, T0), sources=(grant,))
    assert change_payload(entry) == {
        "type": "entitlements.updated",
        "timestamp": "2026-11-26T12:00:00Z",
        "data": {
            "project_id": "1",
            "user_id": "u",
            "version": 7,
            "changed_at": "2026-11-26T12:00:00Z",
            "cause": {"kind": "grant", "grant_id": "g", "actor": "a"},
            "entitlements": [
                {
                    "feature_code": "pro",
                    "active": True,
                    "source": "manual",
                    "source_id": "grant_1",
                    "valid_from": "2026-11-26T12:00:00Z",
                    "valid_to": "2026-11-26T13:00:00Z",
                }
            ],
        },
    }
