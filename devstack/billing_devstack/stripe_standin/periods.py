"""Billing periods: a timestamp plus some days, weeks, months or years, as Stripe counts them.

Months keep the day of the month, clamped to the month's length (a period starting on January
31 ends on February 28), and a new period starts where the previous one ended.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from billing_devstack.stripe_standin.store import Obj

DAY = 86_400
_DAYS_PER_INTERVAL = {"day": 1, "week": 7}
_MONTHS_PER_INTERVAL = {"month": 1, "year": 12}


def add_interval(timestamp: int, interval: str, count: int) -> int:
    """``timestamp`` plus ``count`` intervals; months keep the day, clamped (Jan 31 -> Feb 28)."""
    if interval in _DAYS_PER_INTERVAL:
        return timestamp + count * _DAYS_PER_INTERVAL[interval] * DAY
    start = datetime.fromtimestamp(timestamp, UTC)
    months = start.month - 1 + count * _MONTHS_PER_INTERVAL[interval]
    year, month = start.year + months // 12, months % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def period_after(end: int, price: Obj) -> tuple[int, int]:
    """The billing period of a recurring price that starts at ``end``."""
    recurring = price["recurring"]
    return end, add_interval(end, recurring["interval"], recurring["interval_count"])
