"""EventBridge schedules of the template, fired locally.

Supports what the service uses, ``cron(M H * * ? *)`` (UTC; the hour may be ``*``), plus
``rate(N minute|minutes|hour|hours|day|days)``; anything else is refused at start-up with a
message naming the expression, rather than silently never firing.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from billing_devstack.config import ACCOUNT_ID, REGION, STACK_NAME
from billing_devstack.lambda_runtime import Invoker
from billing_devstack.template import ScheduleEvent

logger = logging.getLogger("billing_devstack.scheduler")

_CRON = re.compile(r"cron\(\s*(\d{1,2})\s+(\d{1,2}|\*)\s+\*\s+\*\s+\?\s+\*\s*\)")
_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


class ScheduleError(ValueError):
    """A schedule expression the local scheduler cannot run."""


def next_fire(expression: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` (UTC) at which the expression fires."""
    cron = _CRON.fullmatch(expression.strip())
    if cron is not None:
        return _next_cron(int(cron.group(1)), cron.group(2), after)
    rate = _RATE.fullmatch(expression.strip())
    if rate is not None:
        seconds = int(rate.group(1)) * _UNITS[rate.group(2).rstrip("s")]
        if seconds <= 0:
            raise ScheduleError(f"{expression}: the rate must be positive")
        return after + timedelta(seconds=seconds)
    raise ScheduleError(
        f"{expression!r}: the local scheduler supports cron(M H * * ? *) and rate(N unit) only"
    )


def _next_cron(minute: int, hour: str, after: datetime) -> datetime:
    if minute > 59 or (hour != "*" and int(hour) > 23):  # noqa: PLR2004 - clock limits
        raise ScheduleError(f"cron minute {minute} / hour {hour} out of range")
    candidate = after.astimezone(UTC).replace(second=0, microsecond=0, minute=minute)
    if hour != "*":
        candidate = candidate.replace(hour=int(hour))
    step = timedelta(days=1) if hour != "*" else timedelta(hours=1)
    while candidate <= after:
        candidate += step
    return candidate


def validate_schedules(schedules: Sequence[ScheduleEvent]) -> None:
    """Fail at start-up on an enabled expression that could never fire locally."""
    now = datetime.now(UTC)
    for schedule in schedules:
        if schedule.enabled:
            next_fire(schedule.expression, now)


def scheduled_event(schedule: ScheduleEvent, when: datetime) -> Any:
    """What EventBridge sends: the rule's Input when set, else a "Scheduled Event"."""
    if schedule.input is not None:
        return json.loads(schedule.input)
    rule = f"{STACK_NAME}-{schedule.function_id}{schedule.event_name}"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{rule}"],
        "detail": {},
    }


@dataclass
class Scheduler:
    """One thread per enabled schedule, sleeping until its next fire time."""

    schedules: Sequence[ScheduleEvent]
    invoker: Invoker
    fire_at_start: bool = False
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    stop_event: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def enabled(self) -> list[ScheduleEvent]:
        """Schedules whose State is ENABLED; the others never fire (not even at start)."""
        return [schedule for schedule in self.schedules if schedule.enabled]

    def fire(self, schedule: ScheduleEvent) -> None:
        """Invoke the function once; a failure is logged (EventBridge would retry)."""
        now = self.clock()
        logger.info("schedule %s.%s fires", schedule.function_id, schedule.event_name)
        result = self.invoker.invoke(schedule.function_id, scheduled_event(schedule, now))
        if not result.ok:
            logger.error("%s failed: %s", schedule.function_id, result.error_message)

    def _run(self, schedule: ScheduleEvent) -> None:
        if self.fire_at_start:
            self.fire(schedule)
        while not self.stop_event.is_set():
            due = next_fire(schedule.expression, self.clock())
            logger.info(
                "schedule %s.%s next at %s",
                schedule.function_id,
                schedule.event_name,
                due.isoformat(),
            )
            while not self.stop_event.is_set() and self.clock() < due:
                self.stop_event.wait(min(30.0, (due - self.clock()).total_seconds()))
            if not self.stop_event.is_set():
                self.fire(schedule)

    def start(self) -> None:
        """Validate, then start one daemon thread per enabled schedule."""
        validate_schedules(self.schedules)
        for schedule in self.enabled:
            thread = threading.Thread(
                target=self._run,
                args=(schedule,),
                name=f"schedule-{schedule.function_id}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop waiting; a running invocation is not interrupted (the runtime closes it)."""
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout)
