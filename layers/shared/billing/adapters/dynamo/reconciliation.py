"""Reconciliation runs on DynamoDB: one partition per run (its summary, then one item per
repair and per error), and a sparse index of summaries by start time for ``--last``.

A page's checkpoint is one UpdateItem that adds the page's counters and moves the cursor,
conditional on the run standing where the invocation read it: when SQS delivers a
continuation twice, only one invocation's page counts.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, cast

from pynamodb.exceptions import UpdateError

from billing.adapters.dynamo.errors import dynamo_errors, get_or_none, is_conditional_check_failure
from billing.adapters.dynamo.ledger import fact_from_json, fact_to_json
from billing.adapters.dynamo.models import ReconciliationEntryModel
from billing.domain.clock import parse_iso, to_iso
from billing.domain.entitlement_rules import PriceAnomaly
from billing.domain.metering import MeterDrift
from billing.domain.reconciliation import (
    Checkpoint,
    ObjectKind,
    PageOutcome,
    RepairError,
    RepairRecord,
    RunStatus,
    RunSummary,
)

SUMMARY = "summary"
LISTING = "runs"
REPAIR_PREFIX = "repair#"
ERROR_PREFIX = "error#"
ANOMALY_PREFIX = "anomaly#"
METER_DRIFT_PREFIX = "meter#"
# How many runs back ``last_completed`` looks for one that completed without errors.
RUNS_SEARCHED = 100
# A year of nightly reports, and some: repairs also stay in the audit table for good.
RUN_RETENTION = timedelta(days=400)


def _summary(item: ReconciliationEntryModel) -> RunSummary:
    counts = item.counts.attribute_values if item.counts else {}
    return RunSummary(
        run_id=item.run_id,
        trigger=item.trigger or "",
        started_at=parse_iso(item.started_at or ""),
        since=int(item.since or 0),
        status=cast(RunStatus, item.status),
        checkpoint=Checkpoint(int(item.kind_index or 0), item.starting_after, int(item.pages or 0)),
        counts={str(key): int(value) for key, value in counts.items()},
        invocations=int(item.invocations or 0),
        finished_at=parse_iso(item.finished_at) if item.finished_at else None,
    )


def _repair_item(run_id: str, repair: RepairRecord, expires: datetime) -> ReconciliationEntryModel:
    return ReconciliationEntryModel(
        run_id,
        f"{REPAIR_PREFIX}{repair.kind}#{repair.object_id}#{repair.fact_id}",
        kind=repair.kind,
        object_id=repair.object_id,
        fact_id=repair.fact_id,
        project_id=repair.project_id,
        user_id=repair.user_id,
        fields=list(repair.fields),
        before=fact_to_json(repair.before) if repair.before else None,
        after=fact_to_json(repair.after),
        at=to_iso(repair.at),
        expires_at=expires,
    )


def _anomaly_item(
    run_id: str, anomaly: PriceAnomaly, expires: datetime
) -> ReconciliationEntryModel:
    return ReconciliationEntryModel(
        run_id,
        f"{ANOMALY_PREFIX}{anomaly.fact_id}#{anomaly.price_id}",
        kind=anomaly.problem,
        object_id=anomaly.price_id,
        fact_id=anomaly.fact_id,
        project_id=anomaly.project_id,
        message=anomaly.registered_to,
        expires_at=expires,
    )


def _error_item(run_id: str, error: RepairError, expires: datetime) -> ReconciliationEntryModel:
    return ReconciliationEntryModel(
        run_id,
        f"{ERROR_PREFIX}{error.kind}#{error.object_id}",
        kind=error.kind,
        object_id=error.object_id,
        message=error.message,
        at=to_iso(error.at),
        expires_at=expires,
    )


class DynamoReconciliationRuns:
    def start(self, run: RunSummary) -> None:
        item = ReconciliationEntryModel(
            run.run_id,
            SUMMARY,
            listing=LISTING,
            started_at=to_iso(run.started_at),
            trigger=run.trigger,
            status=run.status,
            since=run.since,
            kind_index=run.checkpoint.kind_index,
            starting_after=run.checkpoint.starting_after,
            pages=run.checkpoint.pages,
            counts=run.counts,
            invocations=0,
            expires_at=run.started_at + RUN_RETENTION,
        )
        with dynamo_errors("PutItem run"):
            item.save(condition=ReconciliationEntryModel.run_id.does_not_exist())

    def get(self, run_id: str) -> RunSummary | None:
        item = get_or_none(ReconciliationEntryModel, run_id, SUMMARY, operation="GetItem run")
        return _summary(item) if item else None

    def last(self) -> RunSummary | None:
        with dynamo_errors("Query runs"):
            found = next(
                iter(
                    ReconciliationEntryModel.by_started.query(
                        LISTING, scan_index_forward=False, limit=1
                    )
                ),
                None,
            )
        return _summary(found) if found else None

    def last_completed(self) -> RunSummary | None:
        with dynamo_errors("Query runs"):
            for item in ReconciliationEntryModel.by_started.query(
                LISTING, scan_index_forward=False, limit=RUNS_SEARCHED
            ):
                if item.status == "completed":
                    return _summary(item)
        return None

    def count_invocation(self, run_id: str) -> None:
        with dynamo_errors("UpdateItem run"):
            ReconciliationEntryModel(run_id, SUMMARY).update(
                actions=[ReconciliationEntryModel.invocations.add(1)]
            )

    def save_page(
        self,
        run: RunSummary,
        after: Checkpoint,
        outcome: PageOutcome,
        status: RunStatus,
        now: datetime,
    ) -> bool:
        expires = run.started_at + RUN_RETENTION
        entries = [_repair_item(run.run_id, r, expires) for r in outcome.repairs]
        entries += [_error_item(run.run_id, e, expires) for e in outcome.errors]
        entries += [_anomaly_item(run.run_id, a, expires) for a in outcome.anomalies]
        model = ReconciliationEntryModel
        if entries:
            with dynamo_errors("BatchWriteItem run entries"), model.batch_write() as batch:
                for entry in entries:
                    batch.save(entry)
        actions: list[Any] = [
            model.kind_index.set(after.kind_index),
            model.pages.set(after.pages),
            model.status.set(status),
            model.starting_after.set(after.starting_after)
            if after.starting_after
            else model.starting_after.remove(),
        ]
        actions += [model.counts[key].add(n) for key, n in outcome.counts.items() if n]
        if status != "running":
            actions.append(model.finished_at.set(to_iso(now)))
        try:
            with dynamo_errors("UpdateItem run"):
                model(run.run_id, SUMMARY).update(
                    actions=actions,
                    condition=(model.pages == run.checkpoint.pages) & (model.status == "running"),
                )
        except UpdateError as exc:
            if is_conditional_check_failure(exc):
                return False
            raise
        return True

    def repairs(self, run_id: str) -> list[RepairRecord]:
        return [
            RepairRecord(
                kind=cast(ObjectKind, item.kind),
                object_id=item.object_id or "",
                fact_id=item.fact_id or "",
                project_id=item.project_id or "",
                user_id=item.user_id or "",
                fields=tuple(str(name) for name in item.fields or ()),
                before=fact_from_json(item.before) if item.before else None,
                after=fact_from_json(item.after or ""),
                at=parse_iso(item.at or ""),
            )
            for item in self._entries(run_id, REPAIR_PREFIX)
        ]

    def errors(self, run_id: str) -> list[RepairError]:
        return [
            RepairError(
                kind=cast(ObjectKind, item.kind),
                object_id=item.object_id or "",
                message=item.message or "",
                at=parse_iso(item.at or ""),
            )
            for item in self._entries(run_id, ERROR_PREFIX)
        ]

    def anomalies(self, run_id: str) -> list[PriceAnomaly]:
        return [
            PriceAnomaly(
                fact_id=item.fact_id or "",
                price_id=item.object_id or "",
                project_id=item.project_id or "",
                problem=item.kind or "",
                registered_to=item.message,
            )
            for item in self._entries(run_id, ANOMALY_PREFIX)
        ]

    def save_meter_drift(self, run: RunSummary, drift: list[MeterDrift]) -> None:
        """One entry per (meter, customer, day) that differs: ``object_id`` the customer,
        ``message`` the figures (JSON)."""
        expires = run.started_at + RUN_RETENTION
        model = ReconciliationEntryModel
        if not drift:
            return
        with dynamo_errors("BatchWriteItem meter drift"), model.batch_write() as batch:
            for item in drift:
                day = item.day.strftime("%Y-%m-%d")
                batch.save(
                    model(
                        run.run_id,
                        f"{METER_DRIFT_PREFIX}{item.meter}#{item.customer_id}#{day}",
                        kind="meter",
                        object_id=item.customer_id,
                        message=json.dumps(
                            {
                                "meter": item.meter,
                                "day": day,
                                "ours": item.ours,
                                "stripe": item.stripe,
                                "pending": item.pending,
                            }
                        ),
                        at=to_iso(item.day),
                        expires_at=expires,
                    )
                )

    def meter_drift(self, run_id: str) -> list[MeterDrift]:
        found = []
        for item in self._entries(run_id, METER_DRIFT_PREFIX):
            figures = json.loads(item.message or "{}")
            found.append(
                MeterDrift(
                    meter=str(figures["meter"]),
                    customer_id=item.object_id or "",
                    day=parse_iso(item.at or ""),
                    ours=int(figures["ours"]),
                    stripe=int(figures["stripe"]),
                    pending=int(figures["pending"]),
                )
            )
        return found

    @staticmethod
    def _entries(run_id: str, prefix: str) -> list[ReconciliationEntryModel]:
        with dynamo_errors("Query run entries"):
            return list(
                ReconciliationEntryModel.query(
                    run_id, ReconciliationEntryModel.entry.startswith(prefix)
                )
            )
