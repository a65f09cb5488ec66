"""Reconciliation with Stripe.

The nightly schedule starts a run (and publishes the webhook DLQ's depth); the run's queue
then carries it on, one invocation after another, each doing pages until its budget or its
time runs out. An invocation that fails is retried by SQS from the run's last checkpoint, and
after a few tries its message lands in the reconciliation DLQ, which raises an alarm.
"""

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import wiring
from billing.config import get_settings
from billing.domain.clock import from_epoch, utc_now
from billing.domain.reconciliation import VERDICTS, tally
from billing.observability import MetricName, get_tracer, logger, metrics
from billing.services.metering import compare_meters
from billing.services.reconciliation import Budget, Invocation, continue_run, start_run

tracer = get_tracer()

# Time kept back for the page in hand when the invocation decides to hand over: a page is
# one Stripe call (with its retries and 429 back-offs) and up to a hundred small writes.
STOP_MARGIN_MILLIS = 120_000


def _publish_dead_letter_depth() -> None:
    try:
        depth = wiring.dead_letter_queue().approximate_count()
    except Exception:  # the depth is a courtesy; the run must start anyway
        logger.exception("could not read the webhook DLQ's depth")
        return
    metrics.add_metric(name=MetricName.DEAD_LETTER_DEPTH, unit=MetricUnit.Count, value=depth)


def _start() -> dict[str, Any]:
    settings = get_settings()
    if not settings.reconciliation_enabled:
        logger.info("reconciliation disabled (RECONCILIATION_ENABLED=false)")
        return {"status": "disabled"}
    _publish_dead_letter_depth()
    run = start_run(
        wiring.reconciliation_runs(),
        wiring.run_queue(),
        trigger="schedule",
        days_back=settings.reconciliation_days_back,
        now=utc_now(),
    )
    return {"status": "started", "run_id": run.run_id}


def _count_metrics(done: Invocation) -> None:
    for name, verdicts in (
        (MetricName.RECONCILIATION_EXAMINED, VERDICTS),
        (MetricName.RECONCILIATION_REPAIRS, ("repaired",)),
        (MetricName.RECONCILIATION_FAILURES, ("error",)),
    ):
        value = tally(done.counts, *verdicts)
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if done.pages and done.run.status != "running":
        metrics.add_metric(name=MetricName.RECONCILIATION_RUNS, unit=MetricUnit.Count, value=1)
        logger.info(
            "reconciliation run finished",
            extra={
                "status": done.run.status,
                "repaired": done.run.total("repaired"),
                "errors": done.run.total("error"),
                "invocations": done.run.invocations + 1,
            },
        )


def _compare_meters(done: Invocation) -> None:
    """Once a run is over: metered usage against Stripe's meters, over the run's window, into
    its report. A failure here fails no repair already made: it counts as a failure (alarm)."""
    run = done.run
    try:
        drift = compare_meters(
            wiring.metered_usage_store(),
            wiring.meter_readings(),
            since=from_epoch(run.since),
            until=run.started_at,
        )
        wiring.reconciliation_runs().save_meter_drift(run, drift)
    except Exception:
        metrics.add_metric(name=MetricName.RECONCILIATION_FAILURES, unit=MetricUnit.Count, value=1)
        logger.exception("comparing metered usage with Stripe's meters failed")
        return
    metrics.add_metric(name=MetricName.METER_DRIFT, unit=MetricUnit.Count, value=len(drift))


def _carry_on(run_id: str, context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    logger.set_correlation_id(run_id)
    budget = Budget(
        pages=settings.reconciliation_pages_per_invocation,
        has_time=lambda: context.get_remaining_time_in_millis() > STOP_MARGIN_MILLIS,
    )
    pages, stripe = wiring.stripe_listing()
    try:
        done = continue_run(
            run_id,
            runs=wiring.reconciliation_runs(),
            pages=pages,
            stripe=stripe,
            ledger=wiring.billing_ledger(),
            clock=utc_now,
            budget=budget,
            page_size=settings.reconciliation_page_size,
        )
    except Exception:
        metrics.add_metric(name=MetricName.RECONCILIATION_FAILURES, unit=MetricUnit.Count, value=1)
        logger.exception("reconciliation page failed; SQS retries from the last checkpoint")
        raise
    _count_metrics(done)
    if done.pages and done.run.status != "running":
        _compare_meters(done)
    if done.more:
        wiring.run_queue().continue_run(run_id)
    return {"run_id": run_id, "status": done.run.status, "pages": done.pages, "more": done.more}


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records")
    if not records:
        return _start()
    results = [_carry_on(str(json.loads(r["body"])["run_id"]), context) for r in records]
    return {"continued": results}
