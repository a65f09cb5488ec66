"""Lambda's DynamoDB stream event source mapping, for the local stack.

DynamoDB Local serves the Streams API (DescribeStream, GetShardIterator, GetRecords) beside
its tables. One thread per stream event of the template reads every shard of the table's
stream in order, hands batches to the function in Lambda's event shape, and moves on only
past what succeeded: with ReportBatchItemFailures, a batch resumes at the first reported
sequence number; a failed invocation is retried whole. A failed batch is retried after
``LOCAL_SQS_RETRY_DELAY`` seconds, for as long as it takes (the template's
MaximumRetryAttempts -1: until the record leaves the stream), so a record is never skipped.
Shards that close are read to their end, then their children (DynamoDB Local rolls shards
over as DynamoDB does).

The stream is read from its start when the stack starts (TRIM_HORIZON): a persisting stack
that restarts hands the function records it already had, which its work must tolerate (the
dispatcher's deliveries keep their webhook-id, so receivers drop the duplicates).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from billing_devstack.config import REGION
from billing_devstack.lambda_runtime import Invoker, InvokeResult
from billing_devstack.template import StreamEventSource

logger = logging.getLogger("local.streams")
IDLE_WAIT_SECONDS = 0.25  # Lambda polls a shard about four times a second


class StreamReader(Protocol):
    """The Streams calls an event source mapping makes; faked in unit tests."""

    def stream_arn(self) -> str | None:
        """The table's latest stream (None: no stream, or no table yet)."""
        ...

    def shards(self, stream_arn: str) -> list[dict[str, Any]]:
        """Every shard of the stream (DescribeStream, all pages)."""
        ...

    def iterator(
        self, stream_arn: str, shard_id: str, kind: str, sequence_number: str | None = None
    ) -> str | None:
        """A shard iterator of that kind (TRIM_HORIZON, AT_/AFTER_SEQUENCE_NUMBER)."""
        ...

    def records(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """GetRecords: the records, and the next iterator (None: the shard is closed and read)."""
        ...


@dataclass
class BotoStreamReader:
    """StreamReader over boto3 clients of DynamoDB Local (its table and its streams API)."""

    dynamodb: Any
    streams: Any
    table_name: str

    def stream_arn(self) -> str | None:
        try:
            table = self.dynamodb.describe_table(TableName=self.table_name)["Table"]
        except ClientError:
            return None
        arn = table.get("LatestStreamArn")
        return str(arn) if arn else None

    def shards(self, stream_arn: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        start: str | None = None
        while True:
            args: dict[str, Any] = {"StreamArn": stream_arn}
            if start:
                args["ExclusiveStartShardId"] = start
            description = self.streams.describe_stream(**args)["StreamDescription"]
            found.extend(description.get("Shards", []))
            start = description.get("LastEvaluatedShardId")
            if not start:
                return found

    def iterator(
        self, stream_arn: str, shard_id: str, kind: str, sequence_number: str | None = None
    ) -> str | None:
        args: dict[str, Any] = {
            "StreamArn": stream_arn,
            "ShardId": shard_id,
            "ShardIteratorType": kind,
        }
        if sequence_number is not None:
            args["SequenceNumber"] = sequence_number
        iterator = self.streams.get_shard_iterator(**args).get("ShardIterator")
        return str(iterator) if iterator else None

    def records(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        answer = self.streams.get_records(ShardIterator=iterator, Limit=limit)
        following = answer.get("NextShardIterator")
        return list(answer.get("Records", [])), (str(following) if following else None)


def _plain(value: Any) -> Any:
    """A boto3 value as Lambda's JSON event has it: times in epoch seconds, bytes in base64."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def build_stream_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """One record of Lambda's DynamoDB stream event for a record GetRecords returned."""
    event = _plain(record)
    event.setdefault("awsRegion", REGION)
    event["eventSourceARN"] = stream_arn
    return dict(event)


def failed_sequence(result: InvokeResult, sequence_numbers: Sequence[str]) -> str | None:
    """Where a batch must resume, by Lambda's rules for stream batch responses: its first
    record when the invocation failed (or reported something unknown), the lowest reported
    sequence number, or None when everything succeeded."""
    if not result.ok:
        return sequence_numbers[0]
    if not isinstance(result.payload, Mapping):
        return None
    failures = result.payload.get("batchItemFailures") or []
    if not isinstance(failures, list):
        return sequence_numbers[0]
    reported = [f.get("itemIdentifier") if isinstance(f, Mapping) else None for f in failures]
    if not reported:
        return None
    if not all(isinstance(r, str) and r in sequence_numbers for r in reported):
        return sequence_numbers[0]  # Lambda retries the whole batch then
    return min((str(r) for r in reported), key=sequence_numbers.index)


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None = None
    last_done: str | None = None  # sequence number of the last record handed over and done
    finished: bool = False


@dataclass
class StreamPoller:
    """Feeds one table's stream to one function until stopped."""

    source: StreamEventSource
    reader: StreamReader
    invoker: Invoker
    retry_delay: float = 1.0
    stop_event: threading.Event = field(default_factory=threading.Event)
    _stream_arn: str | None = None
    _shards: dict[str, _Shard] = field(default_factory=dict)

    def _refresh(self) -> None:
        """Learn the stream and its shards; a child shard waits for its parent to be read."""
        if self._stream_arn is None:
            self._stream_arn = self.reader.stream_arn()
            if self._stream_arn is None:
                return
        for shard in self.reader.shards(self._stream_arn):
            shard_id = str(shard["ShardId"])
            if shard_id in self._shards:
                continue
            parent = shard.get("ParentShardId")
            if parent and parent in self._shards and not self._shards[parent].finished:
                continue
            self._shards[shard_id] = _Shard(shard_id)

    def _iterator(self, shard: _Shard) -> str | None:
        if shard.iterator is None:
            assert self._stream_arn is not None  # noqa: S101 - set by _refresh first
            if shard.last_done is None:
                shard.iterator = self.reader.iterator(
                    self._stream_arn, shard.shard_id, "TRIM_HORIZON"
                )
            else:
                shard.iterator = self.reader.iterator(
                    self._stream_arn, shard.shard_id, "AFTER_SEQUENCE_NUMBER", shard.last_done
                )
        return shard.iterator

    def poll_once(self) -> int:
        """Read one batch from each shard with records and hand it over; how many records."""
        self._refresh()
        handed = 0
        for shard in list(self._shards.values()):
            if shard.finished or self.stop_event.is_set():
                continue
            iterator = self._iterator(shard)
            if iterator is None:
                shard.finished = True
                continue
            records, following = self.reader.records(iterator, min(self.source.batch_size, 1000))
            if not records:
                shard.iterator = following
                shard.finished = following is None
                continue
            handed += len(records)
            self._hand_over(shard, records, following)
        return handed

    def _hand_over(
        self, shard: _Shard, records: list[dict[str, Any]], following: str | None
    ) -> None:
        assert self._stream_arn is not None  # noqa: S101 - records come from a known stream
        event = {"Records": [build_stream_record(r, self._stream_arn) for r in records]}
        sequence_numbers = [str(r["dynamodb"]["SequenceNumber"]) for r in records]
        result = self.invoker.invoke(self.source.function_id, event)
        resume = failed_sequence(result, sequence_numbers)
        if resume is None:
            shard.last_done, shard.iterator = sequence_numbers[-1], following
            return
        if not result.ok:
            logger.warning("%s failed: %s", self.source.function_id, result.error_message)
        position = sequence_numbers.index(resume)
        shard.last_done = sequence_numbers[position - 1] if position else shard.last_done
        if shard.last_done is None:
            shard.iterator = self.reader.iterator(
                self._stream_arn, shard.shard_id, "AT_SEQUENCE_NUMBER", resume
            )
        else:
            shard.iterator = None  # AFTER_SEQUENCE_NUMBER last_done, on the next poll
        logger.info("stream record %s failed; retried in %.1f s", resume, self.retry_delay)
        self.stop_event.wait(self.retry_delay)

    def run(self) -> None:
        """Poll until stopped; DynamoDB Local not answering is retried, never fatal."""
        while not self.stop_event.is_set():
            try:
                if not self.poll_once():
                    self.stop_event.wait(IDLE_WAIT_SECONDS)
            except (BotoCoreError, ClientError) as exc:
                logger.warning("reading %s failed (%s); retrying", self.source.table_name, exc)
                for shard in self._shards.values():
                    shard.iterator = None  # expired or lost: start again after the last done
                self.stop_event.wait(1.0)
            except Exception:
                logger.exception("reading %s failed; retrying", self.source.table_name)
                self.stop_event.wait(1.0)
