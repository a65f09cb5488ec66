"""POST /api/v1/admin/grant: give a user a feature by hand, with an audit entry."""

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from billing import wiring
from billing.api.caller import caller_of
from billing.api.errors import json_response
from billing.api.resolver import build_rest_resolver, rest_handler
from billing.api.responses import AUTHORIZED, CHECKED, STORAGE, GrantResult, documented
from billing.api.schemas import GrantBody
from billing.domain.clock import to_iso, utc_now
from billing.domain.grants import GrantRequest
from billing.domain.ids import validate_user_id
from billing.services.grants import grant

app = build_rest_resolver()


@app.post(
    "/api/v1/admin/grant",
    operation_id="grantFeature",
    summary="Give a user a feature by hand, with an audit entry",
    description=(
        "Idempotent: the same grant again answers 200 with created=false and changes nothing."
    ),
    tags=["admin"],
    responses=documented(
        {
            201: ("granted", GrantResult),
            200: ("the same grant was already in force", GrantResult),
        },
        AUTHORIZED,
        HTTPStatus.NOT_FOUND,
        CHECKED,
        STORAGE,
    ),
)
def grant_feature(body: Annotated[GrantBody, Body()]) -> Response[str]:
    caller = caller_of(app.current_event)
    request = GrantRequest(
        project_id=caller.project_id,
        user_id=validate_user_id(body.user_id),
        feature_code=body.feature_code,
        actor=body.granted_by,
        reason=body.reason,
        valid_to=body.valid_to,
        quantity=body.quantity,
    )
    source, created = grant(
        wiring.project_store(), wiring.grant_store(), request, app_id=caller.app_id, now=utc_now()
    )
    return json_response(
        201 if created else 200,
        {
            "project_id": request.project_id,
            "user_id": request.user_id,
            "feature_code": source.feature_code,
            "active": True,
            "source": "manual",
            "source_id": source.source_id,
            "valid_from": to_iso(source.valid_from),
            "valid_to": to_iso(source.valid_to) if source.valid_to else None,
            "granted_by": request.actor,
            "reason": request.reason,
            "created": created,
            "quantity": source.allowance.limit if source.allowance else None,
        },
    )


lambda_handler = rest_handler(app, scope="admin")
