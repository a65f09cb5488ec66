"""GET /api/v1/entitlements/check: one feature, for hot paths (with its limit and usage when it
is limited). One BatchGetItem, no Stripe."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response

from billing import wiring
from billing.api.caller import caller_of
from billing.api.etag import with_etag
from billing.api.resolver import build_rest_resolver, rest_handler
from billing.api.responses import AUTHORIZED, CHECKED, STORAGE, EntitlementCheck, documented
from billing.api.schemas import feature_code_query, project_id_query, user_id_query
from billing.domain.clock import utc_now
from billing.domain.ids import validate_feature_code, validate_user_id
from billing.domain.usage import checked_feature
from billing.services.entitlements import read_entitlements_with_usage

app = build_rest_resolver()


@app.get(
    "/api/v1/entitlements/check",
    operation_id="checkEntitlement",
    summary="Is one feature active for the user, until when, and how much of it is left",
    description="Answers carry an ETag, as GET /api/v1/entitlements does.",
    tags=["entitlements"],
    responses=documented(
        {
            200: ("the feature's state (ETag header)", EntitlementCheck),
            304: ("unchanged since the ETag sent in If-None-Match", None),
        },
        AUTHORIZED,
        CHECKED,
        STORAGE,
    ),
)
def check_entitlement(
    user_id: Annotated[str, user_id_query()],
    project_id: Annotated[str, project_id_query()],
    feature_code: Annotated[str, feature_code_query()],
) -> Response[str]:
    project = caller_of(app.current_event).project_id
    views, balances = read_entitlements_with_usage(
        wiring.entitlement_store(), project, validate_user_id(user_id), utc_now()
    )
    answer = checked_feature(views, balances, validate_feature_code(feature_code))
    return with_etag(app.current_event, answer)


lambda_handler = rest_handler(app, scope="entitlements")
