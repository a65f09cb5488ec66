"""GET /ready: 200 when DynamoDB answers, 503 with the reason when it does not."""

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response

from billing import wiring
from billing.api.errors import json_response
from billing.api.resolver import build_rest_resolver, rest_handler
from billing.api.responses import Readiness, documented
from billing.errors import DependencyUnavailableError

app = build_rest_resolver()


@app.get(
    "/ready",
    operation_id="getReady",
    summary="Readiness: 200 when DynamoDB answers, 503 with the reason when it does not",
    tags=["probes"],
    responses=documented(
        {200: ("DynamoDB answers", Readiness), 503: ("DynamoDB does not answer", Readiness)},
        HTTPStatus.INTERNAL_SERVER_ERROR,
    ),
)
def ready() -> Response[str]:
    try:
        wiring.dynamo_health_probe().check()
    except DependencyUnavailableError as exc:
        return json_response(503, {"status": "unavailable", "reason": str(exc)})
    return json_response(200, {"status": "ready"})


lambda_handler = rest_handler(app)
