"""Manual grants and revokes: the entitlement record and its audit entry, in one transaction."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from pynamodb.exceptions import TransactWriteError

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
from billing.errors import ValidationError


def _source_view(text: str | None) -> dict[str, Any] | None:
    return json.loads(text) if text else None


def _cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _start_key(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        key: dict[str, Any] = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error):
        raise ValidationError("cursor", "not a cursor this API returned") from None
    return key


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
        except TransactWriteError as exc:
            if is_conditional_check_failure(exc):
                return False
            raise
        return True

    def audit(
        self, project_id: str, user_id: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first, ``limit`` at a time; the cursor continues where a page ended."""
        with dynamo_errors("Query audit"):
            pages = AuditModel.query(
                entitlement_key(project_id, user_id),
                scan_index_forward=False,
                limit=limit,
                last_evaluated_key=_start_key(cursor),
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
        return entries, _cursor(next_key) if len(items) == limit else None
