"""Every API log line carries API Gateway's request id as its correlation id."""

import io
import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from billing.errors import DependencyUnavailableError
from billing.observability import logger
from tests.support.lambda_runtime import invoke, load_event
from tests.unit.test_template import events, functions

# The webhook receiver logs under the Stripe event's id instead (see test_webhooks).
REST_ROUTES = sorted({fid for fid, _ in events("Api") if fid != "WebhookReceiverFunction"})


def function_dir(function_id: str) -> str:
    code_uri: str = functions()[function_id]["Properties"]["CodeUri"]
    return code_uri.strip("/").removeprefix("functions/")


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def with_request_id(event: dict[str, Any], request_id: str) -> dict[str, Any]:
    event["requestContext"]["requestId"] = request_id
    return event


@pytest.mark.parametrize("function_id", REST_ROUTES)
def test_every_routes_logs_carry_the_request_id(
    function_id: str,
    aws: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    service_logs: io.StringIO,
) -> None:
    """On moto's tables, so no route reaches for a real endpoint (sockets are off)."""
    resolve = APIGatewayRestResolver.resolve

    def logging_resolve(self: APIGatewayRestResolver, event: Any, context: Any) -> Any:
        logger.info("route runs")  # whatever a route logs, while it runs
        return resolve(self, event, context)

    monkeypatch.setattr(APIGatewayRestResolver, "resolve", logging_resolve)
    directory = function_dir(function_id)
    invoke(directory, with_request_id(load_event(f"{directory}.json"), f"req-{directory}"))
    (line,) = [line for line in log_lines(service_logs) if line["message"] == "route runs"]
    assert line["correlation_id"] == f"req-{directory}"


def test_a_dependency_failure_is_logged_under_the_request_id(
    monkeypatch: pytest.MonkeyPatch, service_logs: io.StringIO
) -> None:
    from billing.services import entitlements

    def unavailable(*args: object, **kwargs: object) -> None:
        raise DependencyUnavailableError("DynamoDB GetItem timed out")

    monkeypatch.setattr(entitlements, "read_entitlements", unavailable)
    response = invoke("entitlements", with_request_id(load_event("entitlements.json"), "req-503"))
    assert response["statusCode"] == 503
    (warning,) = [line for line in log_lines(service_logs) if line["level"] == "WARNING"]
    assert warning["message"] == "dependency unavailable"
    assert warning["correlation_id"] == "req-503"


def test_the_authorizer_logs_under_the_request_id_and_forgets_the_last_caller(
    aws: dict[str, str], service_logs: io.StringIO
) -> None:
    from tests.unit.handlers.test_authorizer import KEY, authorize, store_key

    store_key()
    authorize(KEY)  # a warm container: this one's project and app must not leak into the next
    event = with_request_id(load_event("api_key_authorizer.json"), "req-refused")
    event["headers"]["X-API-Key"] = "sk_wrong_key_value"
    with pytest.raises(Exception, match="Unauthorized"):
        invoke("api_key_authorizer", event)
    (refused,) = [line for line in log_lines(service_logs) if line["message"] == "request refused"]
    assert refused["correlation_id"] == "req-refused"
    assert "project_id" not in refused
    assert "app_id" not in refused
    assert "sk_wrong_key_value" not in service_logs.getvalue()
