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
from billing.services.webhooks import EventOutcome, record_event

processor = BatchProcessor(event_type=EventType.SQS)
tracer = get_tracer()

_OUTCOME_METRIC = {
    EventOutcome.RECORDED: MetricName.WEBHOOK_RECORDED,
    EventOutcome.DUPLICATE: MetricName.WEBHOOK_DUPLICATE,
}


def record_handler(record: SQSRecord) -> str:
    try:
        outcome = record_event(record.body, wiring.webhook_event_log(), utc_now())
    except Exception:
        logger.exception(
            "event not applied; SQS will retry it", extra={"message_id": record.message_id}
        )
        raise
    metrics.add_metric(name=_OUTCOME_METRIC[outcome], unit=MetricUnit.Count, value=1)
    return outcome.value


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
