"""POST /api/v1/portal/session: open the Stripe customer portal for a user with a customer."""

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body

from billing import wiring
from billing.api.caller import caller_of
from billing.api.resolver import build_rest_resolver, rest_handler, seconds_left
from billing.api.responses import (
    AUTHORIZED,
    CHECKED,
    STORAGE,
    STRIPE,
    PortalSessionCreated,
    documented,
)
from billing.api.schemas import PortalSessionBody
from billing.domain.clock import utc_now
from billing.domain.ids import validate_user_id
from billing.services.checkout import open_portal

app = build_rest_resolver()


@app.post(
    "/api/v1/portal/session",
    operation_id="createPortalSession",
    summary="Open the Stripe customer portal for a user",
    description=(
        "Opens on the customer holding the user's live subscription (else the newest), or on "
        "the customer of `currency` when given. 404 when the user has no Stripe customer "
        "(in that currency) yet: complete a checkout first."
    ),
    tags=["checkout"],
    responses=documented(
        {200: ("the portal session to send the user to", PortalSessionCreated)},
        AUTHORIZED,
        HTTPStatus.NOT_FOUND,
        CHECKED,
        STRIPE,
        STORAGE,
    ),
)
def create_portal_session(body: Annotated[PortalSessionBody, Body()]) -> PortalSessionCreated:
    caller = caller_of(app.current_event)
    url = open_portal(
        wiring.project_store(),
        wiring.customer_store(),
        wiring.user_facts(),
        wiring.payment_gateway().within(seconds_left(app)),
        project_id=caller.project_id,
        user_id=validate_user_id(body.user_id),
        return_url=body.return_url,
        currency=body.currency.lower() if body.currency else None,
        now=utc_now(),
    )
    return PortalSessionCreated(portal_url=url)


lambda_handler = rest_handler(app, scope="portal")
