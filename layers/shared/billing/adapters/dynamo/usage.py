"""Usage on DynamoDB: one BatchGetItem reads what recording a usage needs (the entitlement
record, the user's counters, the record under the usage's key), one TransactWriteItems counts
it (an UpdateItem ADD on the counter, conditional when enforced) and records it (a PutItem,
conditional on no record in its replay window). The conditions decide races: a concurrent
call with the same key, or one that reached the limit first, makes the transaction fail and
its cancellation reasons (with the items as they stand) say which."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pynamodb.exceptions import TransactWriteError

from billing.adapters.dynamo.batch import RawItem, batch_get
from billing.adapters.dynamo.errors import dynamo_errors
from billing.adapters.dynamo.models import (
    UsageCountersModel,
    UsageRecordModel,
    connection,
    entitlement_key,
)
from billing.adapters.dynamo.stores import usage_counters, user_items, user_keys
from billing.domain.clock import from_epoch
from billing.domain.usage import StoredUsage, UsageState, UsageWrite, WriteOutcome
from billing.errors import DependencyUnavailableError

# Unreported metered usage is spread over this many partitions of its index.
REPORT_SHARDS = 8
_CONDITION_FAILED = "ConditionalCheckFailed"
_CONFLICT = "TransactionConflict"
_PUT, _UPDATE = 0, 1  # the transaction's items, in the order PynamoDB sends them


def report_shard(key: str) -> str:
    return str(int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % REPORT_SHARDS)


def _stored(raw: RawItem | None) -> StoredUsage | None:
    if not raw:
        return None
    item = UsageRecordModel.from_raw_data(raw)
    return StoredUsage(item.fingerprint, item.answer, from_epoch(int(item.replay_until)))


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def record_item(write: UsageWrite) -> UsageRecordModel:
    """The usage's record: its first answer for replays, and for a metered feature what its
    report to Stripe needs (then it stays until reported, in the ``unreported`` index)."""
    request = write.request
    record = UsageRecordModel(
        write.key,
        project_id=request.project_id,
        user_id=request.user_id,
        feature_code=request.feature_code,
        quantity=request.quantity,
        counter=write.counter,
        fingerprint=write.stored.fingerprint,
        answer=write.stored.answer,
        recorded_at=int(write.recorded_at.timestamp() * 1000),
        replay_until=_epoch(write.stored.replay_until),
    )
    if write.meter is None:
        record.expires_at = write.stored.replay_until
    else:
        record.meter = write.meter
        record.source_id = write.metered_source_id
        record.report_shard = report_shard(write.key)
    return record


def _counter_update(write: UsageWrite, table: str) -> dict[str, Any]:
    names = {"#c": write.counter, "#e": "expires_at"}
    values: dict[str, Any] = {":q": {"N": str(write.request.quantity)}}
    expression = "ADD #c :q"
    removed = ["#e"] if write.counters_expire_at is None else []
    if write.counters_expire_at is not None:
        expression += " SET #e = :e"
        values[":e"] = {"N": str(_epoch(write.counters_expire_at))}
    for number, name in enumerate(write.prune):
        names[f"#p{number}"] = name
        removed.append(f"#p{number}")
    if removed:
        expression += " REMOVE " + ", ".join(removed)
    user = entitlement_key(write.request.project_id, write.request.user_id)
    update: dict[str, Any] = {
        "TableName": table,
        "Key": {"project_user": {"S": user}},
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    if write.max_used_before is not None:
        update["ConditionExpression"] = "attribute_not_exists(#c) OR #c <= :max"
        values[":max"] = {"N": str(write.max_used_before)}
    return update


def _record_put(write: UsageWrite, table: str) -> dict[str, Any]:
    return {
        "TableName": table,
        "Item": record_item(write).serialize(),
        "ConditionExpression": "attribute_not_exists(#k) OR #r < :now",
        "ExpressionAttributeNames": {"#k": "record_key", "#r": "replay_until"},
        "ExpressionAttributeValues": {":now": {"N": str(_epoch(write.recorded_at))}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


class DynamoUsageStore:
    def read(self, project_id: str, user_id: str, record_key: str) -> UsageState:
        """Strongly consistent: a sequential caller's answers count its own previous usage."""
        records = UsageRecordModel.Meta.table_name
        keys = [*user_keys(project_id, user_id), (records, {"record_key": {"S": record_key}})]
        found = batch_get(keys, consistent=True, operation="usage")
        sources, counters = user_items(found)
        stored = found.get(records) or []
        return UsageState(sources, counters, _stored(stored[0] if stored else None))

    def record(self, write: UsageWrite) -> WriteOutcome:
        put = _record_put(write, UsageRecordModel.Meta.table_name)
        update = _counter_update(write, UsageCountersModel.Meta.table_name)
        try:
            with dynamo_errors("TransactWriteItems usage"):
                connection().transact_write_items([], [], [put], [update])
        except TransactWriteError as exc:
            return _refused(exc, write)
        return WriteOutcome("counted")


def _refused(exc: TransactWriteError, write: UsageWrite) -> WriteOutcome:
    """Which condition refused the write, from the cancellation reasons (nothing was written)."""
    reasons = exc.cancellation_reasons
    codes = [reason.code if reason else None for reason in reasons]
    items = [reason.raw_item if reason else None for reason in reasons]
    if len(codes) != 2:  # noqa: PLR2004 - the put and the update
        raise DependencyUnavailableError("DynamoDB TransactWriteItems usage failed") from exc
    if codes[_PUT] == _CONDITION_FAILED and items[_PUT]:
        return WriteOutcome("duplicate", stored=_stored(items[_PUT]))
    if codes[_UPDATE] == _CONDITION_FAILED and items[_UPDATE]:
        used = usage_counters(items[_UPDATE]).get(write.counter, 0)
        return WriteOutcome("over_limit", used=used)
    if _CONDITION_FAILED in codes or _CONFLICT in codes:
        return WriteOutcome("conflict")  # the items not sent back: read them again
    problem = next((code for code in codes if code), "unknown")
    raise DependencyUnavailableError(
        f"DynamoDB TransactWriteItems usage failed: {problem}"
    ) from exc
