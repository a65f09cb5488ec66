"""What the client raises: the service's error answers by kind, and no answer at all.

Messages name the method, the path (never the query or the headers, so never the API key),
the status and the service's own ``message``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from billing_client._http import HttpResponse


@dataclass(frozen=True)
class FieldProblem:
    """One field a 422 (or 400) names, and why it was refused."""

    field: str
    reason: str


class BillingClientError(Exception):
    """Base of everything this client raises on purpose."""


class BillingApiError(BillingClientError):
    """The service answered with an error status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        method: str = "",
        path: str = "",
        errors: tuple[FieldProblem, ...] = (),
        body: bytes = b"",
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        self.errors = errors
        self.body = body
        self.retry_after = retry_after
        self.request_id = request_id
        super().__init__(str(self))

    def __str__(self) -> str:
        route = f"{self.method} {self.path}: " if self.method else ""
        problems = "; ".join(f"{p.field}: {p.reason}" for p in self.errors)
        return f"{route}{self.status} {self.message}" + (f" ({problems})" if problems else "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class InvalidRequestError(BillingApiError):
    """400 or 422: the body or query was refused; ``errors`` names the fields."""


class UnauthorizedError(BillingApiError):
    """401: no key, an unknown key, or the key's app is not active."""


class ForbiddenError(BillingApiError):
    """403: the key belongs to another project, or lacks the route's scope."""


class NotFoundError(BillingApiError):
    """404: e.g. a price not registered for the project, no grant to revoke, no customer."""


class ConflictError(BillingApiError):
    """409: the request clashes with what exists."""


class UsageLimitExceededError(ConflictError):
    """409 from ``record_usage(enforce=True)``: over the limit, nothing was counted.
    ``remaining`` is what can still be used this period (None where the body did not say)."""

    @classmethod
    def of(cls, error: ConflictError) -> UsageLimitExceededError:
        return cls(
            error.status,
            error.message,
            method=error.method,
            path=error.path,
            errors=error.errors,
            body=error.body,
            retry_after=error.retry_after,
            request_id=error.request_id,
        )

    @property
    def _answer(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _figure(self, key: str) -> int | None:
        value = self._answer.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def limit(self) -> int | None:
        return self._figure("limit")

    @property
    def used(self) -> int | None:
        return self._figure("used")

    @property
    def remaining(self) -> int | None:
        return self._figure("remaining")

    @property
    def requested(self) -> int | None:
        return self._figure("requested")


class RateLimitedError(BillingApiError):
    """429: too many requests; ``retry_after`` says how long to wait when the service said."""


class ServerError(BillingApiError):
    """5xx: the service (or a dependency behind it, such as Stripe) failed."""


class ServiceUnavailableError(ServerError):
    """503: a dependency is unavailable for now; retry later."""


class UnexpectedResponseError(BillingApiError):
    """A success status whose body is not the shape the API documents."""


class BillingConnectionError(BillingClientError):
    """No answer: a timeout or a connection failure, after the retries the call allows.

    For a call that is not retried (checkout, portal, revoke, webhook) the service may or may
    not have acted on the request.
    """


_BY_STATUS: dict[int, type[BillingApiError]] = {
    400: InvalidRequestError,
    422: InvalidRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
}


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the delta form; an HTTP date or garbage counts as absent)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _field_problems(raw: object) -> tuple[FieldProblem, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        FieldProblem(str(item.get("field", "")), str(item.get("reason", "")))
        for item in raw
        if isinstance(item, dict)
    )


def _message(status: int, data: dict[str, Any]) -> str:
    for key in ("message", "detail"):
        if isinstance(data.get(key), str) and data[key]:
            return str(data[key])
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def error_from_response(method: str, path: str, response: HttpResponse) -> BillingApiError:
    """The error of an answer with an error status, by kind."""
    status = response.status
    kind = _BY_STATUS.get(status) or (
        ServerError if status >= HTTPStatus.INTERNAL_SERVER_ERROR else BillingApiError
    )
    data = response.json_object() or {}
    return kind(
        status,
        _message(status, data),
        method=method,
        path=path,
        errors=_field_problems(data.get("errors")),
        body=response.body,
        retry_after=parse_retry_after(response.header("Retry-After")),
        request_id=response.header("x-amzn-RequestId"),
    )
