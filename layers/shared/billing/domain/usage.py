"""Usage of limited features: a feature's balance at a moment, and what recording a usage
answers.

Rules (DESIGN.md's "Usage limits"):

- the limit of a feature at a moment is the sum of the allowances of its sources active then
  (a plan's 50,000 calls plus a grant of 1,000 more);
- usage is counted per period, in a counter named by the feature and the period, so a new
  period starts at zero by itself. The period is the one of the feature's resetting sources,
  the shortest when they differ (``day`` before ``month`` before ``billing_period``, the
  subscription's current period). A feature none of whose sources resets counts from the
  earliest ``valid_from`` of its active sources: a grant that replaces an expired one starts
  afresh, a second purchase adds to the first;
- a source without an allowance adds nothing to the limit; a feature with no limited source
  active takes no usage (there is nothing to count against).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from billing.domain.allowances import Reset
from billing.domain.clock import from_epoch, to_iso
from billing.domain.entitlements import (
    EntitlementSource,
    EntitlementView,
    active_at,
    check_feature,
)
from billing.domain.ids import validate_feature_code, validate_user_id
from billing.errors import ValidationError

MAX_QUANTITY = 10**9
IDEMPOTENCY_KEY_PATTERN = r"[A-Za-z0-9_.:\-]{1,255}"
IDEMPOTENCY_KEY_RULE = "1-255 of letters, digits, _ . : -"
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
# A replay with the same key within this window counts nothing and answers the first answer.
REPLAY_WINDOW = timedelta(hours=24)
# A counter is kept this long after its period ended (reconciliation compares the last
# billing period with Stripe's meters), then pruned by the next usage of that user.
COUNTER_RETENTION = timedelta(days=62)
# Which resetting source sets the period when several do: the shortest.
_PERIOD_ORDER: dict[Reset, int] = {"day": 0, "month": 1, "billing_period": 2}


@dataclass(frozen=True)
class Period:
    """The period usage is counted in: ``key`` names its counter, ``end`` is when the count
    starts over (None: never)."""

    key: str
    start: datetime | None
    end: datetime | None


def _day(now: datetime) -> Period:
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return Period(f"d:{start:%Y-%m-%d}", start, start + timedelta(days=1))


def _month(now: datetime) -> Period:
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = start.month % 12 + 1
    end = start.replace(year=start.year + (following == 1), month=following)
    return Period(f"m:{start:%Y-%m}", start, end)


def _since(start: datetime) -> Period:
    return Period(f"n:{int(start.timestamp())}", start, None)


def _period_end_of_key(key: str) -> datetime | None:
    """When the period a counter key names ends (None: never, or not a key of ours)."""
    kind, _, value = key.partition(":")
    try:
        if kind == "d":
            return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=1)
        if kind == "m":
            return _month(datetime.strptime(value, "%Y-%m").replace(tzinfo=UTC)).end
        if kind == "bp":
            return from_epoch(int(value))
    except ValueError:
        return None
    return None


def counter_name(feature_code: str, period: Period) -> str:
    """The counter's name: the feature and the period (feature codes hold no ``#``)."""
    return f"{feature_code}#{period.key}"


def stale_counters(names: Iterable[str], now: datetime) -> list[str]:
    """Counters whose period ended more than COUNTER_RETENTION ago: pruned by the next write."""
    stale = []
    for name in names:
        end = _period_end_of_key(name.partition("#")[2])
        if end is not None and end + COUNTER_RETENTION < now:
            stale.append(name)
    return sorted(stale)


def counters_expire_at(names: Iterable[str]) -> datetime | None:
    """When a user's counters may all go (TTL): a while after the last period ends; None
    while one of them never resets."""
    ends = []
    for name in names:
        end = _period_end_of_key(name.partition("#")[2])
        if end is None:
            return None
        ends.append(end)
    return max(ends) + COUNTER_RETENTION if ends else None


@dataclass(frozen=True)
class Balance:
    """A limited feature at a moment: its limit (the sum over its active sources), the period
    counted in, what was used in it, and the Stripe meter its usage is reported to (with the
    source, a subscription, whose customer Stripe bills)."""

    feature_code: str
    limit: int
    period: Period
    used: int = 0
    meter: str | None = None
    metered_source_id: str | None = None

    @property
    def counter(self) -> str:
        return counter_name(self.feature_code, self.period)

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def overage(self) -> int:
        return max(0, self.used - self.limit)

    def to_api(self) -> dict[str, Any]:
        """The figures ``/entitlements`` and ``/entitlements/check`` answer."""
        return {
            "feature_code": self.feature_code,
            "limit": self.limit,
            "used": self.used,
            "remaining": self.remaining,
            "resets_at": to_iso(self.period.end) if self.period.end else None,
        }


def _period(limited: list[EntitlementSource], now: datetime) -> Period:
    resetting = [
        (source.source_id, source.allowance)
        for source in limited
        if source.allowance is not None and source.allowance.reset != "never"
    ]
    if resetting:
        _, allowance = min(
            resetting,
            key=lambda pair: (_PERIOD_ORDER[pair[1].reset], pair[1].period_end or now, pair[0]),
        )
        if allowance.reset == "day":
            return _day(now)
        if allowance.reset == "month":
            return _month(now)
        if allowance.period_end is not None:
            end = allowance.period_end
            return Period(f"bp:{int(end.timestamp())}", allowance.period_start, end)
    return _since(min(s.valid_from for s in limited))


def balance_of(
    sources: Iterable[EntitlementSource],
    feature_code: str,
    now: datetime,
    counters: Mapping[str, int],
) -> Balance | None:
    """The feature's balance at ``now``, or None when no active source of it has a limit."""
    limited = [
        s
        for s in sources
        if s.feature_code == feature_code and s.allowance is not None and active_at(s, now)[0]
    ]
    if not limited:
        return None
    period = _period(limited, now)
    metered = sorted((s for s in limited if s.allowance and s.allowance.meter), key=_source_order)
    meter = metered[0].allowance.meter if metered and metered[0].allowance else None
    return Balance(
        feature_code=feature_code,
        limit=sum(s.allowance.limit for s in limited if s.allowance),
        period=period,
        used=counters.get(counter_name(feature_code, period), 0),
        meter=meter,
        metered_source_id=metered[0].source_id if metered else None,
    )


def _source_order(source: EntitlementSource) -> tuple[str, str]:
    return source.source, source.source_id


def balances(
    sources: list[EntitlementSource], now: datetime, counters: Mapping[str, int]
) -> list[Balance]:
    """Every limited feature's balance at ``now``, by feature code."""
    codes = sorted({s.feature_code for s in sources if s.allowance is not None})
    found = (balance_of(sources, code, now, counters) for code in codes)
    return [balance for balance in found if balance is not None]


def usable_balance(
    sources: list[EntitlementSource],
    feature_code: str,
    now: datetime,
    counters: Mapping[str, int],
) -> Balance:
    """The balance usage of ``feature_code`` counts against; ValidationError naming
    ``feature_code`` when the user has no such feature, not now, or not a limited one."""
    balance = balance_of(sources, feature_code, now, counters)
    if balance is not None:
        return balance
    of_feature = [s for s in sources if s.feature_code == feature_code]
    if not of_feature:
        raise ValidationError("feature_code", f"the user has no feature {feature_code}")
    if not any(active_at(s, now)[0] for s in of_feature):
        raise ValidationError("feature_code", f"{feature_code} is not active for the user")
    raise ValidationError(
        "feature_code", f"{feature_code} has no limit: usage is counted for limited features"
    )


# ---------------------------------------------------------------------- recording usage
@dataclass(frozen=True)
class UsageRequest:
    project_id: str
    user_id: str
    feature_code: str
    quantity: int
    idempotency_key: str
    enforce: bool = False

    @property
    def fingerprint(self) -> str:
        """What a replay must repeat to be the same request (the key names the project)."""
        return f"{self.user_id}#{self.feature_code}#{self.quantity}#{int(self.enforce)}"


def validate_usage(request: UsageRequest) -> UsageRequest:
    validate_user_id(request.user_id)
    validate_feature_code(request.feature_code)
    quantity = request.quantity
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ValidationError("quantity", "must be an integer")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ValidationError("quantity", f"must be from 1 to {MAX_QUANTITY}")
    if not _IDEMPOTENCY_KEY.fullmatch(request.idempotency_key):
        raise ValidationError("idempotency_key", f"must be {IDEMPOTENCY_KEY_RULE}")
    return request


def record_key(project_id: str, idempotency_key: str) -> str:
    """Where a usage's record (and its idempotency) lives: keys are per project."""
    return f"{project_id}#{idempotency_key}"


def meter_identifier(key: str) -> str:
    """The meter event's ``identifier`` for a usage (Stripe takes at most 100 characters and
    dedupes by it): derived from the usage's record key, so every report of it is the same."""
    return "usage_" + hashlib.sha256(key.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class UsageAnswer:
    """What a counted usage answers (201, and to every replay of it: 200)."""

    request: UsageRequest
    balance: Balance  # after this usage
    recorded_at: datetime

    def to_api(self, *, replayed: bool = False) -> dict[str, Any]:
        return {
            "project_id": self.request.project_id,
            "user_id": self.request.user_id,
            "feature_code": self.request.feature_code,
            "quantity": self.request.quantity,
            "idempotency_key": self.request.idempotency_key,
            "limit": self.balance.limit,
            "used": self.balance.used,
            "remaining": self.balance.remaining,
            "overage": self.balance.overage,
            "resets_at": to_iso(self.balance.period.end) if self.balance.period.end else None,
            "recorded_at": to_iso(self.recorded_at),
            "replayed": replayed,
        }


@dataclass(frozen=True)
class UsageRefusal:
    """An enforced usage over the limit (409): nothing counted, and what remains."""

    request: UsageRequest
    balance: Balance  # as it stands, without this usage

    def to_api(self) -> dict[str, Any]:
        return {
            "message": (
                f"over the limit of {self.request.feature_code}: {self.balance.remaining} "
                f"remain, {self.request.quantity} asked; nothing was counted"
            ),
            "feature_code": self.request.feature_code,
            "requested": self.request.quantity,
            "limit": self.balance.limit,
            "used": self.balance.used,
            "remaining": self.balance.remaining,
            "resets_at": to_iso(self.balance.period.end) if self.balance.period.end else None,
        }


def counted(balance: Balance, request: UsageRequest, now: datetime) -> UsageAnswer:
    """The answer once ``request`` is counted on ``balance`` (as read before it)."""
    after = Balance(
        feature_code=balance.feature_code,
        limit=balance.limit,
        period=balance.period,
        used=balance.used + request.quantity,
        meter=balance.meter,
        metered_source_id=balance.metered_source_id,
    )
    return UsageAnswer(request, after, now)


def fits(balance: Balance, quantity: int) -> bool:
    return balance.used + quantity <= balance.limit


# ---------------------------------------------------------------------- what the store holds
@dataclass(frozen=True)
class StoredUsage:
    """A recorded usage as its record keeps it: what a replay must repeat, the first answer
    (JSON), and until when a replay gets it."""

    fingerprint: str
    answer: str
    replay_until: datetime


@dataclass(frozen=True)
class UsageState:
    """What recording a usage reads, in one call: the user's entitlement sources, their usage
    counters, and the record already under the usage's key (None: none)."""

    sources: list[EntitlementSource]
    counters: dict[str, int]
    stored: StoredUsage | None = None


@dataclass(frozen=True)
class UsageWrite:
    """One usage to count and record together: ``quantity`` added to ``counter`` of the user
    (only while the counter is at most ``max_used_before``, when enforced), and the record
    under ``key`` (only if there is none in its replay window). ``prune`` are counters to drop
    on the way (stale periods), ``counters_expire_at`` the counters' TTL (None: none)."""

    key: str
    request: UsageRequest
    counter: str
    max_used_before: int | None
    stored: StoredUsage
    recorded_at: datetime
    prune: tuple[str, ...] = ()
    counters_expire_at: datetime | None = None
    meter: str | None = None
    metered_source_id: str | None = None


WriteStatus = Literal["counted", "duplicate", "over_limit", "conflict"]


@dataclass(frozen=True)
class WriteOutcome:
    """What the write did: ``counted``; ``duplicate`` (a record was there: ``stored``, nothing
    counted); ``over_limit`` (the counter stood at ``used``, nothing counted); ``conflict`` (a
    concurrent transaction on the same items: nothing written, try again)."""

    status: WriteStatus
    stored: StoredUsage | None = None
    used: int | None = None


def checked_feature(
    views: list[EntitlementView], found: list[Balance], feature_code: str
) -> dict[str, object]:
    """``/entitlements/check``'s answer: active and until when, and for a limited feature its
    limit, what was used, what remains and when the count starts over."""
    answer = check_feature(views, feature_code)
    for balance in found:
        if balance.feature_code == feature_code:
            answer.update({k: v for k, v in balance.to_api().items() if k != "feature_code"})
    return answer
