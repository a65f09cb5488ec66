"""REQUEST authorizer on X-API-Key: one GetItem by the key's SHA-256 hash.

API Gateway caches the answer per key for every route, so the policy allows the whole API
and passes project, app and scopes in its context; handlers check them. Raising exactly
``Exception("Unauthorized")`` is how an authorizer makes API Gateway answer 401.
No X-Ray SDK here: this runs before every request.
"""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import wiring
from billing.domain.clock import utc_now
from billing.errors import UnauthorizedError
from billing.observability import logger
from billing.services.authorization import authorize_api_key

API_KEY_HEADER = "x-api-key"


# The request's id, as the route's own logs carry it; clear_state drops the previous
# invocation's project and app, so a refused request is never logged under them.
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
@event_source(data_class=APIGatewayAuthorizerRequestEvent)
def lambda_handler(
    event: APIGatewayAuthorizerRequestEvent, context: LambdaContext
) -> dict[str, Any]:
    try:
        grant = authorize_api_key(
            event.headers.get(API_KEY_HEADER), wiring.api_key_store(), utc_now()
        )
    except UnauthorizedError as exc:
        logger.info("request refused", extra={"reason": str(exc)})
        raise Exception("Unauthorized") from None  # noqa: TRY002 - API Gateway's contract
    arn = event.parsed_arn
    policy = APIGatewayAuthorizerResponse(
        principal_id=grant.app_id,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context={
            "project_id": grant.project_id,
            "app_id": grant.app_id,
            "scopes": ",".join(sorted(grant.scopes)),
        },
    )
    policy.allow_all_routes()
    logger.append_keys(project_id=grant.project_id, app_id=grant.app_id)
    return policy.asdict()
