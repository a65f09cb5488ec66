"""From billing facts to entitlement sources: DESIGN.md's "what active means", as code.

- ``active``/``trialing``: in force until the period end (the trial end while trialing), plus a
  short leeway for the renewal's webhooks to arrive; ``cancel_at_period_end`` ends exactly at
  the period end.
- ``past_due``: in force for the project's grace period after the first failed payment.
- ``canceled``, ``unpaid``, ``incomplete``, ``incomplete_expired``, ``paused``: not in force.
- a one-time purchase: in force from payment for the price's access duration, or without end;
  a full refund or a dispute ends it.
Time windows are stored as ``valid_to``; the read decides, so nothing needs a job to expire.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from billing.domain.billing_facts import Fact, PurchaseFact, SubscriptionFact
from billing.domain.clock import from_epoch
from billing.domain.entitlements import EntitlementSource

RENEWAL_LEEWAY = timedelta(hours=2)
_NOT_IN_FORCE = {
    "canceled": "canceled",
    "unpaid": "unpaid",
    "incomplete": "incomplete",
    "incomplete_expired": "incomplete_expired",
    "paused": "paused",
}
_PURCHASE_REASON = {
    "pending": "payment_pending",
    "failed": "payment_failed",
    "refunded": "refunded",
    "disputed": "disputed",
}


@dataclass(frozen=True)
class PriceTerms:
    """What the service knows of a price: the features it grants, and for one-time prices
    how long access lasts (None: without end)."""

    feature_codes: tuple[str, ...]
    access_days: int | None = None


def _subscription_window(
    fact: SubscriptionFact, grace_days: int
) -> tuple[bool, str | None, int | None, str]:
    """(in force, reason, valid_to epoch, expiry reason) of a subscription."""
    if fact.status in _NOT_IN_FORCE:
        return False, _NOT_IN_FORCE[fact.status], fact.period_end, "expired"
    if fact.status == "past_due":
        failed = fact.payment_failed_at or fact.version
        grace_end = failed + int(timedelta(days=grace_days).total_seconds())
        return True, None, grace_end, "past_due_grace_expired"
    end = fact.trial_end if fact.status == "trialing" and fact.trial_end else fact.period_end
    if end is None:
        return True, None, None, "expired"
    if fact.cancel_at_period_end:
        return True, None, end, "canceled"
    return True, None, end + int(RENEWAL_LEEWAY.total_seconds()), "period_ended"


def subscription_sources(
    fact: SubscriptionFact, prices: Mapping[str, PriceTerms], grace_days: int
) -> list[EntitlementSource]:
    in_force, reason, valid_to, expiry_reason = _subscription_window(fact, grace_days)
    features = dict.fromkeys(
        code
        for price_id in fact.price_ids
        for code in prices.get(price_id, PriceTerms(())).feature_codes
    )
    return [
        EntitlementSource(
            feature_code=code,
            source="subscription",
            source_id=fact.stripe_id,
            valid_from=from_epoch(fact.started_at),
            valid_to=from_epoch(valid_to) if valid_to is not None else None,
            in_force=in_force,
            reason=reason,
            expiry_reason=expiry_reason,
        )
        for code in features
    ]


def purchase_sources(
    fact: PurchaseFact, prices: Mapping[str, PriceTerms]
) -> list[EntitlementSource]:
    terms = prices.get(fact.price_id, PriceTerms(()))
    paid_at = fact.paid_at or fact.version
    valid_to = None
    if terms.access_days is not None:
        valid_to = from_epoch(paid_at) + timedelta(days=terms.access_days)
    in_force = fact.status == "paid"
    return [
        EntitlementSource(
            feature_code=code,
            source="purchase",
            source_id=fact.stripe_id,
            valid_from=from_epoch(paid_at),
            valid_to=valid_to,
            in_force=in_force,
            reason=None if in_force else _PURCHASE_REASON.get(fact.status, fact.status),
        )
        for code in terms.feature_codes
    ]


def derive_sources(
    facts: Iterable[Fact],
    prices: Mapping[str, PriceTerms],
    grace_days: int,
    manual: Iterable[EntitlementSource] = (),
) -> list[EntitlementSource]:
    """Every source of a user's entitlements: billing facts, plus manual grants kept as they are."""
    sources = [s for s in manual if s.source == "manual"]
    for fact in facts:
        if isinstance(fact, SubscriptionFact):
            sources.extend(subscription_sources(fact, prices, grace_days))
        elif isinstance(fact, PurchaseFact):
            sources.extend(purchase_sources(fact, prices))
    return sources
