"""GET /api/v1/portal/eligibility: can this user open the portal? One read, no Stripe."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from billing import wiring
from billing.api.caller import caller_of
from billing.api.resolver import build_rest_resolver, rest_handler
from billing.domain.ids import validate_user_id
from billing.services.checkout import portal_eligibility

app = build_rest_resolver()


@app.get("/api/v1/portal/eligibility")
def get_portal_eligibility(
    user_id: Annotated[str, Query(min_length=1, max_length=128)],
    project_id: Annotated[str, Query(min_length=1, max_length=19)],
) -> dict[str, object]:
    caller = caller_of(app.current_event)
    answer = portal_eligibility(
        wiring.customer_store(), caller.project_id, validate_user_id(user_id)
    )
    return {"eligible": answer.eligible, "reason": answer.reason}


lambda_handler = rest_handler(app, scope="portal")
