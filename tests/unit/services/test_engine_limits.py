"""Limits from prices to entitlement sources, through the engine on moto tables: a
subscription's sources carry its price's limits and its current period, which a renewal moves
on; a purchase's carry theirs without a period."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from billing import wiring
from billing.domain.allowances import Allowance, FeatureLimit
from billing.domain.entitlements import EntitlementSource
from billing.domain.tenancy import Price
from billing.services import engine, tenancy
from tests.support import stripe_events as se

T0 = 1_790_000_000
START, PERIOD_END = T0 - 86_400, T0 + 29 * 86_400
NOW = datetime.fromtimestamp(T0 + 60, UTC)
CALLS = FeatureLimit("api_calls", 50_000, "billing_period", "api_requests")


@pytest.fixture
def ledger(aws: dict[str, str]) -> Any:
    projects, prices = wiring.project_store(), wiring.price_store()
    tenancy.create_project(projects, name="space_journal", project_id=1, now=NOW)
    tenancy.add_price(
        projects,
        prices,
        Price("price_api", "1", ("api_calls", "pro"), 2900, "usd", "month", limits=(CALLS,)),
    )
    tenancy.add_price(
        projects,
        prices,
        Price(
            "price_pack",
            "1",
            ("credits",),
            900,
            "usd",
            "one_time",
            limits=(FeatureLimit("credits", 1000, "never"),),
        ),
    )
    return wiring.billing_ledger()


def sources() -> dict[tuple[str, str], EntitlementSource]:
    return {
        (s.feature_code, s.source): s for s in wiring.entitlement_store().sources_of("1", "user_42")
    }


def test_the_price_table_keeps_a_prices_limits(ledger: Any) -> None:
    stored = wiring.price_store().get("price_api")
    assert stored is not None
    assert stored.limits == (CALLS,)
    assert wiring.price_store().get("price_pack") is not None


def test_a_subscription_source_carries_its_prices_limit_and_current_period(ledger: Any) -> None:
    subscription = se.subscription(prices=("price_api",), start=START, period_end=PERIOD_END)
    engine.apply_event(se.event("customer.subscription.created", subscription, T0), ledger, NOW)
    found = sources()
    assert found["api_calls", "subscription"].allowance == Allowance(
        50_000,
        "billing_period",
        "api_requests",
        datetime.fromtimestamp(START, UTC),
        datetime.fromtimestamp(PERIOD_END, UTC),
    )
    assert found["pro", "subscription"].allowance is None  # no limit on that feature


def test_a_paid_renewal_moves_the_period_on(ledger: Any) -> None:
    subscription = se.subscription(prices=("price_api",), start=START, period_end=PERIOD_END)
    engine.apply_event(se.event("customer.subscription.created", subscription, T0), ledger, NOW)
    next_end = PERIOD_END + 30 * 86_400
    invoice = se.invoice(period_end=next_end)
    engine.apply_event(se.event("invoice.paid", invoice, T0 + 100), ledger, NOW)
    allowance = sources()["api_calls", "subscription"].allowance
    assert allowance is not None
    assert allowance.period_end == datetime.fromtimestamp(next_end, UTC)
    assert allowance.period_start == datetime.fromtimestamp(next_end - 2_592_000, UTC)


def test_a_purchase_source_carries_its_limit_without_a_period(ledger: Any) -> None:
    session = se.checkout_session(price_id="price_pack")
    engine.apply_event(se.event("checkout.session.completed", session, T0), ledger, NOW)
    credits = sources()["credits", "purchase"]
    assert credits.allowance == Allowance(1000, "never")
