"""The envelope every Stripe event has, checked before anything trusts it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from billing.errors import ValidationError

MAX_ID_LENGTH = 255


@dataclass(frozen=True)
class StripeEventEnvelope:
    """The fields of a Stripe event that routing and deduplication rely on."""

    event_id: str
    event_type: str
    created: int
    livemode: bool
    data_object: dict[str, Any]


def parse_event(raw: bytes | str) -> StripeEventEnvelope:
    """Parse a raw delivery; raise ValidationError when it is not a Stripe event."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        raise ValidationError("body", "not JSON") from None
    if not isinstance(body, dict) or body.get("object") != "event":
        raise ValidationError("body", "not a Stripe event object")
    event_id, event_type, created = body.get("id"), body.get("type"), body.get("created")
    if (
        not isinstance(event_id, str)
        or not event_id.startswith("evt_")
        or len(event_id) > MAX_ID_LENGTH
    ):
        raise ValidationError("id", "must be a Stripe event id (evt_...)")
    if not isinstance(event_type, str) or not event_type or len(event_type) > MAX_ID_LENGTH:
        raise ValidationError("type", "must be a non-empty string")
    if not isinstance(created, int) or isinstance(created, bool) or created < 0:
        raise ValidationError("created", "must be epoch seconds")
    data = body.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise ValidationError("data.object", "must be an object")
    return StripeEventEnvelope(
        event_id=event_id,
        event_type=event_type,
        created=created,
        livemode=bool(body.get("livemode", False)),
        data_object=data["object"],
    )
