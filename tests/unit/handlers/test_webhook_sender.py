"""The outbound webhooks' sender (issue #22): a delivery not taken is hidden for a growing time
and reported as a batch item failure; every attempt is counted in all (what
OutboundWebhookFailureAlarm watches) and per endpoint (EMF with an endpoint_id dimension)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from billing import wiring
from billing.domain.deliveries import Delivery
from billing.services import tenancy
from billing_devstack.cfn import load_yaml
from tests.support.lambda_runtime import REPO_ROOT, invoke, load_event
from tests.unit.services.test_outbound_webhooks import (
    NOW,
    FakePoster,
    FakeResolver,
    _log_change,
    add,
)


@dataclass
class FakeDeliveryQueue:
    hidden: list[tuple[str, int]] = field(default_factory=list)

    def enqueue(self, deliveries: list[Delivery]) -> None:
        raise AssertionError("the sender never queues")

    def retry_after(self, receipt_handle: str, seconds: int) -> None:
        self.hidden.append((receipt_handle, seconds))


@dataclass
class Wired:
    poster: FakePoster
    queue: FakeDeliveryQueue
    endpoint_id: str


@pytest.fixture
def wired(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Wired]:
    tenancy.create_project(wiring.project_store(), name="space_journal", project_id=1, now=NOW)
    endpoint = add("https://hooks.example.com/billing")
    _log_change()
    poster, queue = FakePoster(), FakeDeliveryQueue()
    monkeypatch.setattr(wiring, "address_resolver", FakeResolver)
    monkeypatch.setattr(wiring, "webhook_poster", lambda: poster)
    monkeypatch.setattr(wiring, "delivery_queue", lambda: queue)
    yield Wired(poster, queue, endpoint.endpoint_id)


def _batch(endpoint_id: str, receive_count: int) -> dict[str, Any]:
    record = load_event("webhook_sender.json")["Records"][0]
    return {
        "Records": [
            {
                **record,
                "messageId": "msg-1",
                "receiptHandle": "handle-1",
                "body": Delivery("1", "user_42", 1, endpoint_id).to_message(),
                "attributes": {
                    **record["attributes"],
                    "ApproximateReceiveCount": str(receive_count),
                },
            }
        ]
    }


def _metrics(stdout: str) -> list[tuple[str, frozenset[tuple[str, str]]]]:
    """(metric name, its dimensions and their values) of each EMF line printed."""
    found: list[tuple[str, frozenset[tuple[str, str]]]] = []
    for line in stdout.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        blob = json.loads(line)
        (directive,) = blob["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Billing"
        (names,) = directive["Dimensions"]
        dimensions = frozenset((name, blob[name]) for name in names)
        found.extend((metric["Name"], dimensions) for metric in directive["Metrics"])
    return found


def test_a_failed_attempt_is_hidden_for_longer_each_time_and_counted_per_endpoint(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    wired.poster.status = 503
    for attempt in (1, 2, 3):
        answer = invoke("webhook_sender", _batch(wired.endpoint_id, attempt))
        assert answer == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}
    base = wiring.bound_settings().webhook_delivery_retry_base_seconds
    assert wired.queue.hidden == [
        ("handle-1", base),
        ("handle-1", 2 * base),
        ("handle-1", 4 * base),
    ]
    emitted = _metrics(capsys.readouterr().out)
    in_all = ("OutboundWebhookFailed", frozenset({("service", "billing")}))
    per_endpoint = (
        "OutboundWebhookFailed",
        frozenset(
            {("service", "billing"), ("endpoint_id", wired.endpoint_id), ("project_id", "1")}
        ),
    )
    assert emitted.count(in_all) == emitted.count(per_endpoint) == 3
    assert not any(name == "OutboundWebhookDelivered" for name, _ in emitted)


def test_a_taken_delivery_is_counted_delivered_and_not_retried(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invoke("webhook_sender", _batch(wired.endpoint_id, 1)) == {"batchItemFailures": []}
    assert (len(wired.poster.posts), wired.queue.hidden) == (1, [])
    names = [name for name, _ in _metrics(capsys.readouterr().out)]
    assert names.count("OutboundWebhookDelivered") == 2  # in all, and for the endpoint
    assert "OutboundWebhookFailed" not in names


def test_the_alarm_watches_the_failures_in_all() -> None:
    alarm = load_yaml((REPO_ROOT / "template.yaml").read_text())["Resources"][
        "OutboundWebhookFailureAlarm"
    ]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("Billing", "OutboundWebhookFailed")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "billing"}]
