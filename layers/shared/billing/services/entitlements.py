"""Read the entitlements of a user of a project."""

from __future__ import annotations

from datetime import datetime

from billing.domain.entitlements import EntitlementView, evaluate
from billing.domain.usage import Balance, balances
from billing.ports.entitlements import EntitlementStore


def read_entitlements(
    store: EntitlementStore, project_id: str, user_id: str, now: datetime
) -> list[EntitlementView]:
    """Every source of every feature of (project, user), active or not at ``now``. One read."""
    return evaluate(store.sources_of(project_id, user_id), now)


def read_entitlements_with_usage(
    store: EntitlementStore, project_id: str, user_id: str, now: datetime
) -> tuple[list[EntitlementView], list[Balance]]:
    """The same, with each limited feature's balance at ``now`` (limit, used, remaining,
    reset): the record and the user's usage counters in one read."""
    sources, counters = store.usage_of(project_id, user_id)
    return evaluate(sources, now), balances(sources, now, counters)
