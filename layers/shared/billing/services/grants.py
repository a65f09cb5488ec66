"""Grant and revoke access by hand, leaving an audit trail; read the trail."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from billing.domain.clock import utc_now
from billing.domain.cursors import CursorSeal
from billing.domain.entitlements import EntitlementSource
from billing.domain.grants import (
    Action,
    AuditEntry,
    GrantRequest,
    apply_grant,
    apply_revoke,
    validate_request,
)
from billing.errors import DependencyUnavailableError, ValidationError
from billing.ports.grants import GrantStore
from billing.ports.tenancy import ProjectStore

MAX_ATTEMPTS = 6
# Before attempt n+1, a random pause of up to BACKOFF_SECONDS * 2**n: racing writers spread
# out instead of colliding again at once (at most ~1.6 s in all, well within the API's time).
BACKOFF_SECONDS = 0.025
MAX_AUDIT_PAGE = 100

Pause = Callable[[float], None]
Clock = Callable[[], datetime]


def _ensure_project(projects: ProjectStore, project_id: str) -> None:
    if projects.get(project_id) is None:
        raise ValidationError("project_id", f"project {project_id} does not exist")


def _change(
    store: GrantStore,
    request: GrantRequest,
    *,
    action: Action,
    app_id: str,
    now: datetime,
    pause: Pause,
    clock: Clock,
) -> tuple[EntitlementSource, bool]:
    """Apply and record one change; (the manual source after, whether anything changed).

    Read, change, write conditionally on what was read; a concurrent writer makes the write
    fail and the change is made again on fresh data after a jittered backoff, so no update is
    lost. Still contended after MAX_ATTEMPTS: 503, for the caller to retry. A change made
    again is dated again: the trail (sorted by time) then lists it after the change it lost
    to, which committed first.
    """
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            pause(random.uniform(0, BACKOFF_SECONDS * 2**attempt))  # noqa: S311 - jitter
            now = max(now, clock())
        sources, version = store.read(request.project_id, request.user_id)
        if action == "grant":
            new_sources, before, after = apply_grant(sources, request, now)
        else:
            new_sources, before, after = apply_revoke(sources, request, now)
        if before is after:
            return after, False  # the same grant again: one grant
        entry = AuditEntry(
            project_id=request.project_id,
            user_id=request.user_id,
            action=action,
            feature_code=request.feature_code,
            actor=request.actor,
            reason=request.reason,
            at=now,
            app_id=app_id,
            before=before,
            after=after,
        )
        if store.write(new_sources, version, entry):
            return after, True
    raise DependencyUnavailableError("the entitlements changed concurrently; retry")


def grant(
    projects: ProjectStore,
    store: GrantStore,
    request: GrantRequest,
    *,
    app_id: str,
    now: datetime,
    pause: Pause = time.sleep,
    clock: Clock = utc_now,
) -> tuple[EntitlementSource, bool]:
    checked = validate_request(request, now, "grant")
    _ensure_project(projects, checked.project_id)
    return _change(store, checked, action="grant", app_id=app_id, now=now, pause=pause, clock=clock)


def revoke(
    projects: ProjectStore,
    store: GrantStore,
    request: GrantRequest,
    *,
    app_id: str,
    now: datetime,
    pause: Pause = time.sleep,
    clock: Clock = utc_now,
) -> EntitlementSource:
    checked = validate_request(request, now, "revoke")
    _ensure_project(projects, checked.project_id)
    return _change(
        store, checked, action="revoke", app_id=app_id, now=now, pause=pause, clock=clock
    )[0]


def audit_trail(
    store: GrantStore,
    project_id: str,
    user_id: str,
    *,
    limit: int,
    cursor: str | None,
    seal: CursorSeal,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the trail, and the cursor of the next one: sealed for this project and user,
    so a client can neither read, forge nor reuse it for another (422 naming ``cursor``)."""
    if not 1 <= limit <= MAX_AUDIT_PAGE:
        raise ValidationError("limit", f"must be 1-{MAX_AUDIT_PAGE}")
    owner = {"project_id": project_id, "user_id": user_id}
    after = None if cursor is None else seal.open(cursor, **owner)
    entries, last = store.audit(project_id, user_id, limit, after)
    return entries, None if last is None else seal.seal(last, **owner)
