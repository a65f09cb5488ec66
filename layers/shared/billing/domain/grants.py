"""Support overrides: manual grants and revokes, and the audit entry each one leaves.

At most one manual source per feature: a grant sets it (or extends it), a revoke takes it
out of force with the reason ``revoked``; nothing is deleted. The same grant twice is one
grant: granting what is already granted, to the same end, changes nothing.

A grant may give a ``quantity`` of a limited feature (credits): an allowance that never
resets and ends with the grant, added to the limit of the feature's other sources. A new
grant replaces the previous one, quantity included (it does not add to it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from billing.domain.allowances import Allowance, validate_limit
from billing.domain.clock import utc_instant
from billing.domain.entitlements import EntitlementSource
from billing.domain.ids import FEATURE_CODE_RULE, is_feature_code
from billing.domain.text import validate_text
from billing.errors import NotFoundError, ValidationError

MAX_ACTOR_LENGTH = 128
MAX_REASON_LENGTH = 500

Action = Literal["grant", "revoke", "reconcile"]


@dataclass(frozen=True)
class GrantRequest:
    project_id: str
    user_id: str
    feature_code: str
    actor: str
    reason: str
    valid_to: datetime | None = None
    quantity: int | None = None  # of a limited feature; None: no limit

    @property
    def allowance(self) -> Allowance | None:
        return Allowance(self.quantity, "never") if self.quantity is not None else None


@dataclass(frozen=True)
class AuditEntry:
    """Who changed what, when and why, with the feature's manual source before and after."""

    project_id: str
    user_id: str
    action: Action
    feature_code: str
    actor: str
    reason: str
    at: datetime
    app_id: str
    before: EntitlementSource | None
    after: EntitlementSource | None


def validate_request(request: GrantRequest, now: datetime, action: Action) -> GrantRequest:
    actor_field = "granted_by" if action == "grant" else "revoked_by"
    if not is_feature_code(request.feature_code):
        raise ValidationError("feature_code", FEATURE_CODE_RULE)
    actor, reason = request.actor.strip(), request.reason.strip()
    if not actor or len(actor) > MAX_ACTOR_LENGTH:
        raise ValidationError(actor_field, f"must be 1-{MAX_ACTOR_LENGTH} characters")
    if not reason or len(reason) > MAX_REASON_LENGTH:
        raise ValidationError("reason", f"must be 1-{MAX_REASON_LENGTH} characters")
    validate_text(actor, actor_field)
    validate_text(reason, "reason")
    valid_to = request.valid_to
    if valid_to is not None:
        valid_to = utc_instant(valid_to, "valid_to")
        if valid_to <= now:
            raise ValidationError("valid_to", "must be in the future")
    if request.quantity is not None:
        if action != "grant":
            raise ValidationError("quantity", "only a grant gives a quantity")
        if validate_limit(request.quantity, "quantity") == 0:
            raise ValidationError("quantity", "must be at least 1")
    return replace(request, actor=actor, reason=reason, valid_to=valid_to)


def manual_source(sources: list[EntitlementSource], feature_code: str) -> EntitlementSource | None:
    return next(
        (s for s in sources if s.source == "manual" and s.feature_code == feature_code), None
    )


def grant_id(request: GrantRequest) -> str:
    digest = hashlib.sha256(
        f"{request.project_id}#{request.user_id}#{request.feature_code}".encode()
    ).hexdigest()
    return f"grant_{digest[:20]}"


def apply_grant(
    sources: list[EntitlementSource], request: GrantRequest, now: datetime
) -> tuple[list[EntitlementSource], EntitlementSource | None, EntitlementSource]:
    """(new sources, the manual source before, after). ``before == after`` means nothing to do."""
    before = manual_source(sources, request.feature_code)
    live = (
        before is not None
        and before.in_force
        and (before.valid_to is None or before.valid_to > now)
        and before.valid_to == request.valid_to
        and before.allowance == request.allowance
    )
    if live and before is not None:
        return sources, before, before
    after = EntitlementSource(
        feature_code=request.feature_code,
        source="manual",
        source_id=grant_id(request),
        valid_from=now,
        valid_to=request.valid_to,
        in_force=True,
        reason=None,
        allowance=request.allowance,
    )
    return _replaced(sources, before, after), before, after


def apply_revoke(
    sources: list[EntitlementSource], request: GrantRequest, now: datetime
) -> tuple[list[EntitlementSource], EntitlementSource, EntitlementSource]:
    before = manual_source(sources, request.feature_code)
    if before is None or not before.in_force or (before.valid_to and before.valid_to <= now):
        raise NotFoundError(f"no active grant of {request.feature_code} for this user")
    after = replace(before, in_force=False, reason="revoked")
    return _replaced(sources, before, after), before, after


def _replaced(
    sources: list[EntitlementSource], old: EntitlementSource | None, new: EntitlementSource
) -> list[EntitlementSource]:
    return [s for s in sources if s is not old] + [new]
