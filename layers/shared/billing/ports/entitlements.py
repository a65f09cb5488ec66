"""The entitlement reads' port: a user's stored sources."""

from __future__ import annotations

from typing import Protocol

from billing.domain.entitlements import EntitlementSource


class EntitlementStore(Protocol):
    def sources_of(self, project_id: str, user_id: str) -> list[EntitlementSource]:
        """Every stored source of (project, user); empty when none. One read."""
