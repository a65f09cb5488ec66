"""The API's error mapping: Retry-After when a dependency is unavailable for a moment."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from billing import errors
from billing.adapters.stripe_gateway import stripe_errors
from billing.api.errors import RETRY_AFTER_SECONDS, error_headers, proxy_error
from billing.api.resolver import build_rest_resolver
from tests.support.lambda_runtime import FakeLambdaContext, load_event


def mapped(exc: Exception) -> errors.BillingError:
    """What the gateway turns a Stripe error into."""
    with pytest.raises(errors.BillingError) as caught, stripe_errors("create checkout session"):
        raise exc
    return caught.value


RATE_LIMITED = stripe.RateLimitError("Request rate limit exceeded.", http_status=429)
NO_ANSWER = stripe.APIConnectionError("timed out")  # type: ignore[no-untyped-call]
STRIPE_FAILED = stripe.APIError("boom", http_status=500)


@pytest.mark.parametrize(
    "error",
    [mapped(RATE_LIMITED), mapped(NO_ANSWER), errors.DependencyUnavailableError("throttled")],
)
def test_a_503_tells_the_caller_when_to_retry(error: errors.BillingError) -> None:
    assert error_headers(error) == {"Retry-After": str(RETRY_AFTER_SECONDS)}
    response = proxy_error(error)
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"
    assert response["headers"]["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "error",
    [
        mapped(STRIPE_FAILED),  # 502: the SDK already retried
        errors.PaymentProviderRejectedError("No such price"),
        errors.NotFoundError("nope"),
    ],
)
def test_other_errors_carry_no_retry_after(error: errors.BillingError) -> None:
    assert error_headers(error) == {}
    assert "Retry-After" not in proxy_error(error)["headers"]


def resolve(exc: errors.BillingError) -> dict[str, Any]:
    """A REST route raising ``exc``, through the resolver every API function uses."""
    app = build_rest_resolver()

    def fail() -> dict[str, Any]:
        raise exc

    app.get("/fail")(fail)
    event = load_event("health.json")
    event.update(path="/fail", resource="/fail", httpMethod="GET")
    answer: dict[str, Any] = app.resolve(event, FakeLambdaContext())  # type: ignore[arg-type]
    return answer


def headers_of(response: dict[str, Any]) -> dict[str, Any]:
    single = response.get("headers") or {}
    multi = {name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()}
    return {**single, **multi}


def test_the_resolver_sends_retry_after_on_a_stripe_503_only() -> None:
    limited = resolve(mapped(RATE_LIMITED))
    assert limited["statusCode"] == 503
    assert headers_of(limited)["Retry-After"] == "1"

    failed = resolve(mapped(STRIPE_FAILED))
    assert failed["statusCode"] == 502
    assert "Retry-After" not in headers_of(failed)
