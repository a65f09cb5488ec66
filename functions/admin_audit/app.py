"""GET /api/v1/admin/audit: the support changes of a user, newest first, paginated."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from billing import wiring
from billing.api.caller import caller_of
from billing.api.resolver import build_rest_resolver, rest_handler
from billing.api.responses import AUTHORIZED, CHECKED, STORAGE, AuditPage, documented
from billing.api.schemas import project_id_query, user_id_query
from billing.domain.ids import validate_user_id
from billing.services.grants import audit_trail

app = build_rest_resolver()


@app.get(
    "/api/v1/admin/audit",
    operation_id="listAudit",
    summary="The access changes of a user, newest first, a page at a time",
    tags=["admin"],
    responses=documented(
        {200: ("a page of audit entries", AuditPage)},
        AUTHORIZED,
        CHECKED,
        STORAGE,
    ),
)
def get_audit(
    user_id: Annotated[str, user_id_query()],
    project_id: Annotated[str, project_id_query()],
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[
        str | None,
        Query(
            max_length=2048,
            description="next_cursor of the previous page: opaque, and only good for the same "
            "project and user (anything else is 422)",
        ),
    ] = None,
) -> AuditPage:
    project = caller_of(app.current_event).project_id
    entries, next_cursor = audit_trail(
        wiring.grant_store(),
        project,
        validate_user_id(user_id),
        limit=limit,
        cursor=cursor,
        seal=wiring.audit_cursor_seal(),
    )
    return AuditPage.model_validate({"items": entries, "next_cursor": next_cursor})


lambda_handler = rest_handler(app, scope="admin")
