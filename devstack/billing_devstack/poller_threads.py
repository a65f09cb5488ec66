"""The local stack's event-source pollers (SQS queues, DynamoDB streams), each run in its own
daemon thread, as Lambda's pollers run beside the functions they feed."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol


class _EventSource(Protocol):
    @property
    def function_id(self) -> str: ...


class Poller(Protocol):
    @property
    def source(self) -> _EventSource: ...

    @property
    def stop_event(self) -> threading.Event: ...

    def run(self) -> None: ...


class PollerThreads[P: Poller]:
    """One daemon thread per poller; ``kind`` names the threads (``sqs-<FunctionId>``)."""

    def __init__(self, kind: str, pollers: Sequence[P]) -> None:
        self.kind = kind
        self.pollers = list(pollers)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start every poller in a daemon thread."""
        for poller in self.pollers:
            thread = threading.Thread(
                target=poller.run, name=f"{self.kind}-{poller.source.function_id}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask every poller to stop and wait for the current polls to end."""
        for poller in self.pollers:
            poller.stop_event.set()
        for thread in self._threads:
            thread.join(timeout)
