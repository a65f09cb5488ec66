"""The webhook dead-letter queue, for operators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from billing.domain.dead_letters import DeadLetter


class DeadLetters(Protocol):
    """The webhook dead-letter queue, for operators."""

    def approximate_count(self) -> int:
        """About how many messages wait (visible) in the queue."""

    def peek(self, limit: int) -> list[DeadLetter]:
        """Up to ``limit`` messages, left in the queue (each read adds one to its receive
        count, nothing else changes)."""

    def redrive(
        self, limit: int, to_queue_url: str, progress: Callable[[int], None] | None = None
    ) -> int:
        """Move up to ``limit`` messages to ``to_queue_url`` (send first, then delete: a crash
        duplicates, never loses); return how many moved."""
