"""POST /api/v1/usage: count usage of a limited feature once, within its limit or over it.

One read and one DynamoDB write (a transaction of the counter and the usage's record); no
Stripe call: metered features are reported to Stripe later, by MeterReporterFunction.
"""

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from billing import wiring
from billing.api.caller import caller_of
from billing.api.errors import json_response
from billing.api.resolver import build_rest_resolver, rest_handler
from billing.api.responses import (
    AUTHORIZED,
    CHECKED,
    STORAGE,
    UsageRecorded,
    UsageRefused,
    documented,
)
from billing.api.schemas import UsageBody
from billing.domain.clock import utc_now
from billing.domain.ids import validate_user_id
from billing.domain.usage import UsageRequest
from billing.services.usage import record_usage

app = build_rest_resolver()

_STATUS = {
    "counted": HTTPStatus.CREATED,
    "replayed": HTTPStatus.OK,
    "refused": HTTPStatus.CONFLICT,
}


@app.post(
    "/api/v1/usage",
    operation_id="recordUsage",
    summary="Count usage of a limited feature, once per idempotency key",
    description=(
        "201: counted (over the limit too, unless enforce is true: then 409 and nothing is "
        "counted). The same idempotency_key within 24 h counts nothing again and answers the "
        "first answer (200, replayed: true); with another user, feature, quantity or enforce "
        "it is 422. A feature the user does not have now, or that has no limit, is 422 naming "
        "feature_code. Needs the entitlements scope."
    ),
    tags=["usage"],
    responses=documented(
        {
            201: ("counted", UsageRecorded),
            200: ("the same idempotency_key again: the first answer", UsageRecorded),
            409: ("enforce: over the limit, nothing counted; what remains", UsageRefused),
        },
        AUTHORIZED,
        CHECKED,
        STORAGE,
    ),
)
def post_usage(body: Annotated[UsageBody, Body()]) -> Response[str]:
    caller = caller_of(app.current_event)
    request = UsageRequest(
        project_id=caller.project_id,
        user_id=validate_user_id(body.user_id),
        feature_code=body.feature_code,
        quantity=body.quantity,
        idempotency_key=body.idempotency_key,
        enforce=body.enforce,
    )
    result = record_usage(wiring.usage_store(), request, now=utc_now())
    return json_response(_STATUS[result.outcome], result.body)


lambda_handler = rest_handler(app, scope="entitlements")
