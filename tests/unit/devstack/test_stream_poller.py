"""The DynamoDB stream event source mapping: Lambda's event shape, partial failures resumed
at the first reported record, failed invocations retried whole, closed shards followed by
their children; and the template's stream sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from billing_devstack.lambda_runtime import InvokeResult
from billing_devstack.sqs_poller import QueuePoller
from billing_devstack.stream_poller import StreamPoller, build_stream_record, failed_sequence
from billing_devstack.template import SqsEventSource, StreamEventSource
from tests.support.aws_tables import service_template
from tests.unit.devstack.conftest import FakeInvoker, ok, raises
from tests.unit.devstack.test_sqs_poller import FakeQueue, message

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Changes/stream/local"
SOURCE = StreamEventSource("Dispatcher", "Changes", "Changes", batch_size=2)


def record(n: int) -> dict[str, Any]:
    return {
        "eventID": f"e{n}",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2026, 11, 25, tzinfo=UTC),
            "Keys": {"k": {"S": f"k{n}"}},
            "NewImage": {"k": {"S": f"k{n}"}, "blob": {"B": b"\x00"}},
            "SequenceNumber": f"{n:05d}",
            "StreamViewType": "NEW_IMAGE",
        },
    }


@dataclass
class FakeStream:
    """Shards as lists of records; an iterator is (shard, position)."""

    shards_records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    iterators: list[tuple[str, str, str | None]] = field(default_factory=list)

    def stream_arn(self) -> str | None:
        return ARN

    def shards(self, stream_arn: str) -> list[dict[str, Any]]:
        return [
            {
                "ShardId": shard,
                **({"ParentShardId": self.parents[shard]} if shard in self.parents else {}),
            }
            for shard in self.shards_records
        ]

    def iterator(
        self, stream_arn: str, shard_id: str, kind: str, sequence_number: str | None = None
    ) -> str | None:
        self.iterators.append((shard_id, kind, sequence_number))
        numbers = [r["dynamodb"]["SequenceNumber"] for r in self.shards_records[shard_id]]
        if kind == "TRIM_HORIZON":
            position = 0
        elif kind == "AT_SEQUENCE_NUMBER":
            position = numbers.index(sequence_number)
        else:
            position = numbers.index(sequence_number) + 1
        return f"{shard_id}:{position}"

    def records(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        shard, position = iterator.split(":")
        found = self.shards_records[shard][int(position) : int(position) + limit]
        end = int(position) + len(found)
        if shard in self.closed and end >= len(self.shards_records[shard]):
            return found, None
        return found, f"{shard}:{end}"


def poller(stream: FakeStream, invoker: FakeInvoker) -> StreamPoller:
    return StreamPoller(SOURCE, stream, invoker, retry_delay=0)


def drain(feeding: StreamPoller) -> None:
    """Poll until two polls in a row hand nothing over (the thread polls forever)."""
    idle = 0
    while idle < 2:
        idle = 0 if feeding.poll_once() else idle + 1


def handed(invoker: FakeInvoker) -> list[list[str]]:
    return [
        [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        for event in invoker.events_of("Dispatcher")
    ]


def test_the_batch_event_has_lambdas_stream_shape(invoker: FakeInvoker) -> None:
    stream = FakeStream({"s1": [record(1)]})
    assert poller(stream, invoker).poll_once() == 1
    ((event,),) = [e["Records"] for e in invoker.events_of("Dispatcher")]
    assert event["eventSourceARN"] == ARN
    assert event["eventName"] == "INSERT"
    assert (
        event["dynamodb"]["ApproximateCreationDateTime"]
        == datetime(2026, 11, 25, tzinfo=UTC).timestamp()
    )
    assert event["dynamodb"]["NewImage"]["blob"] == {"B": "AA=="}
    assert build_stream_record(record(1), ARN)["awsRegion"] == "us-east-1"


def test_records_are_handed_over_in_order_a_batch_at_a_time_and_never_twice(
    invoker: FakeInvoker,
) -> None:
    stream = FakeStream({"s1": [record(n) for n in range(1, 6)]})
    drain(poller(stream, invoker))
    assert handed(invoker) == [["00001", "00002"], ["00003", "00004"], ["00005"]]


def test_a_reported_failure_resumes_at_that_record(invoker: FakeInvoker) -> None:
    stream = FakeStream({"s1": [record(n) for n in range(1, 4)]})
    answers = iter([{"batchItemFailures": [{"itemIdentifier": "00002"}]}, {}, {}])
    invoker.answers["Dispatcher"] = lambda event: InvokeResult(payload=next(answers))
    drain(poller(stream, invoker))
    assert handed(invoker) == [["00001", "00002"], ["00002", "00003"]]


def test_a_failed_invocation_is_retried_whole(invoker: FakeInvoker) -> None:
    stream = FakeStream({"s1": [record(1), record(2)]})
    results = iter([raises("boom")({}), ok({})({}), ok({})({})])
    invoker.answers["Dispatcher"] = lambda event: next(results)
    drain(poller(stream, invoker))
    assert handed(invoker) == [["00001", "00002"], ["00001", "00002"]]


def test_a_closed_shard_is_read_to_its_end_before_its_child(invoker: FakeInvoker) -> None:
    stream = FakeStream({"s1": [record(1)], "s2": [record(2)]}, parents={"s2": "s1"}, closed={"s1"})
    drain(poller(stream, invoker))
    assert handed(invoker) == [["00001"], ["00002"]]


@pytest.mark.parametrize(
    ("result", "resume"),
    [
        (InvokeResult(payload={}), None),
        (InvokeResult(payload={"batchItemFailures": []}), None),
        (InvokeResult(payload={"batchItemFailures": [{"itemIdentifier": "b"}]}), "b"),
        (InvokeResult(payload={"batchItemFailures": [{"itemIdentifier": "zz"}]}), "a"),
        (InvokeResult.failure("Timeout", "late"), "a"),
    ],
)
def test_where_a_batch_resumes(result: InvokeResult, resume: str | None) -> None:
    assert failed_sequence(result, ["a", "b", "c"]) == resume


def test_the_template_feeds_the_change_log_stream_to_the_dispatcher() -> None:
    (source,) = service_template().stream_sources
    assert (source.function_id, source.table_id) == (
        "WebhookDispatcherFunction",
        "EntitlementChangesTable",
    )
    assert source.report_batch_item_failures


def test_the_sender_keeps_the_wait_it_set_where_other_functions_get_the_retry_delay(
    invoker: FakeInvoker,
) -> None:
    """The sender may change its messages' visibility (its policy says so): the emulated
    event source mapping leaves a reported failure hidden as long as the sender set it."""
    managed = {s.function_id: s.manages_visibility for s in service_template().sqs_sources}
    assert managed == {
        "WebhookConsumerFunction": False,
        "WebhookSenderFunction": True,
        "ReconciliationFunction": False,
    }
    failing = {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    for manages, retried in ((True, []), (False, [("r1", 1)])):
        queue = FakeQueue([message(1)])
        invoker.answers["Sender"] = ok(failing)
        source = SqsEventSource(
            "Sender", "Work", report_batch_item_failures=True, manages_visibility=manages
        )
        QueuePoller(source, "Work", queue, invoker, retry_delay=1).poll_once()
        assert queue.retried == retried
