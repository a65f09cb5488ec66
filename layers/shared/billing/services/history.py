"""What a user had at a past moment, and what changed between two moments: from the change
log, never from the record (which only knows now)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billing.domain.clock import to_iso, utc_instant
from billing.domain.cursors import CursorSeal
from billing.errors import ValidationError
from billing.ports.push import ChangeLog

MAX_CHANGES_PAGE = 100
_POSITION_PREFIX = "history:"  # a cursor of this list opens as nothing else's position


def state_at(log: ChangeLog, project_id: str, user_id: str, at: datetime) -> dict[str, Any]:
    """The user's entitlements at ``at``: the change in force then, evaluated at ``at`` (a
    grant that had ended by then shows inactive). No change by then: no entitlements."""
    moment = utc_instant(at, "at")
    entry = log.in_force_at(project_id, user_id, moment)
    answer: dict[str, Any] = {
        "project_id": project_id,
        "user_id": user_id,
        "at": to_iso(moment),
        "version": None,
        "changed_at": None,
        "cause": None,
        "entitlements": [],
    }
    if entry is not None:
        answer.update(entry.to_api(moment))
    return answer


def changes_between(
    log: ChangeLog,
    project_id: str,
    user_id: str,
    *,
    since: datetime,
    until: datetime,
    limit: int,
    cursor: str | None,
    seal: CursorSeal,
) -> dict[str, Any]:
    """The changes dated from ``since`` to ``until`` (to the second, both included: ``until``
    now lists everything so far), oldest first, each with its cause and the state it left
    (evaluated at the change), a page at a time; the cursor is sealed for this project and
    user (422 naming ``cursor`` for any other)."""
    start, end = utc_instant(since, "since"), utc_instant(until, "until")
    if start > end:
        raise ValidationError("until", "must not be before since")
    if not 1 <= limit <= MAX_CHANGES_PAGE:
        raise ValidationError("limit", f"must be 1-{MAX_CHANGES_PAGE}")
    owner = {"project_id": project_id, "user_id": user_id}
    after = None
    if cursor is not None:
        position = seal.open(cursor, **owner)
        if not position.startswith(_POSITION_PREFIX):
            raise ValidationError("cursor", "not a cursor of this list")
        after = position.removeprefix(_POSITION_PREFIX)
    entries, last = log.between(
        project_id, user_id, since=start, until=end, limit=limit, after=after
    )
    return {
        "project_id": project_id,
        "user_id": user_id,
        "since": to_iso(start),
        "until": to_iso(end),
        "changes": [entry.to_api() for entry in entries],
        "next_cursor": None if last is None else seal.seal(_POSITION_PREFIX + last, **owner),
    }
