"""Stripe failing on demand (``/_standin/faults``), and the log of every ``/v1`` request seen.

A fault makes the next K ``/v1`` requests (all of them, or only those matching a method and a
path prefix) fail in one of three ways:

- ``status`` (429 or 5xx) before the work: nothing changes, nothing is stored under the
  request's ``Idempotency-Key``, so a retry with the same key does the work afresh;
- ``status`` 5xx with ``after``: the work is done and stored under the key, only the answer is
  lost (a proxy failing on the way back), so a retry with the same key is replayed
  (``Idempotent-Replayed: true``);
- ``delay`` seconds after the work, outside the stand-in's lock: the answer comes too late for a
  caller's read timeout (a timeout where Stripe did the work), and other requests go on meanwhile.

The request log is how tests see what the SDK did: each retry, its key, what it was answered.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from billing_devstack.stripe_standin.errors import StripeError, rate_limited

RATE_LIMITED = 429
LOG_SIZE = 10_000
MAX_DELAY_SECONDS = 60.0
METHODS = ("GET", "POST", "DELETE")
SERVER_ERROR_MESSAGE = (
    "An unknown error occurred while processing your request (a fault injected by the Stripe "
    "stand-in)."
)


@dataclass(frozen=True)
class Fault:
    """What the next ``count`` matching requests suffer (``match``: ``"POST /v1/customers"``,
    ``"/v1/customers"`` for any method, or None for every ``/v1`` request)."""

    count: int = 0
    match: str | None = None
    status: int | None = None
    after: bool = False
    delay: float | None = None
    should_retry: bool | None = None

    @property
    def processes_first(self) -> bool:
        """Whether the request is done (and stored under its key) before the fault."""
        return self.after or self.delay is not None

    def matches(self, method: str, path: str) -> bool:
        if self.match is None:
            return True
        wanted_method, _, prefix = self.match.rpartition(" ")
        return path.startswith(prefix) and wanted_method in ("", method)

    def error(self) -> StripeError:
        """The answer of a ``status`` fault: Stripe's own shape for a 429 or a 5xx."""
        if self.status == RATE_LIMITED:
            return rate_limited()
        headers = {}
        if self.should_retry is not None:
            headers["Stripe-Should-Retry"] = "true" if self.should_retry else "false"
        return StripeError(
            SERVER_ERROR_MESSAGE, status=self.status or 500, type_="api_error", headers=headers
        )

    def describe(self) -> dict[str, Any]:
        """How this request failed, for the request log."""
        if self.delay is not None:
            return {"delay": self.delay}
        return {"status": self.status, "after": self.after}

    def state(self) -> dict[str, Any]:
        """What ``/_standin/faults`` answers."""
        return asdict(self)


class Faults:
    """The current fault; each ``POST /_standin/faults`` replaces it (``count`` 0: none)."""

    def __init__(self) -> None:
        self.current = Fault()

    def set(self, fault: Fault) -> None:
        self.current = fault

    def take(self, method: str, path: str) -> Fault | None:
        """The fault this request suffers, counting it down; None when it goes through."""
        if self.current.count <= 0 or not self.current.matches(method, path):
            return None
        self.current = replace(self.current, count=self.current.count - 1)
        return self.current


class RequestLog:
    """The last :data:`LOG_SIZE` ``/v1`` requests, oldest first."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock
        self._entries: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
        self._seq = itertools.count(1)

    def record(
        self,
        *,
        request_id: str,
        method: str,
        path: str,
        idempotency_key: str | None,
        status: int,
        replayed: bool,
        fault: Fault | None,
    ) -> None:
        self._entries.append(
            {
                "seq": next(self._seq),
                "request_id": request_id,
                "created": self._clock(),
                "method": method,
                "path": path,
                "idempotency_key": idempotency_key,
                "status": status,
                "replayed": replayed,
                "fault": fault.describe() if fault is not None else None,
            }
        )

    def entries(
        self,
        method: str | None = None,
        path: str | None = None,
        idempotency_key: str | None = None,
    ) -> list[dict[str, Any]]:
        """Copies of the entries, filtered by method, path prefix and key."""
        return [
            dict(entry)
            for entry in self._entries
            if (method is None or entry["method"] == method)
            and (path is None or entry["path"].startswith(path))
            and (idempotency_key is None or entry["idempotency_key"] == idempotency_key)
        ]
