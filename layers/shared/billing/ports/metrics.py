"""The metrics routes' port: a project's billing facts, its subscriptions' status history and
its grace period."""

from __future__ import annotations

from typing import Protocol

from billing.domain.billing_facts import Fact
from billing.domain.status_history import StatusEntry


class MetricsStore(Protocol):
    """What a project's metrics read; every read is bounded by that project's own size."""

    def facts_of_project(self, project_id: str) -> list[Fact]:
        """Every billing fact of one project."""

    def history_of_project(self, project_id: str) -> list[StatusEntry]:
        """Every status history entry of the project's subscriptions."""

    def grace_period_days(self, project_id: str) -> int:
        """The project's grace period after a failed payment (the default when unknown)."""
