"""Nightly reconciliation with Stripe (EventBridge schedule).

Only the trigger and its switch are built: the repair itself is issue #8, so a run says
plainly that nothing was reconciled instead of reporting a clean run.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.config import get_settings
from billing.observability import get_tracer, logger

tracer = get_tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    if not settings.reconciliation_enabled:
        logger.info("reconciliation disabled (RECONCILIATION_ENABLED=false)")
        return {"status": "disabled"}
    logger.warning(
        "reconciliation is not built yet (issue #8); nothing was compared or repaired",
        extra={"days_back": settings.reconciliation_days_back},
    )
    return {"status": "not_built", "days_back": settings.reconciliation_days_back}
