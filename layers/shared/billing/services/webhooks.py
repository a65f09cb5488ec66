"""Stripe webhooks: accept a signed delivery onto the queue.

Accepting is cheap and strict (the receiver must answer Stripe fast and store nothing
unverified); applying happens in the consumer (services.engine), where SQS retries failures.
"""

from __future__ import annotations

from collections.abc import Sequence

from billing.domain.stripe_events import StripeEventEnvelope, parse_event
from billing.domain.webhook_signature import verify_signature
from billing.errors import InvalidSignatureError, PayloadTooLargeError, ValidationError
from billing.ports.webhooks import EventQueue


def accept_delivery(
    *,
    payload: bytes,
    signature_header: str | None,
    secrets: Sequence[str],
    queue: EventQueue,
    now: int,
    tolerance_seconds: int,
    max_body_bytes: int,
) -> StripeEventEnvelope:
    """Verify a delivery and enqueue it; raise before enqueuing anything that fails a check."""
    if len(payload) > max_body_bytes:
        raise PayloadTooLargeError(f"webhook body over {max_body_bytes} bytes")
    verify_signature(payload, signature_header, secrets, now, tolerance_seconds)
    try:
        event = parse_event(payload)
    except ValidationError as exc:
        # Signed but not an event: still a 400, and nothing enqueued.
        raise InvalidSignatureError(f"signed body is not a Stripe event ({exc.field})") from None
    queue.enqueue(payload.decode("utf-8"), event.event_id, event.event_type)
    return event
