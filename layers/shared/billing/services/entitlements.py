"""Read the entitlements of a user of a project."""

from __future__ import annotations

from datetime import datetime

from billing.domain.entitlements import EntitlementView, evaluate
from billing.ports.entitlements import EntitlementStore


def read_entitlements(
    store: EntitlementStore, project_id: str, user_id: str, now: datetime
) -> list[EntitlementView]:
    """Every source of every feature of (project, user), active or not at ``now``. One read."""
    return evaluate(store.sources_of(project_id, user_id), now)
