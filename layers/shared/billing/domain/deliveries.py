"""One delivery of one change to one endpoint, as queued, and how long a failed one waits.

A change-log entry is fanned out to one queued delivery per endpoint of its project. The
message names the change and the endpoint only: the sender reads the entry and the endpoint
when it sends, so a removed endpoint gets nothing more and a rotated secret signs at once.

A failed attempt waits ``base * 2 ** (attempt - 1)`` seconds (30 s, 1 min, 2 min... with the
default base), at most SQS's 12 hours; the queue dead-letters a delivery at its
``MAX_DELIVERY_ATTEMPTS``-th receive, about three days after the first (tests hold the
template's ``maxReceiveCount`` and retention to these numbers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from billing.domain.ids import normalize_project_id, validate_user_id
from billing.errors import ValidationError

MAX_VISIBILITY_SECONDS = 43_200  # SQS's longest visibility timeout: 12 hours
MAX_DELIVERY_ATTEMPTS = 17  # with a 30 s base, the last attempt comes 77 h after the first
DELIVERY_WINDOW_SECONDS = 3 * 86_400


def retry_delay(attempt: int, base_seconds: int) -> int:
    """Seconds before the attempt after failed attempt number ``attempt`` (1: the first)."""
    return int(min(base_seconds * 2 ** max(0, attempt - 1), MAX_VISIBILITY_SECONDS))


@dataclass(frozen=True)
class Delivery:
    """The change (project, user, version) for the endpoint ``endpoint_id``."""

    project_id: str
    user_id: str
    version: int
    endpoint_id: str

    def to_message(self) -> str:
        return json.dumps(
            {
                "project_id": self.project_id,
                "user_id": self.user_id,
                "version": self.version,
                "endpoint_id": self.endpoint_id,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_message(cls, body: str) -> Delivery:
        """A queued delivery; ValidationError for a body that is none (it is dead-lettered)."""
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise ValidationError("body", "not JSON") from None
        if not isinstance(data, dict):
            raise ValidationError("body", "not a delivery")
        version, endpoint_id = data.get("version"), data.get("endpoint_id")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValidationError("version", "must be a positive integer")
        if not isinstance(endpoint_id, str) or not endpoint_id:
            raise ValidationError("endpoint_id", "must be a non-empty string")
        return cls(
            project_id=normalize_project_id(data.get("project_id")),
            user_id=validate_user_id(str(data.get("user_id"))),
            version=version,
            endpoint_id=endpoint_id,
        )


class DeliveryFailedError(Exception):
    """An attempt that did not get a 2xx: the endpoint answered something else, or could not
    be reached, or its host now resolves to an address that is not allowed. ``reason`` is
    short and safe to log (no body, no secret)."""

    def __init__(self, endpoint_id: str, reason: str) -> None:
        super().__init__(f"delivery to {endpoint_id} failed: {reason}")
        self.endpoint_id = endpoint_id
        self.reason = reason
