"""The entitlement reads' port: a user's stored sources."""

from __future__ import annotations

from typing import Protocol

from billing.domain.entitlements import EntitlementSource


class EntitlementStore(Protocol):
    def sources_of(self, project_id: str, user_id: str) -> list[EntitlementSource]:
        """Every stored source of (project, user); empty when none. One read."""

    def usage_of(
        self, project_id: str, user_id: str
    ) -> tuple[list[EntitlementSource], dict[str, int]]:
        """The sources and the user's usage counters (``<feature>#<period>``). One read."""
