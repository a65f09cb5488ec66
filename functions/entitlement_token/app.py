"""POST /api/v1/entitlements/token: a short-lived signed JWT of a user's active features, for
one audience, which a project backend verifies offline (GET /.well-known/jwks.json)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body

from billing import wiring
from billing.api.caller import caller_of
from billing.api.resolver import build_rest_resolver, rest_handler
from billing.api.responses import AUTHORIZED, CHECKED, STORAGE, TokenIssued, documented
from billing.api.schemas import TokenBody
from billing.domain.clock import utc_now
from billing.domain.ids import validate_user_id
from billing.services.tokens import issue_token

app = build_rest_resolver()


@app.post(
    "/api/v1/entitlements/token",
    operation_id="issueEntitlementToken",
    summary="A signed token of the user's active features, to verify offline",
    description=(
        "An RS256 JWT: iss, sub (the user), aud, project, iat, exp (default 5 minutes, at "
        "most 1 hour) and features (each active feature and when it ends). Signed by a key "
        "that never leaves AWS KMS; its public keys are at /.well-known/jwks.json."
    ),
    tags=["entitlements"],
    responses=documented(
        {200: ("the token", TokenIssued)},
        AUTHORIZED,
        CHECKED,
        STORAGE,
    ),
)
def post_token(body: Annotated[TokenBody, Body()]) -> dict[str, Any]:
    settings = wiring.bound_settings()
    return issue_token(
        wiring.entitlement_store(),
        wiring.token_signer(),
        signing_keys=settings.token_signing_keys,
        issuer=settings.token_issuer,
        project_id=caller_of(app.current_event).project_id,
        user_id=validate_user_id(body.user_id),
        audience=body.audience,
        ttl_seconds=body.ttl_seconds,
        now=utc_now(),
    )


lambda_handler = rest_handler(app, scope="entitlements")
