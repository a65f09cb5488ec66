"""The Stripe gateway's parameters and error mapping (no network)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import stripe

from billing.adapters.stripe_gateway import checkout_session_params, stripe_errors
from billing.api.errors import error_body
from billing.domain.checkout import CheckoutRequest
from billing.errors import PaymentProviderRejectedError, PaymentProviderUnavailableError

REQUEST = CheckoutRequest(
    project_id="1",
    user_id="user_42",
    price_id="price_123",
    mode="subscription",
    success_url="https://app.example.com/ok",
    cancel_url="https://app.example.com/cancel",
)
METADATA = {"project_id": "1", "user_id": "user_42", "price_id": "price_123"}


def test_a_subscription_session_carries_its_tenancy_everywhere_events_come_from() -> None:
    params = checkout_session_params(replace(REQUEST, trial_days=14), "cus_1")
    assert params["metadata"] == METADATA
    assert params["subscription_data"] == {"metadata": METADATA, "trial_period_days": 14}
    assert "payment_intent_data" not in params
    assert params["client_reference_id"] == "1:user_42"
    assert params["customer"] == "cus_1"
    assert params["line_items"] == [{"price": "price_123", "quantity": 1}]


def test_a_payment_session_puts_the_metadata_on_the_payment_intent() -> None:
    request = replace(REQUEST, mode="payment", quantity=3, allow_promotion_codes=True)
    params = checkout_session_params(request, "cus_1")
    assert params["payment_intent_data"] == {"metadata": METADATA}
    assert "subscription_data" not in params
    assert params["allow_promotion_codes"] is True
    assert params["line_items"] == [{"price": "price_123", "quantity": 3}]


def raise_in(exc: Exception) -> Exception:
    with pytest.raises(Exception) as caught, stripe_errors("test"):
        raise exc
    assert isinstance(caught.value, Exception)
    return caught.value


def test_an_invalid_request_keeps_stripes_message_and_request_id() -> None:
    rejected = stripe.InvalidRequestError(
        "No such price: 'price_x'", "line_items", http_status=400, headers={"request-id": "req_9"}
    )  # type: ignore[no-untyped-call]
    error = raise_in(rejected)
    assert isinstance(error, PaymentProviderRejectedError)
    status, body = error_body(error)
    assert status == 400
    assert body == {"message": "Stripe: No such price: 'price_x'", "stripe_request_id": "req_9"}


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (stripe.APIConnectionError("timed out"), 503),  # type: ignore[no-untyped-call]
        (stripe.RateLimitError("slow down", http_status=429), 503),
        (stripe.APIError("boom", http_status=500, headers={"request-id": "req_123"}), 502),
        (stripe.AuthenticationError("bad key", http_status=401), 502),
    ],
)
def test_stripe_down_answers_502_or_503_with_its_request_id(exc: Exception, status: int) -> None:
    error = raise_in(exc)
    assert isinstance(error, PaymentProviderUnavailableError)
    answered, body = error_body(error)
    assert answered == status
    assert body["message"] == "Stripe is unavailable, retry later"
    if getattr(exc, "request_id", None):
        assert body["stripe_request_id"] == "req_123"
    assert "bad key" not in repr(body)
