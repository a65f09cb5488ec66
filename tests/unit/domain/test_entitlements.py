from datetime import UTC, datetime, timedelta

from billing.domain.entitlements import EntitlementSource, evaluate

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def source(**overrides: object) -> EntitlementSource:
    fields: dict[str, object] = {
        "feature_code": "pro",
        "source": "manual",
        "source_id": "grant_1",
        "valid_from": NOW - timedelta(days=1),
        "valid_to": None,
    }
    fields.update(overrides)
    return EntitlementSource(**fields)  # type: ignore[arg-type]


def test_a_source_without_end_is_active() -> None:
    (view,) = evaluate([source()], NOW)
    assert view.active
    assert view.to_api() == {
        "feature_code": "pro",
        "active": True,
        "source": "manual",
        "source_id": "grant_1",
        "valid_from": "2026-11-24T12:00:00Z",
        "valid_to": None,
    }


def test_a_source_whose_end_passed_is_inactive_at_read_time() -> None:
    (view,) = evaluate([source(valid_to=NOW - timedelta(seconds=1))], NOW)
    assert not view.active
    assert view.to_api()["reason"] == "expired"


def test_the_end_itself_is_exclusive() -> None:
    (view,) = evaluate([source(valid_to=NOW)], NOW)
    assert not view.active


def test_a_future_source_is_not_active_yet() -> None:
    (view,) = evaluate([source(valid_from=NOW + timedelta(hours=1))], NOW)
    assert (view.active, view.reason) == (False, "not_yet_valid")


def test_a_source_out_of_force_keeps_its_stored_reason() -> None:
    (view,) = evaluate([source(in_force=False, reason="revoked")], NOW)
    assert (view.active, view.to_api()["reason"]) == (False, "revoked")


def test_every_source_is_listed_in_a_stable_order() -> None:
    views = evaluate(
        [
            source(feature_code="pro", source="subscription", source_id="sub_1"),
            source(feature_code="export"),
            source(feature_code="pro"),
        ],
        NOW,
    )
    assert [(v.feature_code, v.source) for v in views] == [
        ("export", "manual"),
        ("pro", "manual"),
        ("pro", "subscription"),
    ]
