"""The stand-in's clock: the time it was given, moved on by ``/_standin/clock``.

Stripe test clocks move an account's time forward so a test sees days pass in a second; the
stand-in does the same for everything it dates (objects, events, the ``Date`` header, the rate
limit's windows) by adding an offset to the clock it was built with. Time never goes back, as
at Stripe: what is already dated stays in the past.
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import formatdate

from billing_devstack.stripe_standin.errors import invalid


class StandInClock:
    """``source`` (seconds, ``time.time`` or a test's clock) plus an offset that only grows."""

    def __init__(self, source: Callable[[], float]) -> None:
        self._source = source
        self.offset = 0.0

    def __call__(self) -> float:
        return self._source() + self.offset

    def now(self) -> int:
        """Whole seconds, like every Stripe timestamp."""
        return int(self())

    def advance(self, seconds: float) -> int:
        """Move on ``seconds`` (> 0); the new time."""
        if seconds <= 0:
            raise invalid("advance must be > 0 seconds: the clock never goes back.", "advance")
        self.offset += seconds
        return self.now()

    def move_to(self, timestamp: int) -> int:
        """Jump to ``timestamp`` (not before now); the new time."""
        if timestamp < self.now():
            raise invalid(
                f"now must not be before the stand-in's time ({self.now()}): the clock never "
                "goes back.",
                "now",
            )
        self.offset += timestamp - self()
        return self.now()


def http_date(timestamp: float) -> str:
    """RFC 7231's IMF-fixdate (``Tue, 01 Jan 2026 00:00:00 GMT``), as in a ``Date`` header."""
    return formatdate(timestamp, usegmt=True)
