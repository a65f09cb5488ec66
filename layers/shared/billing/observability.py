"""The service's only Logger, Metrics and (lazily) Tracer, and the metric names it emits.

The X-Ray SDK behind Powertools' Tracer costs about half a second at cold start, so the hot
paths (authorizer, entitlement read, webhook receiver) never create one: Lambda's active
tracing still traces them. Other handlers call :func:`get_tracer`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

logger = Logger()
metrics = Metrics()


class MetricName:
    """Names of the custom metrics (EMF), in one place so dashboards and alarms agree."""

    WEBHOOK_ACCEPTED = "WebhookEventsAccepted"
    WEBHOOK_REJECTED = "WebhookEventsRejected"
    WEBHOOK_ENQUEUE_FAILED = "WebhookEnqueueFailures"
    WEBHOOK_APPLIED = "WebhookEventsApplied"
    WEBHOOK_RECORDED = "WebhookEventsRecorded"
    WEBHOOK_DUPLICATE = "WebhookEventsDuplicate"
    WEBHOOK_MALFORMED = "WebhookEventsMalformed"  # signed, but not in Stripe's shape: recorded
    WEBHOOK_FAILED = "WebhookEventsFailed"  # a record left to SQS to retry (then the DLQ)
    WEBHOOK_LAG = "WebhookLagSeconds"  # from the event's creation at Stripe to its applying
    WEBHOOK_STRIPE_READS = "WebhookStripeReads"  # objects read because a payload could not decide
    PRICE_ANOMALIES = "PriceAnomalies"  # a price of another project, or unknown, granted nothing
    DEAD_LETTER_DEPTH = "WebhookDeadLetterDepth"
    RECONCILIATION_RUNS = "ReconciliationRuns"
    RECONCILIATION_EXAMINED = "ReconciliationExamined"
    RECONCILIATION_REPAIRS = "ReconciliationRepairs"
    RECONCILIATION_FAILURES = "ReconciliationFailures"
    RECONCILIATION_ANOMALIES = "ReconciliationPriceAnomalies"
    # Outbound webhooks (issue #22): per attempt, with and without an endpoint_id dimension.
    OUTBOUND_WEBHOOK_DELIVERED = "OutboundWebhookDelivered"
    OUTBOUND_WEBHOOK_FAILED = "OutboundWebhookFailed"
    METER_EVENTS_REPORTED = "MeterEventsReported"  # metered usage sent to Stripe
    METER_EVENTS_RETRIED = "MeterEventsRetried"  # Stripe did not answer: tried again later
    METER_EVENTS_DEAD_LETTERED = "MeterEventsDeadLettered"  # refused, or failing for good
    METER_DRIFT = "MeterDrift"  # (meter, customer, day) where Stripe's total differs from ours


@contextmanager
def correlated(correlation_id: str | None) -> Iterator[None]:
    """Log lines inside carry ``correlation_id`` (none when None); it is cleared on the way
    out, so the next record or the next warm invocation never inherits it."""
    logger.set_correlation_id(correlation_id)
    try:
        yield
    finally:
        logger.set_correlation_id(None)


@lru_cache(maxsize=1)
def get_tracer() -> Tracer:
    """The Tracer, created on first use so that importing this module stays cheap."""
    from aws_lambda_powertools import Tracer

    return Tracer()
