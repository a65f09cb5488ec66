"""The one mapping from domain errors to HTTP status and fixed JSON bodies.

Exception text reaches the client only for errors whose messages are written for clients
(validation, not found...); everything else answers a fixed message.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from billing import errors
from billing.api.body import CONTENT_ENCODING, IDENTITY

# Every 503 (DynamoDB throttled or down, Stripe rate limiting or not answering in time): a
# short wait before the same request. Retrying it is safe: Stripe calls reuse their
# idempotency key, grants are idempotent, reads change nothing.
RETRY_AFTER_SECONDS = 1

_STATUS: list[tuple[type[errors.BillingError], HTTPStatus]] = [
    (errors.UnsupportedMediaTypeError, HTTPStatus.UNSUPPORTED_MEDIA_TYPE),
    (errors.ValidationError, HTTPStatus.UNPROCESSABLE_ENTITY),
    (errors.UnauthorizedError, HTTPStatus.UNAUTHORIZED),
    (errors.ForbiddenError, HTTPStatus.FORBIDDEN),
    (errors.NotFoundError, HTTPStatus.NOT_FOUND),
    (errors.ConflictError, HTTPStatus.CONFLICT),
    (errors.PayloadTooLargeError, HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    (errors.InvalidSignatureError, HTTPStatus.BAD_REQUEST),
    (errors.PaymentProviderRejectedError, HTTPStatus.BAD_REQUEST),
    (errors.DependencyUnavailableError, HTTPStatus.SERVICE_UNAVAILABLE),
]


def json_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[str]:
    """A JSON response with the given status."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":")),
        headers=headers,
    )


def _with_request_id(body: dict[str, Any], request_id: str | None) -> dict[str, Any]:
    return {**body, "stripe_request_id": request_id} if request_id else body


def _client_body(exc: errors.BillingError) -> dict[str, Any]:
    """The body clients see; only messages written for clients pass through."""
    match exc:
        case errors.ValidationError():
            body: dict[str, Any] = {
                "message": f"invalid {exc.field}: {exc.reason}",
                "errors": [{"field": exc.field, "reason": exc.reason}],
            }
        case errors.UnauthorizedError():
            body = {"message": "Unauthorized"}
        case errors.InvalidSignatureError():
            body = {"message": f"invalid signature: {exc}"}
        case errors.PaymentProviderUnavailableError():
            body = _with_request_id(
                {"message": "Stripe is unavailable, retry later"}, exc.request_id
            )
        case errors.PaymentProviderRejectedError():
            body = _with_request_id({"message": f"Stripe: {exc}"}, exc.request_id)
        case errors.DependencyUnavailableError():
            body = {"message": "service temporarily unavailable, retry later"}
        case _:
            body = {"message": str(exc)}
    return body


def error_body(exc: errors.BillingError) -> tuple[int, dict[str, Any]]:
    """Status and body for a domain error; anything unmapped is a plain 500."""
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), None)
    if status is None:
        return HTTPStatus.INTERNAL_SERVER_ERROR, {"message": "Internal server error"}
    if isinstance(exc, errors.PaymentProviderUnavailableError):
        status = HTTPStatus(exc.status)
    return status, _client_body(exc)


def error_headers(exc: errors.BillingError) -> dict[str, str]:
    """Headers beside the body: ``Retry-After`` on a 503 (a dependency unavailable for a
    moment; Stripe sends none on its 429 and the SDK leaves backing off to us). A 502 (Stripe
    failed, after the SDK's own retries) gets none. A 415 for a Content-Encoding says which
    codings are taken (RFC 9110 §15.5.16: ``Accept-Encoding: identity``)."""
    status, _ = error_body(exc)
    if status == HTTPStatus.SERVICE_UNAVAILABLE:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if isinstance(exc, errors.UnsupportedMediaTypeError) and exc.field == CONTENT_ENCODING:
        return {"Accept-Encoding": IDENTITY}
    return {}


def proxy_error(exc: errors.BillingError) -> dict[str, Any]:
    """A domain error as a finished API Gateway proxy response (outside the resolver)."""
    status, body = error_body(exc)
    return {
        "statusCode": int(status),
        "headers": {"Content-Type": content_types.APPLICATION_JSON, **error_headers(exc)},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }
