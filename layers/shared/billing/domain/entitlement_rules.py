"""From billing facts to entitlement sources: DESIGN.md's "what active means", as code.

- ``active``/``trialing``: in force until the period end (the trial end while trialing), or
  Stripe's ``cancel_at`` when it comes first; a renewing period is honoured a short leeway
  longer for the renewal's webhooks to arrive (``active_until``; the API's ``valid_to`` stays
  Stripe's period end); ``cancel_at_period_end`` ends exactly at the period end.
- ``past_due``: in force for the project's grace period after the first failed payment (the
  grace's end is ``active_until``; ``valid_to`` stays Stripe's period end, or ``cancel_at``).
- ``canceled``, ``unpaid``, ``incomplete``, ``incomplete_expired``, ``paused``: not in force.
- a one-time purchase: in force from payment for the price's access duration, or without end;
  a full refund, an open dispute or a lost one ends it (a failed refund or a won dispute
  restores it).
- a price grants features only within the project it is registered to: a subscription or a
  purchase naming another project's price, or a price not registered at all, gets nothing for
  it, and the price is reported as an anomaly.
Time windows are stored; the read decides, so nothing needs a job to expire.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from billing.domain.allowances import Allowance, FeatureLimit
from billing.domain.billing_facts import Fact, PurchaseFact, SubscriptionFact
from billing.domain.clock import from_epoch
from billing.domain.entitlements import EntitlementSource
from billing.domain.tenancy import StripePriceTerms

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
    "dispute_lost": "dispute_lost",
}


@dataclass(frozen=True)
class PriceTerms:
    """What the service knows of a price: the project it is registered to, the features it
    grants there, and for one-time prices how long access lasts (None: without end); also
    what it was registered to bill (reconciliation compares it with Stripe's)."""

    feature_codes: tuple[str, ...]
    access_days: int | None = None
    project_id: str | None = None
    billing: StripePriceTerms | None = None
    limits: tuple[FeatureLimit, ...] = ()  # numeric limits on some of the features


@dataclass(frozen=True)
class PriceAnomaly:
    """A price a fact names that grants nothing: registered to another project
    (``foreign``), or not registered at all (``unknown``); or one registered with other terms
    than Stripe bills (``drift``: ``detail`` says which)."""

    fact_id: str
    price_id: str
    project_id: str  # the fact's
    problem: str
    registered_to: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Derived:
    sources: list[EntitlementSource]
    anomalies: list[PriceAnomaly]


@dataclass(frozen=True)
class _Window:
    in_force: bool
    reason: str | None
    valid_to: int | None  # what the API shows
    active_until: int | None  # when access stops, if not at valid_to (leeway, grace)
    expiry_reason: str


def _past_due_window(fact: SubscriptionFact, grace_days: int) -> _Window:
    """In force until the grace period after the first failure ends (or ``cancel_at``, when
    sooner); the API still shows Stripe's period end (or ``cancel_at``) as ``valid_to``."""
    failed = fact.payment_failed_at or fact.version
    grace_end = failed + int(timedelta(days=grace_days).total_seconds())
    shown = fact.period_end
    if fact.cancel_at is not None and (shown is None or fact.cancel_at <= shown):
        shown = fact.cancel_at
    if fact.cancel_at is not None and fact.cancel_at <= grace_end:
        return _Window(True, None, shown, fact.cancel_at, "canceled")
    return _Window(True, None, shown, grace_end, "past_due_grace_expired")


def _subscription_window(fact: SubscriptionFact, grace_days: int) -> _Window:
    if fact.status in _NOT_IN_FORCE:
        return _Window(False, _NOT_IN_FORCE[fact.status], fact.period_end, None, "expired")
    if fact.status == "past_due":
        return _past_due_window(fact, grace_days)
    end = fact.trial_end if fact.status == "trialing" and fact.trial_end else fact.period_end
    if fact.cancel_at is not None and (end is None or fact.cancel_at <= end):
        return _Window(True, None, fact.cancel_at, None, "canceled")
    if end is None:
        return _Window(True, None, None, None, "expired")
    if fact.cancel_at_period_end:
        return _Window(True, None, end, None, "canceled")
    leeway = int(RENEWAL_LEEWAY.total_seconds())
    return _Window(True, None, end, end + leeway, "period_ended")


def price_anomalies(
    fact: Fact, price_ids: Iterable[str], prices: Mapping[str, PriceTerms]
) -> list[PriceAnomaly]:
    """The prices of ``fact`` that may not grant within its project."""
    return _granted(fact, price_ids, prices)[1]


def _granted(
    fact: Fact, price_ids: Iterable[str], prices: Mapping[str, PriceTerms]
) -> tuple[dict[str, PriceTerms], list[PriceAnomaly]]:
    """The prices of ``fact`` that grant within its project, and the ones that may not."""
    project_id = fact.owner.project_id
    granted: dict[str, PriceTerms] = {}
    anomalies: list[PriceAnomaly] = []
    for price_id in price_ids:
        terms = prices.get(price_id)
        if terms is None:
            anomalies.append(PriceAnomaly(fact.stripe_id, price_id, project_id, "unknown"))
        elif terms.project_id is not None and terms.project_id != project_id:
            anomalies.append(
                PriceAnomaly(fact.stripe_id, price_id, project_id, "foreign", terms.project_id)
            )
        else:
            granted[price_id] = terms
    return granted, anomalies


def _allowance(
    code: str,
    granted: Iterable[PriceTerms],
    period_start: datetime | None = None,
    period_end: datetime | None = None,
) -> Allowance | None:
    """What the granted prices give of ``code``: None without a limit; two prices of one
    subscription limiting the same feature add up (the first's reset and meter)."""
    limits = [limit for terms in granted for limit in terms.limits if limit.feature_code == code]
    if not limits:
        return None
    first = limits[0].allowance(period_start, period_end)
    if len(limits) == 1:
        return first
    meter = next((limit.meter for limit in limits if limit.meter), None)
    return replace(first, limit=sum(limit.limit for limit in limits), meter=meter)


def _epoch(seconds: int | None) -> datetime | None:
    return from_epoch(seconds) if seconds is not None else None


def subscription_sources(
    fact: SubscriptionFact, prices: Mapping[str, PriceTerms], grace_days: int
) -> Derived:
    window = _subscription_window(fact, grace_days)
    granted, anomalies = _granted(fact, fact.price_ids, prices)
    features = dict.fromkeys(code for terms in granted.values() for code in terms.feature_codes)
    period = (_epoch(fact.period_start), _epoch(fact.period_end))
    return Derived(
        [
            EntitlementSource(
                feature_code=code,
                source="subscription",
                source_id=fact.stripe_id,
                valid_from=from_epoch(fact.started_at),
                valid_to=from_epoch(window.valid_to) if window.valid_to is not None else None,
                in_force=window.in_force,
                reason=window.reason,
                expiry_reason=window.expiry_reason,
                active_until=(
                    from_epoch(window.active_until) if window.active_until is not None else None
                ),
                allowance=_allowance(code, granted.values(), *period),
            )
            for code in features
        ],
        anomalies,
    )


def purchase_sources(fact: PurchaseFact, prices: Mapping[str, PriceTerms]) -> Derived:
    granted, anomalies = _granted(fact, (fact.price_id,), prices)
    terms = granted.get(fact.price_id, PriceTerms(()))
    paid_at = fact.paid_at or fact.version
    valid_to = None
    if terms.access_days is not None:
        valid_to = from_epoch(paid_at) + timedelta(days=terms.access_days)
    status = fact.status
    in_force = status == "paid"
    return Derived(
        [
            EntitlementSource(
                feature_code=code,
                source="purchase",
                source_id=fact.stripe_id,
                valid_from=from_epoch(paid_at),
                valid_to=valid_to,
                in_force=in_force,
                reason=None if in_force else _PURCHASE_REASON.get(status, status),
                allowance=_allowance(code, (terms,)),
            )
            for code in terms.feature_codes
        ],
        anomalies,
    )


def derive_sources(
    facts: Iterable[Fact],
    prices: Mapping[str, PriceTerms],
    grace_days: int,
    kept: Iterable[EntitlementSource] = (),
) -> Derived:
    """The sources of a user's entitlements: ``kept`` (manual grants, and the sources of facts
    that did not change) as they are, plus those of ``facts``, with the anomalies found."""
    sources = list(kept)
    anomalies: list[PriceAnomaly] = []
    for fact in facts:
        derived: Derived | None = None
        if isinstance(fact, SubscriptionFact):
            derived = subscription_sources(fact, prices, grace_days)
        elif isinstance(fact, PurchaseFact):
            derived = purchase_sources(fact, prices)
        if derived is not None:
            sources.extend(derived.sources)
            anomalies.extend(derived.anomalies)
    return Derived(sources, anomalies)
