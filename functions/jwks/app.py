"""GET /.well-known/jwks.json: the public keys of entitlement tokens (no API key needed).

Every configured key is listed, the signing one first, so tokens of the previous key verify
until they expire during a rotation. Clients cache it and fetch again on an unknown kid."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from billing import wiring
from billing.api.errors import json_response
from billing.api.resolver import build_rest_resolver, rest_handler
from billing.api.responses import STORAGE, JwksDocument, documented
from billing.services.tokens import public_keys

app = build_rest_resolver()
CACHE_SECONDS = 300


@app.get(
    "/.well-known/jwks.json",
    operation_id="getJwks",
    summary="The public keys of entitlement tokens (JWKS)",
    tags=["entitlements"],
    responses=documented({200: ("the keys (cacheable for 5 minutes)", JwksDocument)}, STORAGE),
)
def get_jwks() -> Response[str]:
    keys: dict[str, Any] = public_keys(
        wiring.token_signer(), signing_keys=wiring.bound_settings().token_signing_keys
    )
    return json_response(200, keys, {"Cache-Control": f"public, max-age={CACHE_SECONDS}"})


lambda_handler = rest_handler(app)
