"""SQS consumer of Stripe events: each record on its own, failures reported per record.

A record that fails is retried by SQS and, after 5 receives, lands in the DLQ; the others of
the batch are not retried.
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
from billing.observability import MetricName, get_tracer, logger, metrics
from billing.services.engine import Outcome, apply_event

processor = BatchProcessor(event_type=EventType.SQS)
tracer = get_tracer()

_OUTCOME_METRIC = {
    Outcome.APPLIED: MetricName.WEBHOOK_APPLIED,
    Outcome.DUPLICATE: MetricName.WEBHOOK_DUPLICATE,
}


def record_handler(record: SQSRecord) -> str:
    try:
        outcome = apply_event(record.body, wiring.billing_ledger(), utc_now())
    except Exception:
        logger.exception(
            "event not applied; SQS will retry it", extra={"message_id": record.message_id}
        )
        raise
    metric = _OUTCOME_METRIC.get(outcome, MetricName.WEBHOOK_RECORDED)
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    logger.info("event processed", extra={"outcome": outcome.value})
    return outcome.value


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
