"""billing-admin dlq list|redrive on moto's queues: poison messages are listed without their
bodies and moved back to the webhook queue, send first and delete second."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest

from billing.adapters import sqs_queue
from billing.adapters.sqs_queue import DeadLetterQueue, SqsEventQueue
from billing.errors import DependencyUnavailableError
from tests.unit.admin.conftest import run_cli as run

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

# A Stripe event carries customer data: it must not reach the terminal unless asked for.
CUSTOMER_EMAIL = "jenny.rosen@example.com"


def stripe_event(event_id: str, event_type: str = "customer.created") -> str:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "created": 1_700_000_000,
            "livemode": False,
            "data": {"object": {"id": "cus_1", "object": "customer", "email": CUSTOMER_EMAIL}},
        }
    )


@pytest.fixture(autouse=True)
def short_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto answers every receive with all it has: no need to long-poll the last, empty one."""
    monkeypatch.setattr(sqs_queue, "RECEIVE_WAIT_SECONDS", 0)


@pytest.fixture
def sqs(aws: dict[str, str]) -> SQSClient:
    return boto3.client("sqs", region_name="us-east-1")


def fail_until_dead(sqs: SQSClient, aws: dict[str, str]) -> None:
    """What the consumer does to a poison message: receive it, fail, until SQS dead-letters it
    (moto moves it on the receive after maxReceiveCount, as SQS does)."""
    for _ in range(10):
        if not sqs.receive_message(
            QueueUrl=aws["WebhookQueue"], MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages"):
            return
    pytest.fail("the messages never left the webhook queue")


def poison(sqs: SQSClient, aws: dict[str, str]) -> None:
    """Two dead letters: an event the receiver enqueued (with its attributes) that the consumer
    kept failing, and a body that is not JSON at all."""
    SqsEventQueue(aws["WebhookQueue"], sqs).enqueue(
        stripe_event("evt_poison_1", "invoice.paid"), "evt_poison_1", "invoice.paid"
    )
    sqs.send_message(QueueUrl=aws["WebhookQueue"], MessageBody="not json")
    fail_until_dead(sqs, aws)


def counts(sqs: SQSClient, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def drain(sqs: SQSClient, url: str) -> list[MessageTypeDef]:
    messages: list[MessageTypeDef] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        messages.extend(batch)
    return messages


# ------------------------------------------------------------------ list
def test_list_shows_the_event_ids_and_types_without_the_bodies(
    cli: None, sqs: SQSClient, aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    poison(sqs, aws)

    code, out, _ = run(capsys, "dlq", "list")

    assert code == 0
    assert "evt_poison_1 invoice.paid" in out
    assert "(no event id) (no event type)" in out  # the "not json" one
    assert CUSTOMER_EMAIL not in out
    assert "not json" not in out
    assert counts(sqs, aws["WebhookDeadLetterQueue"]) == (2, 0)  # listing hid nothing


def test_list_json_describes_each_dead_letter(
    cli: None, sqs: SQSClient, aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    poison(sqs, aws)

    code, out, _ = run(capsys, "dlq", "list", "--json")

    assert code == 0
    listed = {item["stripe_event_id"]: item for item in json.loads(out)}
    assert set(listed) == {"evt_poison_1", None}
    event = listed["evt_poison_1"]
    assert event["stripe_event_type"] == "invoice.paid"
    assert event["receive_count"] >= 5  # the consumer's receives, plus this listing's
    assert event["first_received_at"].endswith("Z")
    assert event["body_size"] == len(stripe_event("evt_poison_1", "invoice.paid"))
    assert "body" not in event
    assert CUSTOMER_EMAIL not in out


def test_list_reads_the_event_from_the_body_when_attributes_are_missing(
    cli: None, sqs: SQSClient, aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sqs.send_message(QueueUrl=aws["WebhookDeadLetterQueue"], MessageBody=stripe_event("evt_b"))

    _, out, _ = run(capsys, "dlq", "list", "--json")

    (item,) = json.loads(out)
    assert (item["stripe_event_id"], item["stripe_event_type"]) == ("evt_b", "customer.created")


def test_list_show_body_prints_the_bodies(
    cli: None, sqs: SQSClient, aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    poison(sqs, aws)

    _, out, _ = run(capsys, "dlq", "list", "--show-body")
    _, as_json, _ = run(capsys, "dlq", "list", "--show-body", "--json")

    assert CUSTOMER_EMAIL in out
    assert "body: not json" in out
    assert {item["body"] for item in json.loads(as_json)} == {
        "not json",
        stripe_event("evt_poison_1", "invoice.paid"),
    }


def test_list_limit(
    cli: None, sqs: SQSClient, aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    poison(sqs, aws)

    code, out, _ = run(capsys, "dlq", "list", "--limit", "1", "--json")

    assert code == 0
    assert len(json.loads(out)) == 1
    assert counts(sqs, aws["WebhookDeadLetterQueue"]) == (2, 0)


def test_an_empty_dlq(cli: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "dlq", "list") == (0, "no messages in the dead-letter queue\n", "")


# ------------------------------------------------------------------ redrive
def test_redrive_moves_the_messages_with_their_attributes_and_empties_the_dlq(
    cli: None, sqs: SQSClient, aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    poison(sqs, aws)

    code, out, _ = run(capsys, "dlq", "redrive", "--yes")

    assert code == 0
    assert out.strip() == "moved 2 message(s) from the dead-letter queue to the webhook queue"
    assert counts(sqs, aws["WebhookDeadLetterQueue"]) == (0, 0)
    moved = {m["Body"]: m for m in drain(sqs, aws["WebhookQueue"])}
    assert set(moved) == {"not json", stripe_event("evt_poison_1", "invoice.paid")}
    attributes = moved[stripe_event("evt_poison_1", "invoice.paid")]["MessageAttributes"]
    assert {name: value["StringValue"] for name, value in attributes.items()} == {
        "stripe_event_id": "evt_poison_1",
        "stripe_event_type": "invoice.paid",
    }
    assert "MessageAttributes" not in moved["not json"]


def test_redrive_json(
    cli: None, sqs: SQSClient, aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    poison(sqs, aws)

    code, out, err = run(capsys, "--json", "dlq", "redrive", "--yes")

    assert (code, err) == (0, "")
    assert json.loads(out) == {"dry_run": False, "would_move": 2, "moved": 2}


def test_redrive_limit_moves_only_that_many(
    cli: None, sqs: SQSClient, aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    poison(sqs, aws)

    code, out, _ = run(capsys, "dlq", "redrive", "--yes", "--limit", "1", "--json")

    assert code == 0
    assert json.loads(out)["moved"] == 1
    assert counts(sqs, aws["WebhookDeadLetterQueue"]) == (1, 0)
    assert len(drain(sqs, aws["WebhookQueue"])) == 1


def test_redrive_without_yes_only_counts(
    cli: None, sqs: SQSClient, aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    poison(sqs, aws)

    code, out, _ = run(capsys, "dlq", "redrive")
    _, as_json, _ = run(capsys, "dlq", "redrive", "--limit", "1", "--json")

    assert code == 0
    assert out.startswith("would move 2 message(s)")
    assert "--yes" in out
    assert json.loads(as_json) == {"dry_run": True, "would_move": 1, "moved": 0}
    assert counts(sqs, aws["WebhookDeadLetterQueue"]) == (2, 0)
    assert counts(sqs, aws["WebhookQueue"]) == (0, 0)


def test_redrive_prints_progress_every_10_messages(
    cli: None, sqs: SQSClient, aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    for number in range(23):
        sqs.send_message(
            QueueUrl=aws["WebhookDeadLetterQueue"], MessageBody=stripe_event(f"evt_{number}")
        )

    code, out, err = run(capsys, "dlq", "redrive", "--yes")

    assert code == 0
    assert err.splitlines() == ["moved 10 ...", "moved 20 ..."]
    assert "moved 23 message(s)" in out
    assert counts(sqs, aws["WebhookQueue"]) == (23, 0)


@pytest.mark.parametrize("command", ["list", "redrive"])
def test_a_limit_below_1_is_bad_input(
    cli: None, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, out, err = run(capsys, "dlq", command, "--limit", "0")
    assert (code, out) == (2, "")
    assert "limit: must be at least 1" in err


def test_a_missing_queue_is_aws_not_answering(
    cli: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "WEBHOOK_DLQ_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/NoSuchQueue"
    )
    code, _, err = run(capsys, "dlq", "list")
    assert code == 3
    assert "SQS ReceiveMessage failed" in err


# ------------------------------------------------------------------ never loses a message
class DeleteFails:
    """An SQS client whose DeleteMessage fails: the crash between send and delete."""

    def __init__(self, client: SQSClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def delete_message(self, **kwargs: Any) -> Any:
        from botocore.exceptions import EndpointConnectionError

        raise EndpointConnectionError(endpoint_url="https://sqs.example")


def test_a_failure_between_send_and_delete_duplicates_and_never_loses(
    sqs: SQSClient, aws: dict[str, str]
) -> None:
    sqs.send_message(QueueUrl=aws["WebhookDeadLetterQueue"], MessageBody=stripe_event("evt_x"))
    queue = DeadLetterQueue(aws["WebhookDeadLetterQueue"], cast("SQSClient", DeleteFails(sqs)))

    with pytest.raises(DependencyUnavailableError, match="DeleteMessage"):
        queue.redrive(10, aws["WebhookQueue"])

    assert counts(sqs, aws["WebhookQueue"]) == (1, 0)  # sent
    assert counts(sqs, aws["WebhookDeadLetterQueue"]) == (1, 0)  # kept, visible again
