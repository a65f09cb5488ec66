"""POST /api/v1/webhooks/stripe (and the function URL): verify, enqueue, answer 2xx.

Stripe's signature is the authentication, so there is no authorizer. Nothing unverified is
enqueued; the consumer does the real work. No X-Ray SDK here: Stripe waits on this answer.
Once an event is verified and parsed, its id is the logs' correlation id (the consumer's too).
"""

import base64
import time
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import wiring
from billing.api.body import all_headers, check_content_type
from billing.api.errors import json_response
from billing.api.resolver import build_function_url_resolver, build_rest_resolver
from billing.api.responses import WebhookReceipt, documented
from billing.config import get_settings
from billing.errors import (
    DependencyUnavailableError,
    InvalidSignatureError,
    PayloadTooLargeError,
)
from billing.observability import MetricName, logger, metrics
from billing.ports.webhooks import EventQueue
from billing.secrets import webhook_signing_secrets
from billing.services.webhooks import accept_delivery

WEBHOOK_PATH = "/api/v1/webhooks/stripe"

app = build_rest_resolver()
url_app = build_function_url_resolver()


def _raw_body(event: BaseProxyEvent) -> bytes:
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8")


class _CorrelatingQueue:
    """The webhook queue as the receiver hands it over: accept_delivery enqueues only an event
    it has verified and parsed, so that is when the event's id becomes the correlation id, and
    the logs of an enqueue that fails carry it too."""

    def __init__(self, queue: EventQueue) -> None:
        self._queue = queue

    def enqueue(self, raw_event: str, event_id: str, event_type: str) -> str:
        logger.set_correlation_id(event_id)
        return self._queue.enqueue(raw_event, event_id, event_type)


def receive(event: BaseProxyEvent) -> Response[str]:
    settings = get_settings()
    # Stripe sends application/json; charset=utf-8. Anything else is no Stripe event (415).
    check_content_type(all_headers(event.raw_event), has_body=bool(event.body))
    try:
        accepted = accept_delivery(
            payload=_raw_body(event),
            signature_header=event.headers.get("stripe-signature"),
            secrets=webhook_signing_secrets(settings),
            queue=_CorrelatingQueue(wiring.webhook_queue()),
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


@app.post(
    WEBHOOK_PATH,
    operation_id="receiveStripeWebhook",
    summary="Stripe's webhook: verify the signature, queue the event, answer 200",
    description=(
        "Called by Stripe, signed with the endpoint's secret (Stripe-Signature header). "
        "The event is applied asynchronously; duplicates and reordering are harmless."
    ),
    tags=["webhooks"],
    responses=documented(
        {200: ("verified and queued (or a duplicate)", WebhookReceipt)},
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        HTTPStatus.INTERNAL_SERVER_ERROR,
        HTTPStatus.SERVICE_UNAVAILABLE,
    ),
)
def via_api_gateway() -> Response[str]:
    return receive(app.current_event)


@url_app.post("/")
@url_app.post(WEBHOOK_PATH)
def via_function_url() -> Response[str]:
    return receive(url_app.current_event)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Function URLs send payload format 2.0; API Gateway REST sends 1.0.
    resolver = url_app if event.get("version") == "2.0" else app
    try:
        return resolver.resolve(event, context)
    finally:
        logger.set_correlation_id(None)  # a warm container's next delivery starts without one
