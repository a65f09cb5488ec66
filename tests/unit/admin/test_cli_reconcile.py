"""billing-admin reconcile run|report on moto: a run is queued as the schedule queues it,
followed until it ends (or the wait gives up), and its report names every repair."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest

from billing import wiring
from billing.adapters.stripe_gateway import build_client
from billing.adapters.stripe_listing import StripeListing
from billing.domain.clock import utc_now
from billing.domain.metering import MeterDrift
from billing.domain.tenancy import Price
from billing.services import tenancy
from billing.services.reconciliation import Budget, continue_run
from billing_devstack.stripe_standin import StripeStandIn
from billing_devstack.stripe_standin.sdk_client import InProcessHTTPClient
from tests.unit.admin.conftest import run_cli as run

BASE = "http://standin.invalid"


@pytest.fixture
def queue_url(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RECONCILIATION_QUEUE_URL", aws["ReconciliationQueue"])
    return aws["ReconciliationQueue"]


def queued(url: str) -> list[dict[str, str]]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in found]


def finish(run_id: str) -> None:
    """What the function does with the queued run: two subscriptions no webhook brought."""
    tenancy.create_project(
        wiring.project_store(), name="space_journal", project_id=1, now=datetime.now(UTC)
    )
    wiring.price_store().put(Price("price_pro", "1", ("pro",), 900, "usd", "month"))
    standin = StripeStandIn(base_url=BASE)
    standin.register_price("price_pro", 900, "usd", {"interval": "month"})
    standin.seed_subscriptions(2, "price_pro", user_prefix="user_")
    client = build_client("sk_test_unit", BASE, InProcessHTTPClient(standin))
    done = continue_run(
        run_id,
        runs=wiring.reconciliation_runs(),
        pages=StripeListing(client, 1000.0, sleep=lambda _s: None),
        ledger=wiring.billing_ledger(),
        clock=utc_now,
        budget=Budget(pages=50),
        page_size=100,
    )
    assert done.run.status == "completed"


def test_run_without_waiting_queues_the_run_like_the_schedule(
    cli: None, queue_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "reconcile", "run", "--no-wait", "--json")
    assert code == 0
    started = json.loads(out)
    assert (started["status"], started["trigger"]) == ("running", "cli")
    assert queued(queue_url) == [{"run_id": started["run_id"]}]


def test_a_wait_that_runs_out_says_how_to_see_the_run_later(
    cli: None, queue_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "reconcile", "run", "--timeout", "0.2")
    assert code == 3
    assert out == ""
    assert "still running" in err
    assert "billing-admin reconcile report run_" in err


def test_report_last_names_each_repair_with_before_and_after(
    cli: None, queue_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "reconcile", "run", "--no-wait", "--json")
    run_id = json.loads(out)["run_id"]
    finish(run_id)

    code, text, _ = run(capsys, "reconcile", "report", "--last")
    assert code == 0
    assert f"run {run_id} (cli): completed" in text
    assert "repaired: 2" in text
    assert "(project 1 user user_0): created (subscription sub_" in text
    assert "errors: 0" in text

    code, out, _ = run(capsys, "reconcile", "report", run_id, "--json")
    report = json.loads(out)
    assert report["counts"]["subscription"]["repaired"] == 2
    assert sorted(r["user_id"] for r in report["repairs"]) == ["user_0", "user_1"]
    assert all(r["before"] is None and r["after"]["status"] == "active" for r in report["repairs"])


def test_bad_input_and_unknown_runs_are_clear_errors(
    cli: None, queue_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "reconcile", "run", "--days-back", "0")
    assert (code, "days_back: must be 1-30" in err) == (2, True)
    code, _, err = run(capsys, "reconcile", "report", "run_nope")
    assert (code, "no reconciliation run run_nope" in err) == (1, True)
    code, _, err = run(capsys, "reconcile", "report", "--last")
    assert (code, "no reconciliation run yet" in err) == (1, True)
    assert queued(queue_url) == []


def test_report_lists_the_prices_that_grant_nothing_where_they_are_used(
    cli: None, queue_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seeded subscriptions on a price registered to project 2 while their metadata says
    project 1: nothing granted, one report line each."""
    _, out, _ = run(capsys, "reconcile", "run", "--no-wait", "--json")
    run_id = json.loads(out)["run_id"]
    tenancy.create_project(wiring.project_store(), name="a", project_id=1, now=utc_now())
    tenancy.create_project(wiring.project_store(), name="b", project_id=2, now=utc_now())
    wiring.price_store().put(Price("price_theirs", "2", ("theirs",), 900, "usd", "month"))
    standin = StripeStandIn(base_url=BASE)
    standin.register_price("price_theirs", 900, "usd", {"interval": "month"})
    (sub_id,) = standin.seed_subscriptions(1, "price_theirs", user_prefix="user_")
    client = build_client("sk_test_unit", BASE, InProcessHTTPClient(standin))
    continue_run(
        run_id,
        runs=wiring.reconciliation_runs(),
        pages=StripeListing(client, 1000.0, sleep=lambda _s: None),
        ledger=wiring.billing_ledger(),
        clock=utc_now,
        budget=Budget(pages=50),
        page_size=100,
    )

    code, text, _ = run(capsys, "reconcile", "report", run_id)
    assert code == 0
    assert "price anomalies: 1" in text
    assert (
        f"price price_theirs of {sub_id} (project 1) grants nothing: registered to project 2"
        in text
    )
    _, out, _ = run(capsys, "reconcile", "report", run_id, "--json")
    (anomaly,) = json.loads(out)["anomalies"]
    assert (anomaly["problem"], anomaly["registered_to"]) == ("foreign", "2")


def test_report_lists_the_days_where_stripes_meters_and_our_usage_differ(
    cli: None, queue_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "reconcile", "run", "--no-wait", "--json")
    run_id = json.loads(out)["run_id"]
    run_summary = wiring.reconciliation_runs().get(run_id)
    assert run_summary is not None
    day = datetime(2026, 12, 7, tzinfo=UTC)
    drift = MeterDrift("api_requests", "cus_1", day, ours=16, stripe=12, pending=4)
    wiring.reconciliation_runs().save_meter_drift(run_summary, [drift])
    code, text, _ = run(capsys, "reconcile", "report", run_id)
    assert code == 0
    assert "meter drift: 1" in text
    assert (
        "meter api_requests, customer cus_1, 2026-12-07: ours 16, Stripe 12 (4 not reported)"
        in text
    )
    _, out, _ = run(capsys, "reconcile", "report", run_id, "--json")
    assert json.loads(out)["meter_drift"] == [
        {
            "meter": "api_requests",
            "customer_id": "cus_1",
            "day": "2026-12-07",
            "ours": 16,
            "stripe": 12,
            "pending": 4,
        }
    ]
