"""A message in the webhook dead-letter queue, as an operator sees it (``billing-admin dlq``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

# The message attributes the webhook receiver puts on every event (SqsEventQueue.enqueue).
EVENT_ID_ATTRIBUTE = "stripe_event_id"
EVENT_TYPE_ATTRIBUTE = "stripe_event_type"


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message. ``body`` is a Stripe event (customer data): it is kept out of
    ``repr`` and shown only on request (``--show-body``)."""

    message_id: str
    stripe_event_id: str | None
    stripe_event_type: str | None
    receive_count: int
    first_received_at: datetime | None
    body_size: int
    body: str = field(repr=False)


def event_identity(body: str, attributes: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The Stripe event id and type: from the message attributes when present, else from the
    body when it is a JSON object; None for what neither says."""
    event_id = attributes.get(EVENT_ID_ATTRIBUTE) or None
    event_type = attributes.get(EVENT_TYPE_ATTRIBUTE) or None
    if event_id and event_type:
        return event_id, event_type
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return event_id, event_type
    if isinstance(parsed, dict):
        if event_id is None and isinstance(parsed.get("id"), str):
            event_id = parsed["id"] or None
        if event_type is None and isinstance(parsed.get("type"), str):
            event_type = parsed["type"] or None
    return event_id, event_type
