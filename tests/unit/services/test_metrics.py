"""A scripted month of events for project 1, and every figure checked by hand.

Window: 2026-11-01 to 2026-12-01 (UTC); grace 3 days. Prices, as Stripe's items carry them:
monthly 9.00 USD, yearly 96.00 USD, monthly 8.00 EUR, a 3.00 USD add-on every 2 weeks, a
49.00 USD lifetime purchase. Events at noon.

  sub_a  USD monthly, 25 % off forever, starts Nov 2, first invoice 675 paid Nov 2   active
  sub_b  USD yearly x2     started Oct 15, invoice 19200 paid Oct 15           active
  sub_c  EUR monthly       started Oct 20, renewal 800 paid Nov 20             active
  sub_d  USD monthly       started Oct 5, renewal fails Nov 5                  past_due
  sub_e  USD monthly + add-on, starts Nov 10, invoice 1200 paid, deleted Nov 25 canceled
  sub_f  EUR monthly       trial from Nov 28                                   trialing
  pi_1   lifetime 4900 USD paid Nov 12, 1000 refunded Nov 14
  pi_2   lifetime 4900 USD paid Oct 30, fully refunded Nov 16

By hand:
  MRR at Nov 1: USD b 9600 x 2 / 12 = 1600 + d 900 = 2500 (customers ub, ud); EUR c 800.
  USD movements: new a 900 x 75 % = 675 (Nov 2), e 900 + 300 x 52 / 24 = 1550 (Nov 10);
    churned d 900 (its grace runs out Nov 8, noon), e 1550 (Nov 25): 2450.
  MRR at Dec 1: USD 2500 + 675 + 1550 - 900 - 1550 = 2275 (a, b); EUR 800. ARR x 12.
  Customers USD: 2 at start, 2 at end, new 2, churned 2: churn rate 2 / 2 = 1.0; revenue
    churn 2450 / 2500 = 0.98. EUR: nothing moved, rates 0.0.
  Revenue USD gross 675 + 1200 + 4900 = 6775, refunded 1000 + 4900 = 5900, disputed 0,
    net 875; EUR gross 800, net 800.
  At Dec 1: active 3 (a, b, c), past_due 1 (d), trialing 1 (f), canceled 1 (e); giving
    access: a, b, c, f = 4 (d's grace ran out); new customers 2, churned 2 (USD).
  f's trial never paid: no MRR, no churn.
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
    raw, now = se.event(event_type, obj, created), se.applied_at(created, NOW)
    outcome = engine.apply_event(raw, wiring.billing_ledger(), now)
    assert outcome == engine.Outcome.APPLIED, (event_type, outcome)


TERMS = {p.stripe_price_id: (p.amount, p.currency, p.interval, p.interval_count) for p in PRICES}


def subscription(sub_id: str, user: str, start: int, **fields: Any) -> dict[str, Any]:
    return se.subscription(sub_id, metadata=owner(user), start=start, terms=TERMS, **fields)


def quarter_off(start: int) -> dict[str, Any]:
    """A 25 %-off forever discount, expanded with its coupon as Stripe answers a read."""
    coupon = se.fixture("coupon")
    coupon.update(id="QUARTER", percent_off=25, amount_off=None, duration="forever")
    discount = se.fixture("discount")
    discount.update(id="di_quarter", start=start, end=None,
                    source={"type": "coupon", "coupon": coupon})  # fmt: skip
    return discount


def script_the_month() -> None:
    sub_a = subscription(
        "sub_a", "ua", day(11, 2), prices=("price_m_usd",), discounts=[quarter_off(day(11, 2))]
    )
    send("customer.subscription.created", sub_a, day(11, 2))
    send("invoice.paid", se.invoice("sub_a", period_end=day(12, 2), amount_paid=675), day(11, 2))
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


def report(kind: Any, project: str = "1", until: datetime = UNTIL) -> Any:
    return kind(
        wiring.metrics_store(), wiring.price_store(), project, since=SINCE, until=until, now=NOW
    )


def test_subscription_figures_match_the_hand_computation(month: None) -> None:
    figures = report(subscription_metrics)
    assert figures["counts_by_status"] == {"active": 3, "canceled": 1, "past_due": 1, "trialing": 1}
    assert (figures["total_active"], figures["new"], figures["churned"]) == (4, 2, 2)
    assert figures["by_price"] == {
        "price_m_eur": {"active": 2, "feature_codes": ["pro"]},
        "price_m_usd": {"active": 1, "feature_codes": ["pro"]},
        "price_y_usd": {"active": 1, "feature_codes": ["pro"]},
    }
    assert figures["by_feature"] == {"pro": 4}
    assert (figures["since"], figures["until"]) == ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
    assert figures["currencies"] == HAND_COMPUTED


HAND_COMPUTED = {
    "eur": {
        "gross": 800,
        "refunded": 0,
        "disputed": 0,
        "net": 800,
        "mrr": 800,
        "arr": 9600,
        "mrr_start": 800,
        "mrr_end": 800,
        "movements": {
            "new": 0,
            "reactivation": 0,
            "expansion": 0,
            "contraction": 0,
            "churned": 0,
        },
        "customers": {"at_start": 1, "at_end": 1, "new": 0, "reactivated": 0, "churned": 0},
        "customer_churn_rate": 0.0,
        "revenue_churn_rate": 0.0,
    },
    "usd": {
        "gross": 6775,
        "refunded": 5900,
        "disputed": 0,
        "net": 875,
        "mrr": 2275,
        "arr": 27300,
        "mrr_start": 2500,
        "mrr_end": 2275,
        "movements": {
            "new": 2225,
            "reactivation": 0,
            "expansion": 0,
            "contraction": 0,
            "churned": 2450,
        },
        "customers": {"at_start": 2, "at_end": 2, "new": 2, "reactivated": 0, "churned": 2},
        "customer_churn_rate": 1.0,
        "revenue_churn_rate": 0.98,
    },
}


def test_revenue_figures_match_the_hand_computation_per_currency(month: None) -> None:
    assert report(revenue_metrics)["currencies"] == HAND_COMPUTED


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


def test_the_daily_series_follows_the_history(month: None) -> None:
    series = {p["day"]: p for p in report(metrics_series)}
    assert len(series) == 30
    # End of Nov 1: b, c, d give access (a starts Nov 2); paying: b 1600 + d 900 USD, c 800 EUR.
    assert series["2026-11-01"]["active_subscriptions"] == 3
    assert series["2026-11-01"]["mrr"] == {"eur": 800, "usd": 2500}
    assert series["2026-11-08"]["movements"]["usd"]["churned"] == 900, "d's grace ran out"
    assert series["2026-11-10"]["movements"]["usd"]["new"] == 1550
    # End of Nov 30: a, b, c, f (e ended Nov 25; d's grace is over; f is in its trial).
    assert series["2026-11-30"]["active_subscriptions"] == 4
    assert series["2026-11-30"]["mrr"] == {"eur": 800, "usd": 2275}


def test_the_same_window_asked_again_after_later_events_is_the_same(month: None) -> None:
    before = (report(subscription_metrics), report(revenue_metrics), report(metrics_series))
    # December: d recovers, b is canceled, f's trial converts, a is refunded in part.
    send("invoice.paid", se.invoice("sub_d", period_end=day(1, 5) + 86_400 * 365, amount_paid=900),
         day(12, 3))  # fmt: skip
    send(
        "customer.subscription.deleted",
        subscription(
            "sub_b", "ub", day(10, 15), prices=("price_y_usd",), quantities=(2,), status="canceled"
        ),
        day(12, 4),
    )
    send(
        "customer.subscription.updated",
        subscription("sub_f", "uf", day(11, 28), prices=("price_m_eur",)),
        day(12, 12),
    )
    assert (
        report(revenue_metrics, until=datetime(2026, 12, 31, tzinfo=UTC))["currencies"]["usd"][
            "movements"
        ]["churned"]
        > 0
    ), "the later events do move later windows"
    after = (report(subscription_metrics), report(revenue_metrics), report(metrics_series))
    assert after == before


def test_another_projects_size_does_not_change_the_cost_of_a_read(
    month: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each call of a metrics request, and what it reads: the same with a project 20 times
    this one's size beside it."""
    import botocore.client

    def calls_for_one_report() -> list[tuple[str, int]]:
        calls: list[tuple[str, int]] = []
        original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]

        def counting(self: Any, operation: str, params: Any) -> Any:
            answer = original(self, operation, params)
            calls.append((operation, answer.get("ScannedCount", len(answer.get("Item", {})) > 0)))
            return answer

        with monkeypatch.context() as patch:
            patch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
            report(revenue_metrics)
        return calls

    before = calls_for_one_report()
    tenancy.create_project(wiring.project_store(), name="big", project_id=2, now=NOW)
    wiring.price_store().put(Price("price_big", "2", ("pro",), 100, "usd", "month"))
    for n in range(120):
        sub = se.subscription(f"sub_big_{n}", metadata=owner(f"u{n}", "2"), prices=("price_big",))
        send("customer.subscription.created", sub, day(11, 3))
        send("customer.subscription.updated", {**sub, "status": "past_due"}, day(11, 4))
    assert calls_for_one_report() == before
    assert [operation for operation, _ in before] == ["Query", "Query", "Query", "GetItem"]
    # 6 subscriptions, 4 invoice payments, 2 purchases; 8 states (d failed, e ended); 5 prices
    facts, history, prices, _ = (read for _, read in before)
    assert (facts, history, prices) == (12, 8, 5), "project 1's own items, nothing else"
    assert report(revenue_metrics)["currencies"]["usd"]["mrr"] == 2275
