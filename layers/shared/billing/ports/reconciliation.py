"""Nightly reconciliation's ports: Stripe's lists, the runs, and the queue that
carries a run on."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from billing.domain.entitlement_rules import PriceAnomaly
from billing.domain.metering import MeterDrift
from billing.domain.reconciliation import (
    Checkpoint,
    ObjectKind,
    PageOutcome,
    RepairError,
    RepairRecord,
    RunStatus,
    RunSummary,
    StripePage,
)


class StripeObjectPages(Protocol):
    """Stripe's lists, one page at a time, paced under Stripe's rate limits."""

    def page(
        self, kind: ObjectKind, *, since: int, starting_after: str | None, limit: int
    ) -> StripePage:
        """Subscriptions (every status), or paid invoices, payment intents, refunds and
        disputes created since ``since``; newest first, after ``starting_after``."""


class ReconciliationRuns(Protocol):
    """Runs and their reports."""

    def start(self, run: RunSummary) -> None: ...

    def get(self, run_id: str) -> RunSummary | None: ...

    def last(self) -> RunSummary | None:
        """The run started most recently, or None."""

    def last_completed(self) -> RunSummary | None:
        """The run started most recently of those that completed without errors, or None."""

    def count_invocation(self, run_id: str) -> None: ...

    def save_page(
        self,
        run: RunSummary,
        after: Checkpoint,
        outcome: PageOutcome,
        status: RunStatus,
        now: datetime,
    ) -> bool:
        """Store one page's repairs and errors, then move the run to ``after`` adding its
        counts, only if it still stands where ``run`` says; False when another
        invocation moved it first (nothing counted twice)."""

    def repairs(self, run_id: str) -> list[RepairRecord]: ...

    def errors(self, run_id: str) -> list[RepairError]: ...

    def anomalies(self, run_id: str) -> list[PriceAnomaly]:
        """The prices the run found granting nothing where they are used."""

    def save_meter_drift(self, run: RunSummary, drift: list[MeterDrift]) -> None:
        """Add the run's comparison of metered usage with Stripe's meters to its report."""

    def meter_drift(self, run_id: str) -> list[MeterDrift]: ...


class RunQueue(Protocol):
    def continue_run(self, run_id: str) -> None:
        """Ask for a fresh invocation to carry the run on from its checkpoint."""
