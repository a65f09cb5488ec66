"""Manual grants and revokes: the entitlement record and its audit entry, in one transaction."""

from __future__ import annotations

import json
from typing import Any, Literal

from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model

from billing.adapters.dynamo.errors import dynamo_errors, is_conditional_check_failure
from billing.adapters.dynamo.models import AuditModel, entitlement_key, transaction
from billing.adapters.dynamo.stores import (
    audit_item,
    entitlement_record,
    read_entitlement_record,
)
from billing.domain.clock import to_iso
from billing.domain.entitlements import EntitlementSource
from billing.domain.grants import AuditEntry


def _source_view(text: str | None) -> dict[str, Any] | None:
    return json.loads(text) if text else None


_HASH, _RANGE = "project_user", "at_id"  # AuditModel's keys


def _change_logged(
    sources: list[EntitlementSource], version_read: int, entry: AuditEntry
) -> tuple[Model, Any]:
    """The change log's entry of this grant or revoke (issue #22): the grant's id and who."""
    from billing.adapters.dynamo.change_log import change_log_item
    from billing.domain.change_log import ChangeEntry, support_cause

    changed = entry.after or entry.before
    action: Literal["grant", "revoke"] = "revoke" if entry.action == "revoke" else "grant"
    return change_log_item(
        ChangeEntry(
            project_id=entry.project_id,
            user_id=entry.user_id,
            version=version_read + 1,
            at=entry.at,
            sources=tuple(sources),
            cause=support_cause(action, changed.source_id if changed else "", entry.actor),
        )
    )


class DynamoGrantStore:
    def read(self, project_id: str, user_id: str) -> tuple[list[EntitlementSource], int]:
        return read_entitlement_record(project_id, user_id)

    def write(
        self,
        sources: list[EntitlementSource],
        version_read: int,
        entry: AuditEntry,
    ) -> bool:
        """The new record and the audit entry together; False when the record changed since
        it was read (nothing written)."""
        record, condition = entitlement_record(
            entry.project_id, entry.user_id, sources, version_read, entry.at
        )
        audit = audit_item(entry)
        try:
            with dynamo_errors("TransactWriteItems grant"), transaction() as write:
                write.save(record, condition=condition)
                write.save(audit, condition=AuditModel.project_user.does_not_exist())
                write.save(*_change_logged(sources, version_read, entry))
        except TransactWriteError as exc:
            if is_conditional_check_failure(exc):
                return False
            raise
        return True

    def audit(
        self, project_id: str, user_id: str, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first, ``limit`` at a time; a position is the range key (``at_id``) of the
        last entry shown, always read back in the partition of ``project_id``/``user_id``."""
        partition = entitlement_key(project_id, user_id)
        start = None if after is None else {_HASH: {"S": partition}, _RANGE: {"S": after}}
        with dynamo_errors("Query audit"):
            pages = AuditModel.query(
                partition, scan_index_forward=False, limit=limit, last_evaluated_key=start
            )
            items = list(pages)
            next_key = pages.last_evaluated_key
        entries = [
            {
                "action": item.action,
                "feature_code": item.feature_code,
                "actor": item.actor,
                "reason": item.reason,
                "at": to_iso(item.at),
                "app_id": item.app_id,
                "before": _source_view(item.before),
                "after": _source_view(item.after),
            }
            for item in items
        ]
        if next_key is None or len(items) < limit:
            return entries, None
        return entries, str(next_key[_RANGE]["S"])
