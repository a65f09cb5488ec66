"""The local EventBridge schedule: next fire times, the event, fire-at-start."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing_devstack.lambda_runtime import InvokeResult
from billing_devstack.scheduler import ScheduleError, Scheduler, next_fire, scheduled_event
from billing_devstack.template import ScheduleEvent
from tests.unit.devstack.conftest import FakeInvoker

NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0 3 * * ? *)", datetime(2026, 11, 26, 3, 0, tzinfo=UTC)),
        ("cron(30 12 * * ? *)", datetime(2026, 11, 25, 12, 30, tzinfo=UTC)),
        ("cron(0 12 * * ? *)", datetime(2026, 11, 26, 12, 0, tzinfo=UTC)),
        ("cron(15 * * * ? *)", datetime(2026, 11, 25, 12, 15, tzinfo=UTC)),
        ("rate(5 minutes)", datetime(2026, 11, 25, 12, 5, tzinfo=UTC)),
        ("rate(1 day)", datetime(2026, 11, 26, 12, 0, tzinfo=UTC)),
    ],
)
def test_next_fire_time(expression: str, expected: datetime) -> None:
    assert next_fire(expression, NOON) == expected


@pytest.mark.parametrize(
    "expression",
    ["cron(0 3 ? * MON-FRI *)", "cron(0/5 * * * ? *)", "cron(0 25 * * ? *)", "at(2026)"],
)
def test_unsupported_expressions_are_refused_clearly(expression: str) -> None:
    with pytest.raises(ScheduleError, match=r"cron|range"):
        next_fire(expression, NOON)


def test_the_event_looks_like_eventbridges_scheduled_event() -> None:
    schedule = ScheduleEvent("Reconcile", "Nightly", "cron(0 3 * * ? *)")
    event = scheduled_event(schedule, NOON)
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["version"] == "0"
    assert event["time"] == "2026-11-25T12:00:00Z"
    assert event["region"] == "us-east-1"
    assert event["detail"] == {}
    assert event["id"]
    assert event["resources"][0].startswith("arn:aws:events:us-east-1:123456789012:rule/")


def test_a_schedule_input_replaces_the_event() -> None:
    schedule = ScheduleEvent("Reconcile", "Nightly", "rate(1 day)", input='{"full": true}')
    assert scheduled_event(schedule, NOON) == {"full": True}


def test_fire_at_start_invokes_enabled_schedules_only(invoker: FakeInvoker) -> None:
    scheduler = Scheduler(
        [
            ScheduleEvent("On", "E", "cron(0 3 * * ? *)", enabled=True),
            ScheduleEvent("Off", "E", "cron(0 3 * * ? *)", enabled=False),
        ],
        invoker,
        fire_at_start=True,
    )
    scheduler.start()
    scheduler.stop()
    assert [function_id for function_id, _ in invoker.calls] == ["On"]


def test_a_due_schedule_fires(invoker: FakeInvoker) -> None:
    readings = [NOON.replace(minute=59, second=59), NOON.replace(hour=13)]
    scheduler = Scheduler(
        [ScheduleEvent("Fn", "E", "cron(0 13 * * ? *)")],
        invoker,
        clock=lambda: readings.pop(0) if len(readings) > 1 else readings[0],
    )

    def answer(_event: object) -> InvokeResult:
        scheduler.stop_event.set()
        return InvokeResult(payload=None)

    invoker.answers["Fn"] = answer
    scheduler.start()
    scheduler.stop()
    (event,) = invoker.events_of("Fn")
    assert event["time"] == "2026-11-25T13:00:00Z"
