"""Report metered usage to Stripe Billing Meters, every minute (EventBridge schedule).

Off the request path: POST /api/v1/usage only records the usage; this function sends what
waits, in batches, and marks it. Stripe failing is retried on later passes with a growing
delay; what Stripe refuses, or keeps failing, goes to MeterReportDeadLetterQueue (alarm).
"""

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import wiring
from billing.domain.clock import utc_now
from billing.observability import MetricName, get_tracer, logger, metrics
from billing.services.metering import report_metered_usage

tracer = get_tracer()

# Time kept back for the usage in hand when the pass stops early: one Stripe call (with the
# SDK's retries) and one DynamoDB write.
STOP_MARGIN_MILLIS = 25_000


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = report_metered_usage(
        wiring.metered_usage_store(),
        wiring.stripe_meters(),
        wiring.meter_dead_letters(),
        now=utc_now(),
        has_time=lambda: context.get_remaining_time_in_millis() > STOP_MARGIN_MILLIS,
    )
    for name, value in (
        (MetricName.METER_EVENTS_REPORTED, outcome.reported),
        (MetricName.METER_EVENTS_RETRIED, outcome.retried),
        (MetricName.METER_EVENTS_DEAD_LETTERED, outcome.dead_lettered),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    return asdict(outcome)
