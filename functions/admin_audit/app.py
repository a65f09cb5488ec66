"""GET /api/v1/admin/audit: the support changes of a user, newest first, paginated."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from billing import wiring
from billing.api.caller import caller_of
from billing.api.resolver import build_rest_resolver, rest_handler
from billing.domain.ids import validate_user_id
from billing.services.grants import audit_trail

app = build_rest_resolver()


@app.get("/api/v1/admin/audit")
def get_audit(
    user_id: Annotated[str, Query(min_length=1, max_length=128)],
    project_id: Annotated[str, Query(min_length=1, max_length=19)],
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> dict[str, object]:
    project = caller_of(app.current_event).project_id
    entries, next_cursor = audit_trail(
        wiring.grant_store(), project, validate_user_id(user_id), limit=limit, cursor=cursor
    )
    return {"items": entries, "next_cursor": next_cursor}


lambda_handler = rest_handler(app, scope="admin")
