"""A scripted month of events for project 1, and every figure checked by hand.

Window: 2026-11-01 to 2026-12-01 (UTC). Prices: monthly 9.00 USD, yearly 96.00 USD,
monthly 8.00 EUR, a 3.00 USD add-on every 2 weeks, a 49.00 USD lifetime purchase.

  sub_a  USD monthly       starts Nov 2, first invoice 900 paid Nov 2          active
  sub_b  USD yearly x2     started Oct 15, invoice 19200 paid Oct 15           active
  sub_c  EUR monthly       started Oct 20, renewal 800 paid Nov 20             active
  sub_d  USD monthly       started Oct 5, renewal fails Nov 5                  past_due
  sub_e  USD monthly + add-on, starts Nov 10, invoice 1200 paid, deleted Nov 25 canceled
  sub_f  EUR monthly       trial from Nov 28                                   trialing
  pi_1   lifetime 4900 USD paid Nov 12, 1000 refunded Nov 14
  pi_2   lifetime 4900 USD paid Oct 30, fully refunded Nov 16

By hand:
  by status: active 3, past_due 1, trialing 1, canceled 1; total active (entitled) 5
  new in the window: a, e, f = 3; churned: e = 1
  USD gross 900 + 1200 + 4900 = 7000, refunded 1000 + 4900 = 5900, net 1100
  EUR gross 800, refunded 0, net 800
  MRR (active + past_due): USD a 900 + b 9600x2/12 = 1600 + d 900 = 3400; EUR c 800
  ARR: USD 40800, EUR 9600
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from billing import wiring
from billing.domain.tenancy import Price
from billing.services import engine, tenancy
from billing.services.metrics import metrics_series, revenue_metrics, subscription_metrics
from tests.support import stripe_events as se

SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime(2026, 12, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 2, tzinfo=UTC)


def day(month: int, day_of_month: int) -> int:
    return int(datetime(2026, month, day_of_month, 12, tzinfo=UTC).timestamp())


PRICES = [
    Price("price_m_usd", "1", ("pro",), 900, "usd", "month"),
    Price("price_y_usd", "1", ("pro",), 9600, "usd", "year"),
    Price("price_m_eur", "1", ("pro",), 800, "eur", "month"),
    Price("price_w_usd", "1", ("addon",), 300, "usd", "week", interval_count=2),
    Price("price_life", "1", ("lifetime",), 4900, "usd", "one_time"),
]


def owner(user: str, project: str = "1") -> dict[str, str]:
    return {"project_id": project, "user_id": user}


def send(event_type: str, obj: dict[str, Any], created: int) -> None:
    outcome = engine.apply_event(se.event(event_type, obj, created), wiring.billing_ledger(), NOW)
    assert outcome == engine.Outcome.APPLIED, (event_type, outcome)


def subscription(sub_id: str, user: str, start: int, **fields: Any) -> dict[str, Any]:
    return se.subscription(sub_id, metadata=owner(user), start=start, **fields)


def script_the_month() -> None:
    send(
        "customer.subscription.created",
        subscription("sub_a", "ua", day(11, 2), prices=("price_m_usd",)),
        day(11, 2),
    )
    send("invoice.paid", se.invoice("sub_a", period_end=day(12, 2), amount_paid=900), day(11, 2))
    send(
        "customer.subscription.created",
        subscription("sub_b", "ub", day(10, 15), prices=("price_y_usd",), quantities=(2,)),
        day(10, 15),
    )
    send(
        "invoice.paid",
        se.invoice("sub_b", period_end=day(10, 15) + 365 * 86400, amount_paid=19200),
        day(10, 15),
    )
    send(
        "customer.subscription.created",
        subscription("sub_c", "uc", day(10, 20), prices=("price_m_eur",)),
        day(10, 20),
    )
    send(
        "invoice.paid",
        se.invoice("sub_c", period_end=day(12, 20), amount_paid=800, currency="eur"),
        day(11, 20),
    )
    send(
        "customer.subscription.created",
        subscription("sub_d", "ud", day(10, 5), prices=("price_m_usd",)),
        day(10, 5),
    )
    send(
        "invoice.payment_failed",
        se.invoice("sub_d", period_end=day(12, 5), amount_paid=0),
        day(11, 5),
    )
    send(
        "customer.subscription.updated",
        subscription("sub_d", "ud", day(10, 5), prices=("price_m_usd",), status="past_due"),
        day(11, 5) + 1,
    )
    sub_e = subscription("sub_e", "ue", day(11, 10), prices=("price_m_usd", "price_w_usd"))
    send("customer.subscription.created", sub_e, day(11, 10))
    send("invoice.paid", se.invoice("sub_e", period_end=day(12, 10), amount_paid=1200), day(11, 10))
    send("customer.subscription.deleted", {**sub_e, "status": "canceled"}, day(11, 25))
    send(
        "customer.subscription.created",
        subscription(
            "sub_f",
            "uf",
            day(11, 28),
            prices=("price_m_eur",),
            status="trialing",
            trial_end=day(12, 12),
        ),
        day(11, 28),
    )
    buy = se.checkout_session(payment_intent="pi_1", price_id="price_life")
    send(
        "checkout.session.completed",
        {**buy, "metadata": {**owner("ug"), "price_id": "price_life"}},
        day(11, 12),
    )
    send("charge.refunded", se.charge("pi_1", amount_refunded=1000), day(11, 14))
    old = se.checkout_session(payment_intent="pi_2", price_id="price_life")
    send(
        "checkout.session.completed",
        {**old, "metadata": {**owner("uh"), "price_id": "price_life"}},
        day(10, 30),
    )
    send("charge.refunded", se.charge("pi_2", amount_refunded=4900), day(11, 16))


@pytest.fixture
def month(aws: dict[str, str]) -> None:
    tenancy.create_project(wiring.project_store(), name="space_journal", project_id=1, now=NOW)
    for price in PRICES:
        wiring.price_store().put(price)
    script_the_month()


def report(kind: Any, project: str = "1") -> Any:
    return kind(
        wiring.metrics_store(), wiring.price_store(), project, since=SINCE, until=UNTIL, now=NOW
    )


def test_subscription_figures_match_the_hand_computation(month: None) -> None:
    figures = report(subscription_metrics)
    assert figures["counts_by_status"] == {"active": 3, "canceled": 1, "past_due": 1, "trialing": 1}
    assert (figures["total_active"], figures["new"], figures["churned"]) == (5, 3, 1)
    assert figures["by_price"] == {
        "price_m_eur": {"active": 2, "feature_codes": ["pro"]},
        "price_m_usd": {"active": 2, "feature_codes": ["pro"]},
        "price_y_usd": {"active": 1, "feature_codes": ["pro"]},
    }
    assert figures["by_feature"] == {"pro": 5}
    assert (figures["since"], figures["until"]) == ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")


def test_revenue_figures_match_the_hand_computation_per_currency(month: None) -> None:
    assert report(revenue_metrics)["currencies"] == {
        "eur": {"gross": 800, "refunded": 0, "net": 800, "mrr": 800, "arr": 9600},
        "usd": {"gross": 7000, "refunded": 5900, "net": 1100, "mrr": 3400, "arr": 40800},
    }


def test_the_figures_agree_with_a_recomputation_from_the_raw_records(month: None) -> None:
    """Recompute gross and status counts straight from the table's items."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    items = client.scan(TableName="StripeObjectsTable")["Items"]
    facts = [json.loads(item["fact"]["S"]) for item in items]
    start, end = SINCE.timestamp(), UNTIL.timestamp()
    gross: dict[str, int] = {}
    for fact in facts:
        if fact["kind"] in ("payment", "purchase") and start <= fact["paid_at"] < end:
            gross[fact["currency"]] = gross.get(fact["currency"], 0) + fact["amount"]
    figures = report(revenue_metrics)["currencies"]
    assert {c: v["gross"] for c, v in figures.items() if v["gross"]} == gross
    statuses: dict[str, int] = {}
    for fact in facts:
        if fact["kind"] == "subscription":
            statuses[fact["status"]] = statuses.get(fact["status"], 0) + 1
    assert report(subscription_metrics)["counts_by_status"] == statuses


def test_the_daily_series_follows_starts_and_ends(month: None) -> None:
    series = {p["day"]: p for p in report(metrics_series)}
    assert len(series) == 30
    # End of Nov 1: b, c, d alive (a starts Nov 2); paying: b 1600 + d 900 USD, c 800 EUR.
    assert series["2026-11-01"]["active_subscriptions"] == 3
    assert series["2026-11-01"]["mrr"] == {"eur": 800, "usd": 2500}
    # End of Nov 30: a, b, c, d, f alive (e ended Nov 25; f is in its trial: not paying).
    assert series["2026-11-30"]["active_subscriptions"] == 5
    assert series["2026-11-30"]["mrr"] == {"eur": 800, "usd": 3400}


def test_another_projects_size_does_not_change_the_cost_of_a_read(
    month: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.client

    def calls_for_one_report() -> list[str]:
        calls: list[str] = []
        original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]

        def counting(self: Any, operation: str, params: Any) -> Any:
            calls.append(operation)
            return original(self, operation, params)

        with monkeypatch.context() as patch:
            patch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
            report(revenue_metrics)
        return calls

    before = calls_for_one_report()
    tenancy.create_project(wiring.project_store(), name="big", project_id=2, now=NOW)
    wiring.price_store().put(Price("price_big", "2", ("pro",), 100, "usd", "month"))
    for n in range(60):
        sub = se.subscription(f"sub_big_{n}", metadata=owner(f"u{n}", "2"), prices=("price_big",))
        send("customer.subscription.created", sub, day(11, 3))
    assert calls_for_one_report() == before == ["Query", "Query"]
    assert report(revenue_metrics)["currencies"]["usd"]["mrr"] == 3400
