"""The webhook receiver's port: the queue that decouples it from the consumer."""

from __future__ import annotations

from typing import Protocol


class EventQueue(Protocol):
    def enqueue(self, raw_event: str, event_id: str, event_type: str) -> str:
        """Put a raw Stripe event on the queue; return the message id."""
