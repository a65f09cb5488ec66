"""POST /api/v1/checkout/session: open Stripe Checkout for a registered price."""

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
    CheckoutSessionCreated,
    documented,
)
from billing.api.schemas import CheckoutSessionBody
from billing.domain.checkout import CheckoutRequest
from billing.domain.clock import utc_now
from billing.domain.ids import validate_user_id
from billing.services.checkout import start_checkout

app = build_rest_resolver()


@app.post(
    "/api/v1/checkout/session",
    operation_id="createCheckoutSession",
    summary="Open Stripe Checkout for a registered price",
    description="404 when the price is not registered for the key's project.",
    tags=["checkout"],
    responses=documented(
        {200: ("the Checkout Session to send the user to", CheckoutSessionCreated)},
        AUTHORIZED,
        HTTPStatus.NOT_FOUND,
        CHECKED,
        STRIPE,
        STORAGE,
    ),
)
def create_checkout_session(
    body: Annotated[CheckoutSessionBody, Body()],
) -> CheckoutSessionCreated:
    caller = caller_of(app.current_event)
    request = CheckoutRequest(
        project_id=caller.project_id,
        user_id=validate_user_id(body.user_id),
        price_id=body.price_id,
        mode=body.mode,
        success_url=body.success_url,
        cancel_url=body.cancel_url,
        quantity=body.quantity,
        trial_days=body.trial_days,
        allow_promotion_codes=body.allow_promotion_codes,
    )
    session = start_checkout(
        wiring.project_store(),
        wiring.price_store(),
        wiring.customer_store(),
        wiring.payment_gateway().within(seconds_left(app)),
        request=request,
        now=utc_now(),
    )
    return CheckoutSessionCreated(checkout_url=session.url, session_id=session.session_id)


lambda_handler = rest_handler(app, scope="checkout")
