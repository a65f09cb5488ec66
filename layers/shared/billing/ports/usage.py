"""The usage route's port: a user's sources and counters, read and written together."""

from __future__ import annotations

from typing import Protocol

from billing.domain.usage import UsageState, UsageWrite, WriteOutcome


class UsageStore(Protocol):
    """Usage of limited features (billing.adapters.dynamo.usage)."""

    def read(self, project_id: str, user_id: str, record_key: str) -> UsageState:
        """The user's sources and counters, and the record under ``record_key``: one read."""

    def record(self, write: UsageWrite) -> WriteOutcome:
        """Count and record the usage together (one write), or say which condition refused
        it: nothing is written then."""
