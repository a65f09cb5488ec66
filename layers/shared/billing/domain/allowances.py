"""Numeric limits on features: how much of a feature a price (or a grant) gives, and when the
count starts over.

A price's feature may carry a :class:`FeatureLimit` (``--limit 50000 --reset billing_period``);
every entitlement source derived from that price carries it on as an :class:`Allowance`, with
the subscription's current period when the count resets with the billing period. A manual
grant of a quantity is an allowance that never resets and ends with the grant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from billing.domain.ids import FEATURE_CODE_RULE, is_feature_code
from billing.errors import ValidationError

Reset = Literal["never", "billing_period", "day", "month"]
RESETS: tuple[Reset, ...] = ("never", "billing_period", "day", "month")
# Limits and quantities are integers that every JSON reader keeps exact (under 2**53).
MAX_LIMIT = 10**15
# A meter's event name, as Stripe takes it (``event_name``: at most 100 characters).
METER_EVENT_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}"
METER_EVENT_NAME_RULE = "1-100 of letters, digits, _ . : - (starting with a letter or digit)"
_METER_EVENT_NAME = re.compile(METER_EVENT_NAME_PATTERN)


@dataclass(frozen=True)
class FeatureLimit:
    """How much of one of its features a price gives: ``limit`` per period of ``reset``, and
    the Stripe meter its usage is reported to (its ``event_name``), if any."""

    feature_code: str
    limit: int
    reset: Reset
    meter: str | None = None

    def allowance(
        self, period_start: datetime | None = None, period_end: datetime | None = None
    ) -> Allowance:
        """The allowance a source of this price carries (the period only for billing_period)."""
        billing = self.reset == "billing_period"
        return Allowance(
            limit=self.limit,
            reset=self.reset,
            meter=self.meter,
            period_start=period_start if billing else None,
            period_end=period_end if billing else None,
        )


@dataclass(frozen=True)
class Allowance:
    """What a source gives of its feature: ``limit`` per period of ``reset``, reported to
    Stripe's ``meter`` when set. ``period_start``/``period_end`` are the subscription's current
    period, for ``billing_period`` only."""

    limit: int
    reset: Reset
    meter: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None


def parse_reset(value: str, field: str = "reset") -> Reset:
    if value not in RESETS:
        raise ValidationError(field, f"must be one of {', '.join(RESETS)}")
    return value


def validate_limit(value: int, field: str = "limit") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LIMIT:
        raise ValidationError(field, f"must be an integer from 0 to {MAX_LIMIT}")
    return value


def validate_meter(value: str, field: str = "meter") -> str:
    if not _METER_EVENT_NAME.fullmatch(value):
        raise ValidationError(field, f"must be a Stripe meter event name: {METER_EVENT_NAME_RULE}")
    return value


def validate_feature_limits(
    limits: Iterable[FeatureLimit], feature_codes: Iterable[str], *, recurring: bool
) -> tuple[FeatureLimit, ...]:
    """A price's limits: each on a feature the price grants, at most one per feature; a reset
    with the billing period, and a Stripe meter, need a recurring price (a one-time purchase
    has no billing period, and Stripe bills meters through subscriptions)."""
    granted = set(feature_codes)
    checked: dict[str, FeatureLimit] = {}
    for item in limits:
        if not is_feature_code(item.feature_code):
            raise ValidationError("feature_codes", f"{item.feature_code!r}: {FEATURE_CODE_RULE}")
        if item.feature_code not in granted:
            raise ValidationError("limit", f"{item.feature_code} is not a feature of this price")
        if item.feature_code in checked:
            raise ValidationError("limit", f"{item.feature_code} has two limits")
        validate_limit(item.limit)
        parse_reset(item.reset)
        if item.reset == "billing_period" and not recurring:
            raise ValidationError("reset", "billing_period needs a recurring price")
        if item.meter is not None:
            validate_meter(item.meter)
            if not recurring:
                raise ValidationError("meter", "a Stripe meter needs a recurring price")
        checked[item.feature_code] = item
    return tuple(checked.values())
