"""The reconciliation function: the schedule starts a run, the queue carries it on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from billing import wiring
from billing.adapters.stripe_gateway import build_client
from billing.adapters.stripe_listing import StripeListing
from billing.adapters.stripe_reader import StripeObjectReader
from billing.domain.tenancy import Price
from billing.services import tenancy
from billing_devstack.stripe_standin import StripeStandIn
from billing_devstack.stripe_standin.sdk_client import InProcessHTTPClient
from tests.support.lambda_runtime import FakeLambdaContext, import_function, load_event

BASE = "http://standin.invalid"


@dataclass
class ContextWithTime(FakeLambdaContext):
    remaining_millis: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


@pytest.fixture
def queues(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("RECONCILIATION_QUEUE_URL", aws["ReconciliationQueue"])
    wiring.reset()
    yield aws


@pytest.fixture
def standin(queues: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> StripeStandIn:
    """Three subscriptions in Stripe that no webhook ever brought."""
    tenancy.create_project(
        wiring.project_store(), name="space_journal", project_id=1, now=datetime.now(UTC)
    )
    wiring.price_store().put(Price("price_pro", "1", ("pro",), 900, "usd", "month"))
    fake = StripeStandIn(base_url=BASE)
    fake.register_price("price_pro", 900, "usd", {"interval": "month"})
    client = build_client("sk_test_unit", BASE, InProcessHTTPClient(fake))
    for user in ("u1", "u2", "u3"):
        metadata = {"project_id": "1", "user_id": user}
        session = client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "line_items": [{"price": "price_pro", "quantity": 1}],
                "success_url": "https://app.test/ok",
                "customer_email": f"{user}@app.test",
                "metadata": metadata,
                "subscription_data": {"metadata": metadata},
            }
        )
        fake.pay_checkout(session.id)
    monkeypatch.setattr(
        wiring,
        "stripe_listing",
        lambda: (StripeListing(client, 1000.0, sleep=lambda _s: None), StripeObjectReader(client)),
    )
    return fake


def received(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def continuation(run_id: str) -> dict[str, Any]:
    event = load_event("reconciliation_continuation.json")
    event["Records"][0]["body"] = json.dumps({"run_id": run_id})
    return event


def emitted_metrics(output: str) -> dict[str, float]:
    """The EMF documents Powertools printed: metric name -> value (summed when repeated)."""
    found: dict[str, float] = {}
    for line in output.splitlines():
        if '"_aws"' in line:
            document = json.loads(line)
            for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = document[metric["Name"]]
                found[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return found


def test_the_switch_turns_the_nightly_start_off(
    queues: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILIATION_ENABLED", "false")
    handler = import_function("reconciliation").lambda_handler
    assert handler(load_event("reconciliation.json"), ContextWithTime()) == {"status": "disabled"}
    assert received(queues["ReconciliationQueue"]) == []


def test_the_schedule_starts_a_run_queues_it_and_publishes_the_dlq_depth(
    queues: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("sqs", region_name="us-east-1").send_message(
        QueueUrl=queues["WebhookDeadLetterQueue"], MessageBody="{}"
    )
    handler = import_function("reconciliation").lambda_handler

    result = handler(load_event("reconciliation.json"), ContextWithTime())

    assert result["status"] == "started"
    assert received(queues["ReconciliationQueue"]) == [{"run_id": result["run_id"]}]
    run = wiring.reconciliation_runs().get(result["run_id"])
    assert run is not None and run.status == "running" and run.trigger == "schedule"
    assert emitted_metrics(capsys.readouterr().out)["WebhookDeadLetterDepth"] == 1


def test_a_continuation_works_within_its_budget_then_queues_the_rest(
    standin: StripeStandIn,
    queues: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RECONCILIATION_PAGE_SIZE", "2")
    monkeypatch.setenv("RECONCILIATION_PAGES_PER_INVOCATION", "1")
    wiring.reset()
    handler = import_function("reconciliation").lambda_handler
    started = handler(load_event("reconciliation.json"), ContextWithTime())
    assert received(queues["ReconciliationQueue"]) == [{"run_id": started["run_id"]}]
    capsys.readouterr()

    result = handler(continuation(started["run_id"]), ContextWithTime())

    assert result["continued"] == [
        {"run_id": started["run_id"], "status": "running", "pages": 1, "more": True}
    ]
    assert received(queues["ReconciliationQueue"]) == [{"run_id": started["run_id"]}]
    figures = emitted_metrics(capsys.readouterr().out)
    assert figures["ReconciliationExamined"] == 2
    assert figures["ReconciliationRepairs"] == 2
    assert figures["ReconciliationFailures"] == 0


def test_an_invocation_out_of_time_hands_over_without_a_page(
    standin: StripeStandIn, queues: dict[str, str]
) -> None:
    handler = import_function("reconciliation").lambda_handler
    started = handler(load_event("reconciliation.json"), ContextWithTime())
    received(queues["ReconciliationQueue"])

    result = handler(continuation(started["run_id"]), ContextWithTime(remaining_millis=60_000))

    assert result["continued"][0]["pages"] == 0
    assert result["continued"][0]["more"] is True
    assert received(queues["ReconciliationQueue"]) == [{"run_id": started["run_id"]}]


def test_a_run_driven_to_its_end_by_its_queue_repairs_and_counts_a_finished_run(
    standin: StripeStandIn, queues: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    handler = import_function("reconciliation").lambda_handler
    started = handler(load_event("reconciliation.json"), ContextWithTime())
    pending = received(queues["ReconciliationQueue"])
    results = []
    while pending:
        results.append(handler(continuation(pending.pop()["run_id"]), ContextWithTime()))
        pending += received(queues["ReconciliationQueue"])

    assert results[-1]["continued"][0]["status"] == "completed"
    run = wiring.reconciliation_runs().get(started["run_id"])
    assert run is not None and run.counts["repaired_subscription"] == 3
    assert emitted_metrics(capsys.readouterr().out)["ReconciliationRuns"] == 1


def test_a_page_that_fails_counts_a_failure_and_raises_for_sqs_to_retry(
    standin: StripeStandIn,
    queues: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = import_function("reconciliation").lambda_handler
    started = handler(load_event("reconciliation.json"), ContextWithTime())
    received(queues["ReconciliationQueue"])

    def down(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("Stripe is down")

    monkeypatch.setattr(StripeListing, "page", down)
    capsys.readouterr()
    with pytest.raises(RuntimeError):
        handler(continuation(started["run_id"]), ContextWithTime())
    assert emitted_metrics(capsys.readouterr().out)["ReconciliationFailures"] == 1
