"""The metrics routes' port: a project's billing facts."""

from __future__ import annotations

from typing import Protocol

from billing.domain.billing_facts import Fact


class MetricsStore(Protocol):
    def facts_of_project(self, project_id: str) -> list[Fact]:
        """Every billing fact of one project (reads bounded by that project's size)."""
