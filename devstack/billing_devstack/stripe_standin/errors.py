"""Stripe's error answers, raised anywhere in the stand-in and rendered once by the core.

Clients branch on ``type``, ``code`` and ``param`` (the SDK maps them to its exception classes),
so they follow Stripe's documented values and wording; the messages are Stripe's own where the
stand-in imitates a check Stripe makes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INVALID_REQUEST = "invalid_request_error"
IDEMPOTENCY = "idempotency_error"


class StripeError(Exception):
    """An API error: HTTP status plus Stripe's ``error`` object, and any headers Stripe adds
    to that answer."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type_: str = INVALID_REQUEST,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type_
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    def body(self, request_log_url: str) -> dict[str, Any]:
        """``{"error": {...}}`` with only the keys Stripe sends for this kind of error."""
        error: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        error["request_log_url"] = request_log_url
        return {"error": error}


def missing(param: str) -> StripeError:
    """A required parameter is absent (or empty)."""
    return StripeError(f"Missing required param: {param}.", code="parameter_missing", param=param)


def unknown(param: str) -> StripeError:
    """A parameter this endpoint does not take; Stripe refuses rather than ignoring it."""
    return StripeError(
        f"Received unknown parameter: {param}", code="parameter_unknown", param=param
    )


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    """A value Stripe would refuse (wrong type, out of range, combination not allowed)."""
    return StripeError(message, code=code, param=param)


def no_such(kind: str, object_id: str, param: str | None = None) -> StripeError:
    """An id that names nothing: 404 when it is the URL's object, 400 when it is a parameter."""
    return StripeError(
        f"No such {kind}: '{object_id}'",
        status=404 if param is None else 400,
        code="resource_missing",
        param=param,
    )


def inactive_price(param: str) -> StripeError:
    """An archived price where only an active one will do."""
    return StripeError(
        "The price specified is inactive. This field only accepts active prices.", param=param
    )


def unrecognized_url(method: str, path: str) -> StripeError:
    """Stripe's answer to a path or method it does not serve."""
    return StripeError(
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
        status=404,
    )


def idempotency_mismatch(key: str) -> StripeError:
    """A key reused with other parameters: Stripe refuses instead of guessing."""
    return StripeError(
        "Keys for idempotent requests can only be used with the same parameters they were "
        f"first used with. Try using a key other than '{key}' if you meant to execute a "
        "different request.",
        type_=IDEMPOTENCY,
    )


def authentication(message: str) -> StripeError:
    """401, as Stripe answers a missing or malformed secret key."""
    return StripeError(message, status=401)


def rate_limited() -> StripeError:
    """429, as Stripe answers a request over the account's rate limit.

    Stripe names the limiter in ``Stripe-Rate-Limited-Reason`` and sends no ``Retry-After``;
    nor ``Stripe-Should-Retry: true``, so stripe-python raises ``RateLimitError`` without
    retrying (its maintainers leave backing off to the integration): the stand-in does the same.
    """
    return StripeError(
        "Request rate limit exceeded. You can learn more about rate limits here "
        "https://stripe.com/docs/rate-limits.",
        status=429,
        code="rate_limit",
        headers={"Stripe-Rate-Limited-Reason": "global-rate"},
    )
