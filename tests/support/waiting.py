"""Wait for what arrives asynchronously over the local stack (webhooks through SQS, pushes
through the change log): read until it is there, then assert it."""

from __future__ import annotations

import time
from collections.abc import Callable


def read_until[T](
    read: Callable[[], T], done: Callable[[T], bool], *, seconds: float, interval: float = 0.25
) -> T:
    """``read()`` until ``done`` says so, ``seconds`` at most; fails with the last value read."""
    deadline = time.monotonic() + seconds
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(interval)
        value = read()
    assert done(value), value
    return value
