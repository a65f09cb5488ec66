"""Manual grants and revocations, with their audit trail."""

from __future__ import annotations

from typing import Any, Protocol

from billing.domain.entitlements import EntitlementSource
from billing.domain.grants import AuditEntry


class GrantStore(Protocol):
    def read(self, project_id: str, user_id: str) -> tuple[list[EntitlementSource], int]:
        """The (project, user) record's sources and version (0: none)."""

    def write(self, sources: list[EntitlementSource], version_read: int, entry: AuditEntry) -> bool:
        """The record and its audit entry in one transaction; False if the record changed."""

    def audit(
        self, project_id: str, user_id: str, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Audit entries newest first, from after the position ``after`` (None: the newest),
        and the position of the last entry when more may follow (None at the end). Positions
        are the store's own; clients see them only sealed (billing.domain.cursors)."""
