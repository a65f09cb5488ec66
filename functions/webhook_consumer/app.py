"""SQS consumer of Stripe events: each record on its own, failures reported per record.

A record that fails is retried by SQS and, after 5 receives, lands in the DLQ; the others of
the batch are not retried. A failed record is not a Lambda error, so it is counted
(WebhookEventsFailed) for its alarm; an event applied or recorded reports its lag from its
creation at Stripe (WebhookLagSeconds). Each record's logs carry its event id as correlation id.

When a payload cannot decide, the engine reads Stripe (WebhookStripeReads), within the time the
function has left (minus a margin for the records after it); Stripe not answering fails the
record, unmarked, for SQS to retry. A signed event whose object does not have Stripe's shape
is recorded ``malformed`` once, never retried (WebhookEventsMalformed). A price that grants
nothing where a subscription or a purchase uses it (another project's, or unknown) is logged
and counted (PriceAnomalies).
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import wiring
from billing.domain.clock import utc_now
from billing.domain.stripe_events import parse_event
from billing.observability import MetricName, correlated, get_tracer, logger, metrics
from billing.services.engine import Outcome, Tally, apply_parsed

processor = BatchProcessor(event_type=EventType.SQS)
tracer = get_tracer()

_OUTCOME_METRIC = {
    Outcome.APPLIED: MetricName.WEBHOOK_APPLIED,
    Outcome.DUPLICATE: MetricName.WEBHOOK_DUPLICATE,
}


def _queued_event_id(record: SQSRecord) -> str | None:
    """The event id the receiver put beside the body (a body that is no event has no other)."""
    attribute = record.message_attributes["stripe_event_id"]
    return attribute.string_value if attribute is not None else None


def _failed(record: SQSRecord) -> None:
    metrics.add_metric(name=MetricName.WEBHOOK_FAILED, unit=MetricUnit.Count, value=1)
    logger.exception(
        "event not applied; SQS will retry it", extra={"message_id": record.message_id}
    )


# Time kept back, out of what the function has left, when a record reads Stripe.
STRIPE_READ_MARGIN_SECONDS = 5.0


def _stripe_time_left(context: LambdaContext | None) -> float:
    if context is None:  # the record handler called on its own (tests, benchmarks)
        return STRIPE_READ_MARGIN_SECONDS * 5
    return context.get_remaining_time_in_millis() / 1000 - STRIPE_READ_MARGIN_SECONDS


def _report(tally: Tally) -> None:
    if tally.malformed:
        # Stripe never sends one: a leaked signing secret, or a bug, for an operator to see.
        metrics.add_metric(name=MetricName.WEBHOOK_MALFORMED, unit=MetricUnit.Count, value=1)
        field, reason = tally.malformed
        logger.warning(
            "signed event not in Stripe's shape: recorded, nothing applied",
            extra={"field": field, "reason": reason},
        )
    if tally.stripe_reads:
        metrics.add_metric(
            name=MetricName.WEBHOOK_STRIPE_READS, unit=MetricUnit.Count, value=tally.stripe_reads
        )
    for anomaly in tally.anomalies:
        metrics.add_metric(name=MetricName.PRICE_ANOMALIES, unit=MetricUnit.Count, value=1)
        logger.warning(
            "a price grants nothing here",
            extra={
                "problem": anomaly.problem,
                "price_id": anomaly.price_id,
                "fact_id": anomaly.fact_id,
                "project_id": anomaly.project_id,
                "registered_to": anomaly.registered_to,
            },
        )


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> str:
    try:
        event = parse_event(record.body)
    except Exception:
        with correlated(_queued_event_id(record)):
            _failed(record)
        raise
    with correlated(event.event_id):
        now = utc_now()
        tally = Tally()
        try:
            outcome = apply_parsed(
                event,
                wiring.billing_ledger(),
                now,
                lambda: wiring.stripe_reader().within(_stripe_time_left(lambda_context)),
                tally,
            )
        except Exception:
            _failed(record)
            raise
        _report(tally)
        metric = _OUTCOME_METRIC.get(outcome, MetricName.WEBHOOK_RECORDED)
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
        extra: dict[str, Any] = {"outcome": outcome.value, "stripe_event_type": event.event_type}
        if outcome is not Outcome.DUPLICATE:
            # A replay's age says nothing about how far behind the service is.
            lag = max(0.0, now.timestamp() - event.created)
            metrics.add_metric(name=MetricName.WEBHOOK_LAG, unit=MetricUnit.Seconds, value=lag)
            extra["lag_seconds"] = round(lag, 3)
        logger.info("event processed", extra=extra)
    return outcome.value


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
