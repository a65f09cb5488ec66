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

_STATUS: list[tuple[type[errors.BillingError], HTTPStatus]] = [
    (errors.ValidationError, HTTPStatus.UNPROCESSABLE_ENTITY),
    (errors.UnauthorizedError, HTTPStatus.UNAUTHORIZED),
    (errors.ForbiddenError, HTTPStatus.FORBIDDEN),
    (errors.NotFoundError, HTTPStatus.NOT_FOUND),
    (errors.ConflictError, HTTPStatus.CONFLICT),
    (errors.PayloadTooLargeError, HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    (errors.InvalidSignatureError, HTTPStatus.BAD_REQUEST),
    (errors.DependencyUnavailableError, HTTPStatus.SERVICE_UNAVAILABLE),
    (errors.NotImplementedYetError, HTTPStatus.NOT_IMPLEMENTED),
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


def error_body(exc: errors.BillingError) -> tuple[int, dict[str, Any]]:
    """Status and body for a domain error."""
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), None)
    if status is None:
        return HTTPStatus.INTERNAL_SERVER_ERROR, {"message": "Internal server error"}
    if isinstance(exc, errors.ValidationError):
        return status, {
            "message": f"invalid {exc.field}: {exc.reason}",
            "errors": [{"field": exc.field, "reason": exc.reason}],
        }
    if isinstance(exc, errors.UnauthorizedError):
        return status, {"message": "Unauthorized"}
    if isinstance(exc, errors.InvalidSignatureError):
        return status, {"message": f"invalid signature: {exc}"}
    if isinstance(exc, errors.DependencyUnavailableError):
        return status, {"message": "service temporarily unavailable, retry later"}
    return status, {"message": str(exc)}
