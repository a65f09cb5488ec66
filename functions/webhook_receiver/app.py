"""POST /api/v1/webhooks/stripe (and the function URL): verify, enqueue, answer 2xx.

Stripe's signature is the authentication, so there is no authorizer. Nothing unverified is
enqueued; the consumer does the real work. No X-Ray SDK here: Stripe waits on this answer.
"""

import base64
import time
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import wiring
from billing.api.errors import json_response
from billing.api.resolver import build_function_url_resolver, build_rest_resolver
from billing.config import get_settings
from billing.errors import (
    DependencyUnavailableError,
    InvalidSignatureError,
    PayloadTooLargeError,
)
from billing.observability import MetricName, logger, metrics
from billing.secrets import webhook_signing_secrets
from billing.services.webhooks import accept_delivery

WEBHOOK_PATH = "/api/v1/webhooks/stripe"

rest_app = build_rest_resolver()
url_app = build_function_url_resolver()


def _raw_body(event: BaseProxyEvent) -> bytes:
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8")


def receive(event: BaseProxyEvent) -> Response[str]:
    settings = get_settings()
    try:
        accepted = accept_delivery(
            payload=_raw_body(event),
            signature_header=event.headers.get("stripe-signature"),
            secrets=webhook_signing_secrets(settings),
            queue=wiring.webhook_queue(),
            now=int(time.time()),
            tolerance_seconds=settings.webhook_tolerance_seconds,
            max_body_bytes=settings.webhook_max_body_bytes,
        )
    except (InvalidSignatureError, PayloadTooLargeError) as exc:
        metrics.add_metric(name=MetricName.WEBHOOK_REJECTED, unit=MetricUnit.Count, value=1)
        logger.warning("webhook refused", extra={"reason": str(exc)})
        raise
    except DependencyUnavailableError:
        # Answered 503: Stripe retries the delivery, so nothing is lost.
        metrics.add_metric(name=MetricName.WEBHOOK_ENQUEUE_FAILED, unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name=MetricName.WEBHOOK_ACCEPTED, unit=MetricUnit.Count, value=1)
    logger.info(
        "webhook enqueued",
        extra={"stripe_event_id": accepted.event_id, "stripe_event_type": accepted.event_type},
    )
    return json_response(200, {"received": True, "id": accepted.event_id})


@rest_app.post(WEBHOOK_PATH)
def via_api_gateway() -> Response[str]:
    return receive(rest_app.current_event)


@url_app.post("/")
@url_app.post(WEBHOOK_PATH)
def via_function_url() -> Response[str]:
    return receive(url_app.current_event)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Function URLs send payload format 2.0; API Gateway REST sends 1.0.
    app = url_app if event.get("version") == "2.0" else rest_app
    return app.resolve(event, context)
