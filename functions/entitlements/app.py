"""GET /api/v1/entitlements: the hot read path. One BatchGetItem (the record and the user's
usage counters); no Stripe, no X-Ray SDK.

Answers carry an ETag; a client sending it back in If-None-Match gets 304.
"""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response

from billing import wiring
from billing.api.caller import caller_of
from billing.api.etag import with_etag
from billing.api.resolver import build_rest_resolver, rest_handler
from billing.api.responses import AUTHORIZED, CHECKED, STORAGE, EntitlementList, documented
from billing.api.schemas import project_id_query, user_id_query
from billing.domain.clock import utc_now
from billing.domain.ids import validate_user_id
from billing.services.entitlements import read_entitlements_with_usage

app = build_rest_resolver()


@app.get(
    "/api/v1/entitlements",
    operation_id="listEntitlements",
    summary="Every feature the user has or had, with its source and validity",
    description=(
        "The answer carries an ETag; send it back in If-None-Match to get 304 while nothing "
        "changed."
    ),
    tags=["entitlements"],
    responses=documented(
        {
            200: ("the user's entitlements (ETag header)", EntitlementList),
            304: ("unchanged since the ETag sent in If-None-Match", None),
        },
        AUTHORIZED,
        CHECKED,
        STORAGE,
    ),
)
def get_entitlements(
    user_id: Annotated[str, user_id_query()],
    project_id: Annotated[str, project_id_query()],
) -> Response[str]:
    project = caller_of(app.current_event).project_id
    views, balances = read_entitlements_with_usage(
        wiring.entitlement_store(), project, validate_user_id(user_id), utc_now()
    )
    body = {
        "entitlements": [view.to_api() for view in views],
        "usage": [balance.to_api() for balance in balances],
    }
    return with_etag(app.current_event, body)


lambda_handler = rest_handler(app, scope="entitlements")
