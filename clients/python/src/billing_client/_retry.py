"""When and how long to wait before trying an idempotent call again."""

from __future__ import annotations

from dataclasses import dataclass

# Statuses worth a second try: the service or the gateway failed, nothing was decided.
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    backoff_seconds: float = 0.2
    max_backoff_seconds: float = 2.0
    max_retry_after_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.backoff_seconds < 0:
            raise ValueError("max_retries and backoff_seconds must be >= 0")

    def delay(self, retry: int, retry_after: float | None, jitter: float) -> float | None:
        """Seconds to wait before retry number ``retry`` (1, 2, ...), or None: give up.

        Exponential backoff with equal jitter (``jitter`` in [0, 1): between half and all of
        ``backoff_seconds * 2**(retry-1)``, capped at ``max_backoff_seconds``). A Retry-After
        from the service wins, unless it asks for longer than ``max_retry_after_seconds``:
        waiting less than asked would only meet the same refusal, so the call gives up.
        """
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after_seconds else None
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * 2.0 ** (retry - 1))
        return ceiling * (0.5 + jitter / 2)
