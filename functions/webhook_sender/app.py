"""Sends queued outbound webhook deliveries: one signed POST per record, each on its own.

A delivery the endpoint does not take (not a 2xx, no answer within 5 s, its host now resolving
to an address that is not allowed) is a batch item failure whose message is hidden for a
growing time first (30 s, 1 min, 2 min... at most 12 h: ChangeMessageVisibility, which the
event source mapping leaves as set); after 17 receives, about 3 days, the queue moves it to
the dead-letter queue (billing-admin deliveries list|redrive). Every attempt is counted per
endpoint (OutboundWebhookDelivered / OutboundWebhookFailed with an endpoint_id dimension)
and, for the alarm, without one.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
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
from billing.domain.deliveries import Delivery, DeliveryFailedError, retry_delay
from billing.observability import MetricName, correlated, logger, metrics
from billing.services.outbound_webhooks import deliver

# A batch that fails whole is still a partial response: each failure has set its own wait,
# and an invocation error would count as the function failing (it did not).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _count(name: str, delivery: Delivery) -> None:
    """One attempt, per endpoint (dashboards) and in all (the alarm)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    dimensions = {"service": "billing", "endpoint_id": delivery.endpoint_id}
    with single_metric(
        name=name, unit=MetricUnit.Count, value=1, default_dimensions=dimensions
    ) as metric:
        metric.add_dimension(name="project_id", value=delivery.project_id)


def record_handler(record: SQSRecord) -> str:
    delivery = Delivery.from_message(record.body)
    settings = wiring.bound_settings()
    with correlated(f"{delivery.project_id}#{delivery.user_id}#{delivery.version}"):
        try:
            sent = deliver(
                delivery,
                log=wiring.change_log(),
                store=wiring.webhook_endpoints(),
                resolver=wiring.address_resolver(),
                poster=wiring.webhook_poster(),
                allow_loopback=settings.webhook_endpoints_allow_loopback,
                now=utc_now(),
            )
        except DeliveryFailedError as exc:
            attempt = int(record.attributes.approximate_receive_count or 1)
            wait = retry_delay(attempt, settings.webhook_delivery_retry_base_seconds)
            wiring.delivery_queue().retry_after(record.receipt_handle, wait)
            _count(MetricName.OUTBOUND_WEBHOOK_FAILED, delivery)
            logger.warning(
                "delivery not taken; retried later",
                extra={
                    "endpoint_id": delivery.endpoint_id,
                    "reason": exc.reason,
                    "attempt": attempt,
                    "retry_in_seconds": wait,
                },
            )
            raise
        if sent.gone:
            logger.info("nothing to deliver", extra={"endpoint_id": delivery.endpoint_id})
            return "gone"
        _count(MetricName.OUTBOUND_WEBHOOK_DELIVERED, delivery)
        logger.info(
            "delivered",
            extra={"endpoint_id": delivery.endpoint_id, "webhook_id": sent.message_id},
        )
        return "delivered"


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
