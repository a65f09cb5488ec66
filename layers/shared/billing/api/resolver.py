"""Resolver factories: every API function gets the same error handling from here."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import (
    APIGatewayRestResolver,
    LambdaFunctionUrlResolver,
    Response,
)
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from billing.api.body import CONTENT_TYPE, JSON_MEDIA_TYPE, parse_json
from billing.api.caller import authorize_request
from billing.api.errors import error_body, error_headers, json_response, proxy_error
from billing.api.times import IsoTime
from billing.errors import BillingError, DependencyUnavailableError, UnsupportedMediaTypeError
from billing.observability import logger


def _install_error_handlers[ResolverT: ApiGatewayResolver](app: ResolverT) -> ResolverT:
    def _invalid_request(exc: RequestValidationError) -> Response[str]:
        problems = [
            {
                "field": ".".join(str(p) for p in err["loc"] if p not in ("body", "query", "path")),
                "reason": err["msg"],
            }
            for err in exc.errors()
        ]
        # docs/api.md: "invalid <field>: <reason>" (the first; errors lists them all)
        first, more = problems[0], len(problems) - 1
        message = f"invalid {first['field']}: {first['reason']}"
        if more:
            message += f" (and {more} more in errors)"
        return json_response(422, {"message": message, "errors": problems})

    def _undecodable_body(exc: UnicodeDecodeError) -> Response[str]:
        # Powertools decodes the body as UTF-8 before validating it; anything else is no JSON.
        return json_response(
            422,
            {
                "message": "invalid body: must be UTF-8 encoded JSON",
                "errors": [{"field": "body", "reason": "must be UTF-8 encoded JSON"}],
            },
        )

    def _unsupported_content_type(exc: RequestUnsupportedContentType) -> Response[str]:
        # rest_handler refuses these first (request_body); a route without it still gets 415.
        return _domain_error(UnsupportedMediaTypeError(CONTENT_TYPE, f"must be {JSON_MEDIA_TYPE}"))

    def _domain_error(exc: BillingError) -> Response[str]:
        status, body = error_body(exc)
        if isinstance(exc, DependencyUnavailableError):
            logger.warning("dependency unavailable", extra={"error": str(exc)})
        return json_response(status, body, error_headers(exc) or None)

    def _no_route(exc: NotFoundError) -> Response[str]:
        # API Gateway routed the request here, so the path is this function's route; only a
        # character the resolver's pattern does not take (in a path parameter) lands here.
        return json_response(
            HTTPStatus.BAD_REQUEST,
            {
                "message": "invalid path: holds characters no route takes",
                "errors": [{"field": "path", "reason": "holds characters no route takes"}],
            },
        )

    def _unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return json_response(500, {"message": "Internal server error"})

    # Registered by call, not decorator: Powertools' decorator is untyped.
    app.exception_handler(RequestValidationError)(_invalid_request)
    app.exception_handler(UnicodeDecodeError)(_undecodable_body)
    app.exception_handler(RequestUnsupportedContentType)(_unsupported_content_type)
    app.exception_handler(BillingError)(_domain_error)
    app.exception_handler(NotFoundError)(_no_route)
    app.exception_handler(Exception)(_unexpected)

    return app


def build_rest_resolver() -> APIGatewayRestResolver:
    """The resolver for API Gateway REST proxy events, validating input with pydantic; bodies
    are parsed by the API's strict JSON rules (billing.api.body)."""
    return _install_error_handlers(
        APIGatewayRestResolver(enable_validation=True, json_body_deserializer=parse_json)
    )


def build_function_url_resolver() -> LambdaFunctionUrlResolver:
    """The resolver for Lambda function URL events (payload v2)."""
    return _install_error_handlers(
        LambdaFunctionUrlResolver(enable_validation=True, json_body_deserializer=parse_json)
    )


LambdaEvent = dict[str, Any]
LambdaHandler = Callable[[LambdaEvent, LambdaContext], dict[str, Any]]


def rest_handler(app: APIGatewayRestResolver, scope: str | None = None) -> LambdaHandler:
    """The Lambda entry point of a REST route: structured logs with the request id, then route.

    With a ``scope``, the caller's tenancy is checked first, before the body is validated: a
    key of another project gets 403 whatever it sends, and learns nothing from 422s.
    """

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    def lambda_handler(event: LambdaEvent, context: LambdaContext) -> dict[str, Any]:
        if scope is not None:
            try:
                authorize_request(APIGatewayProxyEvent(event), scope)
            except BillingError as exc:
                return proxy_error(exc)
        return app.resolve(event, context)

    return lambda_handler


def metrics_resolver(
    report: Callable[..., dict[str, Any]],
    path: str,
    *,
    operation_id: str,
    summary: str,
    answer: type[BaseModel],
) -> APIGatewayRestResolver:
    """A metrics route of the key's project: ``?since=&until=`` (ISO 8601) into ``report``,
    documented as answering ``answer``."""
    # Imported here: every handler imports this module, and the probes need no DynamoDB.
    from billing import wiring
    from billing.api.caller import caller_of
    from billing.api.responses import AUTHORIZED, CHECKED, STORAGE, documented
    from billing.domain.clock import utc_now

    app = build_rest_resolver()

    def get_metrics(
        project_id: str,
        since: Annotated[IsoTime | None, Query()] = None,
        until: Annotated[IsoTime | None, Query()] = None,
    ) -> dict[str, Any]:
        return report(
            wiring.metrics_store(),
            wiring.price_store(),
            caller_of(app.current_event).project_id,
            since=since,
            until=until,
            now=utc_now(),
        )

    app.get(
        path,
        operation_id=operation_id,
        summary=summary,
        description=(
            "Over [since, until): by default the last 30 days, at most 366 days. Times in "
            "ISO 8601 with a timezone. Amounts are integers in the currency's minor unit."
        ),
        tags=["metrics"],
        responses=documented(
            {200: ("the figures", answer)},
            AUTHORIZED,
            CHECKED,
            STORAGE,
        ),
    )(get_metrics)
    return app


# Kept back from the function's timeout to write the answer (and its log line).
ANSWER_MARGIN_SECONDS = 1.0


def seconds_left(app: ApiGatewayResolver) -> float:
    """How long the current request may still spend on dependencies before the function times
    out (API Gateway's 29 s is longer than every API function's timeout)."""
    remaining = app.lambda_context.get_remaining_time_in_millis() / 1000
    return max(0.0, remaining - ANSWER_MARGIN_SECONDS)
