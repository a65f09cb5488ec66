"""What a (project, user) may use, evaluated at read time.

The stored record lists every source of every feature; whether a source is in force *now*
is decided here on each read, so a grant whose ``valid_to`` has passed is inactive without
any job running.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from billing.domain.allowances import Allowance
from billing.domain.clock import to_iso

SourceKind = Literal["subscription", "purchase", "manual"]


@dataclass(frozen=True)
class EntitlementSource:
    """One reason a user has (or had) a feature, as stored in the materialized view.

    ``in_force`` is what the engine last decided (e.g. False once revoked or refunded) and
    ``reason`` says why not; time windows are applied on read by :func:`evaluate`.
    ``valid_to`` is what the API shows (Stripe's period end); ``active_until``, when set, is
    when access really stops (a renewing period is honoured a little longer, for its
    webhooks to arrive; a ``past_due`` one until its grace period ends), and stays internal.
    """

    feature_code: str
    source: SourceKind
    source_id: str
    valid_from: datetime
    valid_to: datetime | None
    in_force: bool = True
    reason: str | None = None
    # Why the source stops once ``valid_to`` passes (a lapsed grace period is not an expiry).
    expiry_reason: str = "expired"
    active_until: datetime | None = None
    # How much of the feature this source gives (None: no limit): billing.domain.allowances.
    allowance: Allowance | None = None

    @property
    def ends_at(self) -> datetime | None:
        """When access from this source stops (None: no end)."""
        return self.active_until or self.valid_to


@dataclass(frozen=True)
class EntitlementView:
    """One source as the API shows it."""

    feature_code: str
    active: bool
    source: SourceKind
    source_id: str
    valid_from: datetime
    valid_to: datetime | None
    reason: str | None
    allowance: Allowance | None = None
    # When access from the source stops (None: no end): ``valid_to``, or later by a renewal's
    # leeway, or sooner by a past_due grace. Internal: tokens carry it, the API shows valid_to.
    ends_at: datetime | None = None

    def to_api(self) -> dict[str, object]:
        """The API.md shape; ``reason`` only when the source is inactive, ``limit`` and
        ``reset`` only when the source limits its feature."""
        body: dict[str, object] = {
            "feature_code": self.feature_code,
            "active": self.active,
            "source": self.source,
            "source_id": self.source_id,
            "valid_from": to_iso(self.valid_from),
            "valid_to": to_iso(self.valid_to) if self.valid_to else None,
        }
        if not self.active and self.reason:
            body["reason"] = self.reason
        if self.allowance is not None:
            body["limit"] = self.allowance.limit
            body["reset"] = self.allowance.reset
        return body


def active_at(source: EntitlementSource, now: datetime) -> tuple[bool, str | None]:
    """Whether the source gives its feature at ``now``, and why not."""
    if source.in_force and now < source.valid_from:
        return False, "not_yet_valid"
    if source.in_force and source.ends_at is not None and now >= source.ends_at:
        return False, source.expiry_reason
    return source.in_force, source.reason


def evaluate(sources: list[EntitlementSource], now: datetime) -> list[EntitlementView]:
    """Each source with ``active`` decided at ``now``, in a stable order."""
    views = []
    for item in sorted(sources, key=lambda s: (s.feature_code, s.source, s.source_id)):
        active, reason = active_at(item, now)
        views.append(
            EntitlementView(
                feature_code=item.feature_code,
                active=active,
                source=item.source,
                source_id=item.source_id,
                valid_from=item.valid_from,
                valid_to=item.valid_to,
                reason=None if active else reason,
                allowance=item.allowance,
                ends_at=item.ends_at,
            )
        )
    return views


def check_feature(views: list[EntitlementView], feature_code: str) -> dict[str, object]:
    """The hot single check: is the feature active, and until when (None: no end)."""
    active = [v for v in views if v.feature_code == feature_code and v.active]
    valid_to = None
    if active and all(v.valid_to is not None for v in active):
        valid_to = to_iso(max(v.valid_to for v in active if v.valid_to is not None))
    return {"feature_code": feature_code, "active": bool(active), "valid_to": valid_to}
