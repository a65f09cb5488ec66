"""The service's domain errors. Services raise these; the API layer maps them to HTTP answers."""

from __future__ import annotations


class BillingError(Exception):
    """Base of every error the service raises on purpose."""


class ConfigurationError(BillingError):
    """A setting is missing or invalid; the process cannot serve."""


class ValidationError(BillingError):
    """Input is malformed; ``field`` names what is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class UnsupportedMediaTypeError(ValidationError):
    """A body (or a Content-Type) the API does not take: not JSON in UTF-8 (415)."""


class UnauthorizedError(BillingError):
    """No usable API key: missing, unknown or inactive."""


class ForbiddenError(BillingError):
    """The caller is known but may not do this (another project, a missing scope)."""


class NotFoundError(BillingError):
    """The thing asked for does not exist."""


class ConflictError(BillingError):
    """The change clashes with what exists (a taken id, a key already registered)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class PayloadTooLargeError(BillingError):
    """A request body is over the accepted size."""


class InvalidSignatureError(BillingError):
    """A webhook's Stripe-Signature is missing, wrong or outside the tolerance."""


class DependencyUnavailableError(BillingError):
    """A dependency (DynamoDB, Stripe) did not answer in time or refused; retry later."""


class PaymentProviderRejectedError(BillingError):
    """Stripe refused the request as invalid; its message says why (safe to show)."""

    def __init__(self, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


class PaymentProviderUnavailableError(DependencyUnavailableError):
    """Stripe failed (5xx: ``status`` 502) or did not answer in time (503); retry later."""

    def __init__(self, message: str, status: int, request_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id
