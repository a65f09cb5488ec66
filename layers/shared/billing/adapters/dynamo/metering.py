"""Metered usage on DynamoDB: the records of metered usage not yet reported to Stripe (a
sparse index, spread over a few shards), their marks once reported, retried or dead-lettered,
and the records of one meter over a window, for reconciliation."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import UpdateError

from billing.adapters.dynamo.errors import dynamo_errors, is_conditional_check_failure
from billing.adapters.dynamo.ledger import batch_read, fact_from_json
from billing.adapters.dynamo.models import StripeObjectModel, UsageRecordModel
from billing.adapters.dynamo.usage import REPORT_SHARDS
from billing.domain.clock import from_epoch
from billing.domain.metering import REPORTED_RETENTION, MeteredUsage


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _usage(item: UsageRecordModel) -> MeteredUsage:
    return MeteredUsage(
        key=item.record_key,
        project_id=item.project_id,
        user_id=item.user_id,
        feature_code=item.feature_code,
        meter=item.meter or "",
        quantity=int(item.quantity),
        recorded_at=datetime.fromtimestamp(int(item.recorded_at) / 1000, UTC),
        source_id=item.source_id,
        attempts=int(item.report_attempts or 0),
        next_attempt_at=(
            from_epoch(int(item.next_attempt_at)) if item.next_attempt_at is not None else None
        ),
        customer_id=item.stripe_customer_id,
        reported=item.reported_at is not None,
        dead_lettered=item.dead_lettered_at is not None,
    )


class DynamoMeteredUsage:
    def unreported(self, limit: int) -> list[MeteredUsage]:
        """Up to ``limit`` per shard, oldest first in each."""
        found: list[MeteredUsage] = []
        with dynamo_errors("Query unreported usage"):
            for shard in range(REPORT_SHARDS):
                items = UsageRecordModel.unreported.query(str(shard), limit=limit)
                found.extend(_usage(item) for item in items)
        return sorted(found, key=lambda usage: usage.recorded_at)

    def customers_of(self, subscription_ids: Iterable[str]) -> dict[str, str]:
        """The Stripe customer of each subscription the service knows: one BatchGetItem."""
        wanted = sorted(set(subscription_ids))
        if not wanted:
            return {}
        facts = batch_read({StripeObjectModel: wanted})[StripeObjectModel]
        customers = {}
        for item in facts:
            customer = getattr(fact_from_json(item.fact), "customer_id", None)
            if isinstance(customer, str):
                customers[item.stripe_id] = customer
        return customers

    def mark_reported(self, usage: MeteredUsage, customer_id: str, now: datetime) -> None:
        """Out of the unreported index; kept a while for reconciliation (TTL)."""
        self._update(
            usage,
            [
                UsageRecordModel.report_shard.remove(),
                UsageRecordModel.reported_at.set(int(now.timestamp())),
                UsageRecordModel.stripe_customer_id.set(customer_id),
                UsageRecordModel.expires_at.set(now + REPORTED_RETENTION),
            ],
        )

    def mark_retry(self, usage: MeteredUsage, error: str, retry_at: datetime) -> None:
        """One more failed attempt; stays in the index, not tried again before ``retry_at``."""
        self._update(
            usage,
            [
                UsageRecordModel.report_attempts.add(1),
                UsageRecordModel.next_attempt_at.set(int(retry_at.timestamp())),
                UsageRecordModel.report_error.set(error[:500]),
            ],
        )

    def mark_dead_lettered(self, usage: MeteredUsage, error: str, now: datetime) -> None:
        """Out of the index, with why (its message is in the dead-letter queue)."""
        self._update(
            usage,
            [
                UsageRecordModel.report_shard.remove(),
                UsageRecordModel.dead_lettered_at.set(int(now.timestamp())),
                UsageRecordModel.report_error.set(error[:500]),
                UsageRecordModel.expires_at.set(now + REPORTED_RETENTION),
            ],
        )

    def of_meter(self, meter: str, start: datetime, end: datetime) -> list[MeteredUsage]:
        """Every usage recorded for ``meter`` in [start, end), reported or not."""
        condition = UsageRecordModel.recorded_at.between(_millis(start), _millis(end) - 1)
        with dynamo_errors("Query usage by meter"):
            return [_usage(item) for item in UsageRecordModel.by_meter.query(meter, condition)]

    @staticmethod
    def _update(usage: MeteredUsage, actions: list[Any]) -> None:
        """A record that is gone (expired) is not written again."""
        try:
            with dynamo_errors("UpdateItem usage report"):
                UsageRecordModel(usage.key).update(
                    actions=actions, condition=UsageRecordModel.record_key.exists()
                )
        except UpdateError as exc:
            if not is_conditional_check_failure(exc):
                raise
