"""Stripe's rate limit, on demand: off by default, ``/v1`` requests only.

Stripe counts an account's requests per second (25 in test mode, 100 in live mode) and answers
429 beyond that. The stand-in counts ``/v1`` requests in fixed one-second windows of its own
clock, so a test moves the clock a second on instead of sleeping; ``fail_next`` refuses the next
few requests whatever the rate, for a test that wants exactly one 429.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billing_devstack.stripe_standin.errors import rate_limited


class RateLimiter:
    """Admits ``/v1`` requests: at most ``per_second`` in each second (None: no limit)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.per_second: int | None = None
        self.fail_next = 0
        self._window = -1
        self._count = 0

    def configure(self, per_second: int | None, fail_next: int) -> None:
        """Set the limit (0 or None: off) and the forced failures; counting starts afresh."""
        self.per_second = per_second or None
        self.fail_next = fail_next
        self._window, self._count = -1, 0

    def state(self) -> dict[str, Any]:
        """What ``/_standin/rate_limit`` answers."""
        return {"per_second": self.per_second, "fail_next": self.fail_next}

    def admit(self) -> None:
        """Count one request, or raise Stripe's 429 when it is over the limit."""
        if self.fail_next:
            self.fail_next -= 1
            raise rate_limited()
        if self.per_second is None:
            return
        window = int(self._clock())
        if window != self._window:
            self._window, self._count = window, 0
        if self._count >= self.per_second:
            raise rate_limited()
        self._count += 1
