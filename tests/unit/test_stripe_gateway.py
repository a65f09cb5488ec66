"""The Stripe gateway's parameters, error mapping, and retries under Stripe failing (the
stand-in in process: no network)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest
import stripe

from billing.adapters.stripe_gateway import (
    ATTEMPT_SECONDS,
    MAX_NETWORK_RETRIES,
    READ_TIMEOUT_SECONDS,
    StripePaymentGateway,
    build_client,
    checkout_session_params,
    stripe_errors,
)
from billing.api.errors import error_body, error_headers
from billing.domain.checkout import CheckoutRequest
from billing.errors import PaymentProviderRejectedError, PaymentProviderUnavailableError
from billing_devstack.stripe_standin import StripeStandIn
from billing_devstack.stripe_standin.sdk_client import InProcessHTTPClient

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


# ------------------------------------------------------------------ Stripe failing, in process
class _LateAnswerError(Exception):
    """Raised by the stand-in's delay: the answer comes after the read timeout."""


def _answer_late(seconds: float) -> None:
    raise _LateAnswerError(seconds)


class _TimingOut(InProcessHTTPClient):
    """The stand-in in process, with a read timeout: a delayed answer (the work done) is seen
    as ``requests`` reports a read timeout to the SDK, a retryable connection error."""

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        try:
            return super().request(method, url, headers, post_data, _usage=_usage)
        except _LateAnswerError:
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                "Read timed out.", should_retry=True
            ) from None


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> StripeStandIn:
    monkeypatch.setattr(stripe.HTTPClient, "_sleep_time_seconds", lambda self, retries: 0.0)
    fake = StripeStandIn(base_url="http://standin.invalid", sleep=_answer_late)
    fake.register_price("price_123", 900, "usd", {"interval": "month"})
    return fake


def _gateway(standin: StripeStandIn) -> StripePaymentGateway:
    """The gateway with the client the service builds (its retries), answering in process."""
    return StripePaymentGateway(build_client("sk_test_unit", "http://x", _TimingOut(standin)))


def _tries(standin: StripeStandIn, path: str) -> list[tuple[str | None, int, bool]]:
    return [
        (entry["idempotency_key"], entry["status"], entry["replayed"])
        for entry in standin.requests_seen("POST", path)
    ]


@pytest.mark.parametrize("after", [False, True])
def test_every_create_survives_a_500_by_retrying_with_the_same_key(
    standin: StripeStandIn, after: bool
) -> None:
    gateway = _gateway(standin)
    standin.fault(MAX_NETWORK_RETRIES, status=500, after=after)
    customer = gateway.create_customer("1", "user_42", "usd", "k-customer")
    standin.fault(MAX_NETWORK_RETRIES, status=500, after=after)
    session = gateway.create_checkout_session(REQUEST, customer, "k-session")
    standin.fault(MAX_NETWORK_RETRIES, status=500, after=after)
    portal_url = gateway.create_portal_session(customer, "https://app.example.com/", "k-portal")

    for path, key in [
        ("/v1/customers", "k-customer"),
        ("/v1/checkout/sessions", "k-session"),
        ("/v1/billing_portal/sessions", "k-portal"),
    ]:
        assert _tries(standin, path) == [
            (key, 500, False),
            (key, 500, after),  # after the work: the retries are replays of the first attempt
            (key, 200, after),
        ]
    assert [c["id"] for c in standin.store.of_kind("customer")] == [customer]
    assert [s["id"] for s in standin.store.of_kind("checkout.session")] == [session.session_id]
    assert standin.store.count("billing_portal.session") == 1
    assert portal_url.startswith("http://standin.invalid/portal/")


def test_timeouts_past_the_retries_are_a_503_and_the_callers_retry_is_replayed(
    standin: StripeStandIn,
) -> None:
    """Stripe did the work each time but answered too late: 503 (retry later, with
    Retry-After), and the same key later gets the one session."""
    gateway = _gateway(standin)
    customer = gateway.create_customer("1", "user_42", "usd", "k-customer")
    standin.fault(MAX_NETWORK_RETRIES + 1, delay=READ_TIMEOUT_SECONDS + 1)

    with pytest.raises(PaymentProviderUnavailableError) as timed_out:
        gateway.create_checkout_session(REQUEST, customer, "k-session")
    assert timed_out.value.status == 503
    assert error_headers(timed_out.value) == {"Retry-After": "1"}

    session = gateway.create_checkout_session(REQUEST, customer, "k-session")
    assert [s["id"] for s in standin.store.of_kind("checkout.session")] == [session.session_id]
    assert _tries(standin, "/v1/checkout/sessions") == [
        ("k-session", 200, False),  # done, answered too late
        ("k-session", 200, True),
        ("k-session", 200, True),
        ("k-session", 200, True),  # the caller's retry
    ]


# ------------------------------------------------------------------ the request's time
class _Clock:
    """A monotonic clock the test moves; a late answer costs the caller its read timeout."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def answer_late(self, seconds: float) -> None:
        self.now += READ_TIMEOUT_SECONDS
        raise _LateAnswerError(seconds)


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
def late_stripe(standin: StripeStandIn, clock: _Clock) -> StripeStandIn:
    """Like ``standin`` (no backoff sleeps), but a late answer costs ``clock`` the read
    timeout."""
    late = StripeStandIn(base_url="http://standin.invalid", sleep=clock.answer_late)
    late.register_price("price_123", 900, "usd", {"interval": "month"})
    return late


def _timed_gateway(late_stripe: StripeStandIn, clock: _Clock) -> StripePaymentGateway:
    client = build_client("sk_test_unit", "http://x", _TimingOut(late_stripe))
    return StripePaymentGateway(client, clock=clock)


def test_a_call_makes_only_the_attempts_that_fit_in_the_requests_time(
    late_stripe: StripeStandIn, clock: _Clock
) -> None:
    """Two attempts fit: the third, which the SDK would make, is not, and the 502 comes in
    time for the function to answer it."""
    gateway = _timed_gateway(late_stripe, clock).within(2 * ATTEMPT_SECONDS + 0.5)
    late_stripe.fault(MAX_NETWORK_RETRIES + 1, status=500)
    with pytest.raises(PaymentProviderUnavailableError) as failed:
        gateway.create_customer("1", "user_42", "usd", "k-customer")
    assert failed.value.status == 502
    assert _tries(late_stripe, "/v1/customers") == [("k-customer", 500, False)] * 2


def test_a_first_checkout_slowed_by_timeouts_answers_in_time_and_the_retry_creates_once(
    late_stripe: StripeStandIn, clock: _Clock
) -> None:
    """The customer create times out twice (Stripe did the work) and is answered on its third
    attempt, 13.5 s into the function's 24 s: one attempt at the session still fits, not the
    SDK's three (which would end at 33 s, past the function's timeout). It times out too: 503
    with Retry-After, in time. The caller's retry, with the same keys, creates one customer
    and one session."""
    budget = 24.0
    gateway = _timed_gateway(late_stripe, clock).within(budget)
    late_stripe.fault(2, delay=READ_TIMEOUT_SECONDS + 1)
    customer = gateway.create_customer("1", "user_42", "usd", "k-customer")
    clock.now += 1.5  # the SDK's backoffs (not slept here, and not on this clock)

    late_stripe.fault(MAX_NETWORK_RETRIES + 1, delay=READ_TIMEOUT_SECONDS + 1)
    with pytest.raises(PaymentProviderUnavailableError) as timed_out:
        gateway.create_checkout_session(REQUEST, customer, "k-session")
    assert timed_out.value.status == 503
    assert error_headers(timed_out.value) == {"Retry-After": "1"}
    assert len(late_stripe.requests_seen("POST", "/v1/checkout/sessions")) == 1
    assert clock.now - 1_000.0 <= budget

    late_stripe.fault(0)
    retry = _timed_gateway(late_stripe, clock).within(budget)
    assert retry.create_customer("1", "user_42", "usd", "k-customer") == customer  # replayed
    session = retry.create_checkout_session(REQUEST, customer, "k-session")
    assert [c["id"] for c in late_stripe.store.of_kind("customer")] == [customer]
    sessions = late_stripe.store.of_kind("checkout.session")
    assert [s["id"] for s in sessions] == [session.session_id]


def test_with_no_time_for_one_attempt_nothing_is_sent_and_the_answer_is_503(
    late_stripe: StripeStandIn, clock: _Clock
) -> None:
    gateway = _timed_gateway(late_stripe, clock).within(24.0)
    clock.now += 24.0 - ATTEMPT_SECONDS + 0.1  # spent elsewhere in the request
    with pytest.raises(PaymentProviderUnavailableError) as no_time:
        gateway.create_portal_session("cus_1", "https://app.example.com/", "k-portal")
    assert no_time.value.status == 503
    assert str(no_time.value) == "Stripe create portal session: no time left"
    assert late_stripe.requests_seen() == []


def test_without_a_deadline_every_call_gets_all_its_retries(
    late_stripe: StripeStandIn, clock: _Clock
) -> None:
    gateway = _timed_gateway(late_stripe, clock)
    clock.now += 10_000
    late_stripe.fault(MAX_NETWORK_RETRIES, status=500)
    gateway.create_customer("1", "user_42", "usd", "k-customer")
    assert [status for _, status, _ in _tries(late_stripe, "/v1/customers")] == [500, 500, 200]
