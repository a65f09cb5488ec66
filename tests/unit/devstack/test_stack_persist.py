"""LOCAL_PERSIST: DynamoDB Local on disk, and the queues' messages saved on a graceful stop and
sent again on the next start (moto in-process, no sockets)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from billing_devstack import resources
from billing_devstack.config import REPO_ROOT, LocalConfig
from billing_devstack.lambda_runtime import InvokeResult
from billing_devstack.poller_threads import PollerThreads
from billing_devstack.resources import create_queues, queue_depth, restore_backlog, save_backlog
from billing_devstack.sqs_poller import BotoQueue, QueuePoller
from billing_devstack.stack import BACKLOG_FILE, Stack, dynamodb_command
from billing_devstack.template import load_template
from tests.unit.devstack.conftest import FakeInvoker, ok, raises

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

TEMPLATE = load_template(REPO_ROOT / "template.yaml", "http://127.0.0.1:1")
WEBHOOKS, DEAD = "WebhookQueue", "WebhookDeadLetterQueue"
CONSUMER = "WebhookConsumerFunction"
JAR = Path("/opt/ddb/DynamoDBLocal.jar")


# ------------------------------------------------------------------ configuration and command
def test_persist_is_off_unless_local_persist_is_set() -> None:
    assert LocalConfig.from_env({}).persist is False
    assert LocalConfig.from_env({"LOCAL_PERSIST": ""}).persist is False  # `make run` without it
    assert LocalConfig.from_env({"LOCAL_PERSIST": "1"}).persist is True


def test_dynamodb_local_runs_in_memory_by_default() -> None:
    command = dynamodb_command(JAR, 8100)
    assert "-inMemory" in command
    assert "-dbPath" not in command
    assert command[-2:] == ["-port", "8100"]


def test_dynamodb_local_persisting_uses_its_db_path_instead_of_memory(tmp_path: Path) -> None:
    command = dynamodb_command(JAR, 8100, tmp_path / "dynamodb")
    assert "-inMemory" not in command
    at = command.index("-dbPath")
    assert command[at + 1] == str(tmp_path / "dynamodb")
    assert {"-sharedDb", "-disableTelemetry"} <= set(command)
    assert command[-2:] == ["-port", "8100"]


# ------------------------------------------------------------------ save and restore
_sqs_client = resources.sqs_client  # the real one, before a test patches it


def sqs() -> SQSClient:
    return _sqs_client("https://sqs.us-east-1.amazonaws.com")


def queue_names(urls: dict[str, str]) -> dict[str, str]:
    """Logical id -> URL, as the stack has them, to name -> URL."""
    return {TEMPLATE.queue(logical_id).name: url for logical_id, url in urls.items()}


def send_event(client: SQSClient, url: str, event_id: str) -> None:
    client.send_message(
        QueueUrl=url,
        MessageBody=json.dumps({"id": event_id, "object": "event"}),
        MessageAttributes={
            "stripe_event_id": {"DataType": "String", "StringValue": event_id},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
            "n": {"DataType": "Number", "StringValue": "7"},
        },
    )


def everything_in(client: SQSClient, url: str) -> list[dict[str, Any]]:
    """Every visible message (hidden for a minute)."""
    found: list[dict[str, Any]] = []
    while True:
        batch = client.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return found
        found += [dict(message) for message in batch]


def test_saved_messages_are_sent_again_with_their_attributes_and_the_file_removed(
    tmp_path: Path,
) -> None:
    backlog = tmp_path / BACKLOG_FILE
    with mock_aws():
        client = sqs()
        urls = queue_names(create_queues(client, TEMPLATE.queues))
        for n in range(23):  # more than one receive page
            send_event(client, urls[WEBHOOKS], f"evt_{n}")
        client.send_message(QueueUrl=urls[DEAD], MessageBody="not json")
        assert save_backlog(client, [(WEBHOOKS, urls[WEBHOOKS]), (DEAD, urls[DEAD])], backlog) == 24

    with mock_aws():  # the next start: a new, empty moto
        client = sqs()
        urls = queue_names(create_queues(client, TEMPLATE.queues))
        assert restore_backlog(client, urls, backlog) == {WEBHOOKS: 23, DEAD: 1}
        assert not backlog.exists()
        restored = everything_in(client, urls[WEBHOOKS])
        assert sorted(json.loads(m["Body"])["id"] for m in restored) == sorted(
            f"evt_{n}" for n in range(23)
        )
        attributes = restored[0]["MessageAttributes"]
        event_id = json.loads(restored[0]["Body"])["id"]
        assert attributes["stripe_event_id"] == {"DataType": "String", "StringValue": event_id}
        assert attributes["raw"] == {"DataType": "Binary", "BinaryValue": b"\x00\xff"}
        assert attributes["n"] == {"DataType": "Number", "StringValue": "7"}
        assert [m["Body"] for m in everything_in(client, urls[DEAD])] == ["not json"]
        assert restored[0]["Attributes"]["ApproximateReceiveCount"] == "1"  # counted afresh


def test_a_message_on_its_last_receive_is_saved_from_its_dead_letter_queue(
    tmp_path: Path,
) -> None:
    """Receiving for the save is a receive: at maxReceiveCount, SQS (and moto) moves the
    message to the DLQ instead; saving the source queue before its DLQ still keeps it."""
    backlog = tmp_path / BACKLOG_FILE
    with mock_aws():
        client = sqs()
        urls = queue_names(create_queues(client, TEMPLATE.queues))
        send_event(client, urls[WEBHOOKS], "evt_tired")
        (webhooks,) = [q for q in TEMPLATE.queues if q.name == WEBHOOKS]
        for _ in range(webhooks.max_receive_count or 0):
            (message,) = client.receive_message(QueueUrl=urls[WEBHOOKS])["Messages"]
            client.change_message_visibility(
                QueueUrl=urls[WEBHOOKS],
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=0,
            )
        assert save_backlog(client, [(WEBHOOKS, urls[WEBHOOKS]), (DEAD, urls[DEAD])], backlog) == 1
    saved = json.loads(backlog.read_text())["queues"]
    assert list(saved) == [DEAD]
    assert json.loads(saved[DEAD][0]["body"])["id"] == "evt_tired"


def test_no_backlog_restores_nothing_and_an_unknown_queue_keeps_its_messages(
    tmp_path: Path,
) -> None:
    backlog = tmp_path / BACKLOG_FILE
    with mock_aws():
        client = sqs()
        urls = queue_names(create_queues(client, TEMPLATE.queues))
        assert restore_backlog(client, urls, backlog) == {}
        gone = {"body": "old", "message_attributes": {}}
        kept = {"body": "kept", "message_attributes": {}}
        backlog.write_text(json.dumps({"version": 1, "queues": {"Gone": [gone], WEBHOOKS: [kept]}}))

        assert restore_backlog(client, urls, backlog) == {WEBHOOKS: 1}

        assert not backlog.exists()
        unrestored = json.loads((tmp_path / (BACKLOG_FILE + ".unrestored")).read_text())
        assert unrestored["queues"] == {"Gone": [gone]}


def test_a_backlog_of_an_unknown_version_is_refused(tmp_path: Path) -> None:
    backlog = tmp_path / BACKLOG_FILE
    backlog.write_text(json.dumps({"version": 99, "queues": {}}))
    with mock_aws():
        client = sqs()
        urls = queue_names(create_queues(client, TEMPLATE.queues))
        with pytest.raises(ValueError, match="version"):
            restore_backlog(client, urls, backlog)
    assert backlog.exists()


# ------------------------------------------------------------------ the stack's stop and start
@pytest.fixture
def moto_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The stack's clients, in-process (moto matches AWS endpoints, not the local ports)."""
    with mock_aws():
        monkeypatch.setattr(resources, "sqs_client", lambda *_args: sqs())
        monkeypatch.setattr(
            resources, "kms_client", lambda *_args: boto3.client("kms", region_name="us-east-1")
        )
        monkeypatch.setattr(
            resources,
            "dynamodb_client",
            lambda *_args: boto3.client(
                "dynamodb",
                region_name="us-east-1",
                aws_access_key_id="x",
                aws_secret_access_key="x",
            ),
        )
        yield


def persisting_stack(tmp_path: Path) -> Stack:
    return Stack(LocalConfig(state_dir=tmp_path, persist=True, sqs_retry_delay=1), TEMPLATE)


def feed(stack: Stack, invoker: FakeInvoker) -> PollerThreads[QueuePoller]:
    """The consumer's poller of the stack's webhook queue, invoking ``invoker``."""
    assert stack.queue_urls is not None
    (source,) = [s for s in TEMPLATE.sqs_sources if s.function_id == CONSUMER]
    queue = BotoQueue(sqs(), stack.queue_urls[source.queue_id])
    delay = stack.config.sqs_retry_delay
    poller = QueuePoller(source, WEBHOOKS, queue, invoker, retry_delay=delay, wait_seconds=1)
    stack.pollers = PollerThreads("sqs", [poller])
    stack.pollers.start()
    return stack.pollers


def stalled(release: threading.Event) -> Callable[[Any], InvokeResult]:
    """A consumer stuck (a slow dependency) until ``release``, then failing."""
    failing = raises("DynamoDB is down")

    def answer(event: Any) -> InvokeResult:
        release.wait(30)
        return failing(event)

    return answer


def webhook_url(stack: Stack) -> str:
    assert stack.queue_urls is not None
    (queue,) = [q for q in TEMPLATE.queues if q.name == WEBHOOKS]
    return stack.queue_urls[queue.logical_id]


@pytest.mark.usefixtures("moto_clients")
def test_stopping_drains_the_queue_through_the_pollers(tmp_path: Path) -> None:
    stack = persisting_stack(tmp_path)
    stack.create_resources()
    for n in range(25):
        send_event(sqs(), webhook_url(stack), f"evt_{n}")
    invoker = FakeInvoker(answers={CONSUMER: ok({"batchItemFailures": []})})
    feed(stack, invoker)

    stack.stop()

    handed = [r["messageId"] for e in invoker.events_of(CONSUMER) for r in e["Records"]]
    assert len(set(handed)) == 25
    assert queue_depth(sqs(), webhook_url(stack)) == (0, 0)
    assert json.loads((tmp_path / BACKLOG_FILE).read_text())["queues"] == {}


@pytest.mark.usefixtures("moto_clients")
def test_what_does_not_drain_in_time_is_saved_and_restored_by_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stack = persisting_stack(tmp_path)
    stack.create_resources()
    send_event(sqs(), webhook_url(stack), "evt_failing")
    release = threading.Event()
    feed(stack, FakeInvoker(answers={CONSUMER: stalled(release)}))

    with caplog.at_level("INFO", logger="billing_devstack.stack"):
        assert stack.drain(timeout=0.5) == 1  # in flight, the consumer stuck
    assert "draining the queues before stopping: 1 messages left" in caplog.text
    assert "1 messages still queued; they are saved for the next start" in caplog.text
    release.set()  # the invocation fails at last: the message is visible again in 1 s
    stack.hurry.set()  # a second Ctrl-C: stop() does not wait the full DRAIN_TIMEOUT again
    stack.stop()

    saved = json.loads((tmp_path / BACKLOG_FILE).read_text())["queues"]
    assert [json.loads(m["body"])["id"] for m in saved[WEBHOOKS]] == ["evt_failing"]

    with mock_aws():  # moto restarted: empty
        restarted = persisting_stack(tmp_path)
        restarted.create_resources()
        (message,) = everything_in(sqs(), webhook_url(restarted))
        assert json.loads(message["Body"])["id"] == "evt_failing"
        assert not (tmp_path / BACKLOG_FILE).exists()


@pytest.mark.usefixtures("moto_clients")
def test_a_second_ctrl_c_cuts_the_drain_short(tmp_path: Path) -> None:
    stack = persisting_stack(tmp_path)
    stack.create_resources()
    send_event(sqs(), webhook_url(stack), "evt_failing")
    release = threading.Event()
    feed(stack, FakeInvoker(answers={CONSUMER: stalled(release)}))
    stack.hurry.set()

    assert stack.drain() == 1  # at once, not after DRAIN_TIMEOUT
    release.set()
    stack.stop()
    assert (tmp_path / BACKLOG_FILE).exists()


@pytest.mark.usefixtures("moto_clients")
def test_a_stop_before_the_queues_are_restored_keeps_the_saved_backlog(tmp_path: Path) -> None:
    backlog = tmp_path / BACKLOG_FILE
    document = {"version": 1, "queues": {WEBHOOKS: [{"body": "{}", "message_attributes": {}}]}}
    backlog.write_text(json.dumps(document))
    stack = persisting_stack(tmp_path)

    stack.stop()  # e.g. Ctrl-C while DynamoDB Local was starting

    assert json.loads(backlog.read_text()) == document


@pytest.mark.usefixtures("moto_clients")
def test_without_persist_nothing_is_restored_or_saved(tmp_path: Path) -> None:
    backlog = tmp_path / BACKLOG_FILE
    document = {"version": 1, "queues": {WEBHOOKS: [{"body": "{}", "message_attributes": {}}]}}
    backlog.write_text(json.dumps(document))
    stack = Stack(LocalConfig(state_dir=tmp_path), TEMPLATE)

    stack.create_resources()
    assert everything_in(sqs(), webhook_url(stack)) == []
    send_event(sqs(), webhook_url(stack), "evt_memory")
    stack.stop()

    assert json.loads(backlog.read_text()) == document
