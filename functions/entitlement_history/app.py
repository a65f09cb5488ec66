"""GET /api/v1/entitlements/history: what a user had at a moment (?at=), or what changed
between two moments (?since=&until=), from the change log (one Query)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query

from billing import wiring
from billing.api.caller import caller_of
from billing.api.resolver import build_rest_resolver, rest_handler
from billing.api.responses import AUTHORIZED, CHECKED, STORAGE, EntitlementHistory, documented
from billing.api.schemas import project_id_query, user_id_query
from billing.api.times import IsoTime
from billing.domain.clock import utc_now
from billing.domain.ids import validate_user_id
from billing.errors import ValidationError
from billing.services.history import changes_between, state_at

app = build_rest_resolver()


@app.get(
    "/api/v1/entitlements/history",
    operation_id="entitlementHistory",
    summary="What a user had at a moment, or what changed between two moments",
    description=(
        "With `at` (default: now): the entitlements in force then, each active as of `at`, "
        "and the change that set them. With `since` (and `until`, default now): every change "
        "dated from `since` to `until` (both included, to the second), oldest first, with its "
        "cause and the full state it left, `limit` at a time. Times in ISO 8601 with a "
        "timezone; changes are dated to the second."
    ),
    tags=["entitlements"],
    responses=documented(
        {200: ("the state at the moment, or the changes", EntitlementHistory)},
        AUTHORIZED,
        CHECKED,
        STORAGE,
    ),
)
def get_history(  # keyword-only: Powertools passes the query by name
    *,
    user_id: Annotated[str, user_id_query()],
    project_id: Annotated[str, project_id_query()],
    at: Annotated[IsoTime | None, Query()] = None,
    since: Annotated[IsoTime | None, Query()] = None,
    until: Annotated[IsoTime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    cursor: Annotated[
        str | None,
        Query(max_length=2048, description="next_cursor of the previous page (with since)"),
    ] = None,
) -> dict[str, Any]:
    project = caller_of(app.current_event).project_id
    user = validate_user_id(user_id)
    now = utc_now()
    if since is None:
        if until is not None or cursor is not None:
            raise ValidationError("since", "is required with until or cursor")
        return state_at(wiring.change_log(), project, user, at or now)
    if at is not None:
        raise ValidationError("at", "give either at, or since (and until)")
    return changes_between(
        wiring.change_log(),
        project,
        user,
        since=since,
        until=until or now,
        limit=limit,
        cursor=cursor,
        seal=wiring.audit_cursor_seal(),
    )


lambda_handler = rest_handler(app, scope="entitlements")
