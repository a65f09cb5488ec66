"""``billing-admin reconcile run|report``: start a reconciliation run and follow it, or show a
run's report.

``run`` stores the run and queues it exactly as the nightly schedule does, so the deployed
(or local) function does the work; the command follows the run's checkpoints and prints a
progress line per page, then the report. Kept apart from main.py, which registers it.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from typing import Any, NamedTuple

from billing.domain.billing_facts import Fact
from billing.domain.clock import from_epoch, to_iso, utc_now
from billing.domain.entitlement_rules import PriceAnomaly
from billing.domain.metering import MeterDrift
from billing.domain.reconciliation import (
    KINDS,
    VERDICTS,
    RepairError,
    RepairRecord,
    RunSummary,
    count_key,
)
from billing.errors import DependencyUnavailableError, NotFoundError, ValidationError
from billing.services.reconciliation import start_run
from billing.wiring import bound_settings, reconciliation_runs, run_queue

POLL_SECONDS = 0.5


class ReconcileOutcome(NamedTuple):
    data: Any
    text: str


def _summary_data(run: RunSummary) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "trigger": run.trigger,
        "status": run.status,
        "started_at": to_iso(run.started_at),
        "finished_at": to_iso(run.finished_at) if run.finished_at else None,
        "since": run.since,
        "invocations": run.invocations,
        "pages": run.checkpoint.pages,
        "counts": {
            kind: {verdict: run.counts.get(count_key(verdict, kind), 0) for verdict in VERDICTS}
            for kind in KINDS
        },
    }


def _fact_data(fact: Fact | None) -> dict[str, Any] | None:
    return asdict(fact) if fact is not None else None


def _repair_data(repair: RepairRecord) -> dict[str, Any]:
    return {
        "kind": repair.kind,
        "object_id": repair.object_id,
        "fact_id": repair.fact_id,
        "project_id": repair.project_id,
        "user_id": repair.user_id,
        "fields": list(repair.fields),
        "before": _fact_data(repair.before),
        "after": _fact_data(repair.after),
        "at": to_iso(repair.at),
    }


def _error_data(error: RepairError) -> dict[str, Any]:
    return {
        "kind": error.kind,
        "object_id": error.object_id,
        "message": error.message,
        "at": to_iso(error.at),
    }


def _anomaly_data(anomaly: PriceAnomaly) -> dict[str, Any]:
    return asdict(anomaly)


def _anomaly_line(anomaly: PriceAnomaly) -> str:
    where = (
        f"registered to project {anomaly.registered_to}"
        if anomaly.problem == "foreign"
        else "registered to no project"
    )
    return (
        f"  price {anomaly.price_id} of {anomaly.fact_id} (project {anomaly.project_id}) "
        f"grants nothing: {where}"
    )


def _drift_data(drift: MeterDrift) -> dict[str, Any]:
    return {**asdict(drift), "day": drift.day.strftime("%Y-%m-%d")}


def _drift_line(drift: MeterDrift) -> str:
    pending = f" ({drift.pending} not reported)" if drift.pending else ""
    return (
        f"  meter {drift.meter}, customer {drift.customer_id}, {drift.day:%Y-%m-%d}: "
        f"ours {drift.ours}, Stripe {drift.stripe}{pending}"
    )


def _repair_line(repair: RepairRecord) -> str:
    if repair.before is None:
        change = f"created ({repair.after.kind} {repair.fact_id})"
    else:
        change = ", ".join(
            f"{name} {getattr(repair.before, name, None)} -> {getattr(repair.after, name, None)}"
            for name in repair.fields
        )
    who = f"project {repair.project_id} user {repair.user_id}"
    return f"  {repair.kind} {repair.object_id} ({who}): {change}"


def _counts_table(run: RunSummary) -> list[str]:
    header = f"  {'':<15}" + "".join(f"{verdict:>10}" for verdict in VERDICTS)
    rows = [
        f"  {kind:<15}"
        + "".join(f"{run.counts.get(count_key(verdict, kind), 0):>10}" for verdict in VERDICTS)
        for kind in KINDS
    ]
    return [header, *rows]


def report(run: RunSummary) -> ReconcileOutcome:
    """The run's summary, its counters per kind, and every repair and error."""
    runs = reconciliation_runs()
    repairs, errors = runs.repairs(run.run_id), runs.errors(run.run_id)
    anomalies = runs.anomalies(run.run_id)
    drift = runs.meter_drift(run.run_id)
    finished = f", finished {to_iso(run.finished_at)}" if run.finished_at else ""
    lines = [
        f"run {run.run_id} ({run.trigger}): {run.status}",
        f"  started {to_iso(run.started_at)}{finished}; {run.checkpoint.pages} page(s), "
        f"{run.invocations} invocation(s); payments since {to_iso(from_epoch(run.since))}",
        *_counts_table(run),
        f"repaired: {len(repairs)}",
        *(_repair_line(r) for r in repairs),
        f"errors: {len(errors)}",
        *(f"  {e.kind} {e.object_id}: {e.message}" for e in errors),
        f"price anomalies: {len(anomalies)}",
        *(_anomaly_line(a) for a in anomalies),
        f"meter drift: {len(drift)}",
        *(_drift_line(d) for d in drift),
    ]
    data = {
        **_summary_data(run),
        "repairs": [_repair_data(r) for r in repairs],
        "errors": [_error_data(e) for e in errors],
        "anomalies": [_anomaly_data(a) for a in anomalies],
        "meter_drift": [_drift_data(d) for d in drift],
    }
    return ReconcileOutcome(data, "\n".join(lines))


def _follow(run: RunSummary, timeout: float, quiet: bool) -> RunSummary:
    """Wait for the run to finish, printing a line each time it moves a page."""
    runs = reconciliation_runs()
    deadline = time.monotonic() + timeout
    seen = -1
    while True:
        current = runs.get(run.run_id) or run
        if current.checkpoint.pages != seen and not quiet:
            seen = current.checkpoint.pages
            where = "done" if current.checkpoint.done else current.checkpoint.kind
            print(
                f"{current.run_id}: {seen} page(s), at {where}, "
                f"repaired {current.total('repaired')}, errors {current.total('error')}",
                file=sys.stderr,
                flush=True,
            )
        if current.status != "running":
            return current
        if time.monotonic() > deadline:
            raise DependencyUnavailableError(
                f"run {run.run_id} still running after {timeout:.0f} s; "
                f"see `billing-admin reconcile report {run.run_id}`"
            )
        time.sleep(POLL_SECONDS)


def run_command(args: argparse.Namespace) -> ReconcileOutcome:
    days_back = args.days_back
    if days_back is not None and not 1 <= days_back <= 30:  # noqa: PLR2004 - the setting's
        raise ValidationError("days_back", "must be 1-30")
    if args.timeout <= 0:
        raise ValidationError("timeout", "must be positive")
    run = start_run(
        reconciliation_runs(),
        run_queue(),
        trigger="cli",
        days_back=days_back or bound_settings().reconciliation_days_back,
        now=utc_now(),
        from_cursor=days_back is None,
    )
    if args.no_wait:
        return ReconcileOutcome(_summary_data(run), f"started {run.run_id}")
    return report(_follow(run, args.timeout, quiet=getattr(args, "json", False)))


def report_command(args: argparse.Namespace) -> ReconcileOutcome:
    runs = reconciliation_runs()
    if args.last or not args.run_id:
        found = runs.last()
        if found is None:
            raise NotFoundError("no reconciliation run yet")
        return report(found)
    found = runs.get(args.run_id)
    if found is None:
        raise NotFoundError(f"no reconciliation run {args.run_id}")
    return report(found)


def add_reconcile_commands(groups: Any, common: argparse.ArgumentParser) -> Any:
    """``reconcile run`` and ``reconcile report``; returns the two parsers' group."""
    reconcile = groups.add_parser("reconcile", help="reconciliation with Stripe: run, report")
    actions = reconcile.add_subparsers(required=True)
    start = actions.add_parser(
        "run", parents=[common], help="start a run now, follow it, print its report"
    )
    start.add_argument(
        "--days-back",
        type=int,
        help=(
            "payments, refunds and disputes of this many days (default: since the last "
            "successful run started, the first time the setting's days)"
        ),
    )
    start.add_argument(
        "--timeout", type=float, default=600.0, help="stop following after this many seconds"
    )
    start.add_argument("--no-wait", action="store_true", help="only start it")
    start.set_defaults(command=run_command)
    shown = actions.add_parser("report", parents=[common], help="a run's report")
    shown.add_argument("run_id", nargs="?", help="the run (default: the last one)")
    shown.add_argument("--last", action="store_true", help="the run started last")
    shown.set_defaults(command=report_command)
    return actions
