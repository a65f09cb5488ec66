"""Stripe webhooks: accept a signed delivery onto the queue; record a queued event once.

Accepting is cheap and strict (the receiver must answer Stripe fast and store nothing
unverified); recording happens in the consumer, where a failure is retried by SQS.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from billing.domain.stripe_events import StripeEventEnvelope, parse_event
from billing.domain.webhook_signature import verify_signature
from billing.errors import InvalidSignatureError, PayloadTooLargeError, ValidationError
from billing.ports import EventQueue, WebhookEventLog


class EventOutcome(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"


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


def record_event(raw_event: str, log: WebhookEventLog, now: datetime) -> EventOutcome:
    """Record a queued event by id, at most once.

    No event type has a handler yet, so every event is recorded as received; a replay of an
    id already recorded changes nothing. A body that is not a Stripe event raises
    ValidationError, so SQS retries it and it ends in the DLQ.
    """
    event = parse_event(raw_event)
    if log.record_once(event, outcome="received", now=now):
        return EventOutcome.RECORDED
    return EventOutcome.DUPLICATE
