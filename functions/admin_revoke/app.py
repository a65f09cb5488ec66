"""POST /api/v1/admin/revoke: end a manual grant (recorded, not deleted), with an audit entry."""

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body

from billing import wiring
from billing.api.caller import caller_of
from billing.api.resolver import build_rest_resolver, rest_handler
from billing.api.responses import AUTHORIZED, CHECKED, STORAGE, RevocationResult, documented
from billing.api.schemas import RevokeBody
from billing.domain.clock import to_iso, utc_now
from billing.domain.grants import GrantRequest
from billing.domain.ids import validate_user_id
from billing.services.grants import revoke

app = build_rest_resolver()


@app.post(
    "/api/v1/admin/revoke",
    operation_id="revokeFeature",
    summary="End a manual grant (recorded, not deleted), with an audit entry",
    description="404 when the user has no active manual grant of the feature.",
    tags=["admin"],
    responses=documented(
        {200: ("revoked", RevocationResult)},
        AUTHORIZED,
        HTTPStatus.NOT_FOUND,
        CHECKED,
        STORAGE,
    ),
)
def revoke_feature(body: Annotated[RevokeBody, Body()]) -> RevocationResult:
    caller = caller_of(app.current_event)
    now = utc_now()
    request = GrantRequest(
        project_id=caller.project_id,
        user_id=validate_user_id(body.user_id),
        feature_code=body.feature_code,
        actor=body.revoked_by,
        reason=body.reason,
    )
    source = revoke(
        wiring.project_store(), wiring.grant_store(), request, app_id=caller.app_id, now=now
    )
    return RevocationResult(
        project_id=request.project_id,
        user_id=request.user_id,
        feature_code=source.feature_code,
        revoked=True,
        source="manual",
        source_id=source.source_id,
        revoked_by=request.actor,
        reason=request.reason,
        revoked_at=to_iso(now),
    )


lambda_handler = rest_handler(app, scope="admin")
