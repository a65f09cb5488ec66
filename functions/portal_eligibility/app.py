"""GET /api/v1/portal/eligibility: can this user open the portal? One read, no Stripe."""

from typing import Annotated

from billing import wiring
from billing.api.caller import caller_of
from billing.api.resolver import build_rest_resolver, rest_handler
from billing.api.responses import AUTHORIZED, CHECKED, STORAGE, PortalEligibility, documented
from billing.api.schemas import project_id_query, user_id_query
from billing.domain.ids import validate_user_id
from billing.services.checkout import portal_eligibility

app = build_rest_resolver()


@app.get(
    "/api/v1/portal/eligibility",
    operation_id="getPortalEligibility",
    summary="Can this user open the portal? One read, no Stripe",
    tags=["checkout"],
    responses=documented(
        {200: ("the answer", PortalEligibility)},
        AUTHORIZED,
        CHECKED,
        STORAGE,
    ),
)
def get_portal_eligibility(
    user_id: Annotated[str, user_id_query()],
    project_id: Annotated[str, project_id_query()],
) -> PortalEligibility:
    caller = caller_of(app.current_event)
    answer = portal_eligibility(
        wiring.customer_store(), caller.project_id, validate_user_id(user_id)
    )
    return PortalEligibility(eligible=answer.eligible, reason=answer.reason)


lambda_handler = rest_handler(app, scope="portal")
