"""Stripe's rate limit on demand (``POST /_standin/rate_limit``): 429s the real SDK raises as
``RateLimitError`` without retrying, counted in one-second windows of the stand-in's clock."""

from __future__ import annotations

import json
from typing import Any

import pytest
import stripe

from billing_devstack.stripe_standin.sdk_client import InProcessHTTPClient
from tests.unit.devstack.stripe_standin.conftest import API_KEY, Harness


def sdk(harness: Harness, retries: int) -> stripe.StripeClient:
    return stripe.StripeClient(
        API_KEY,
        base_addresses={"api": "http://standin.invalid"},
        http_client=InProcessHTTPClient(harness.standin),
        max_network_retries=retries,
    )


def limit(harness: Harness, body: dict[str, Any]) -> tuple[int, Any]:
    status, _, answer = harness.call("POST", "/_standin/rate_limit", json.dumps(body), key=None)
    return status, answer


def test_it_is_off_by_default(harness: Harness) -> None:
    assert harness.call("GET", "/_standin/rate_limit", key=None)[2] == {
        "per_second": None,
        "fail_next": 0,
    }
    for _ in range(50):
        assert harness.call("GET", "/v1/customers")[0] == 200


def test_the_sdk_raises_rate_limit_error_then_works_the_next_second(harness: Harness) -> None:
    client = sdk(harness, retries=0)
    assert limit(harness, {"per_second": 2}) == (200, {"per_second": 2, "fail_next": 0})
    client.v1.customers.create(params={"email": "a@x.io"})
    client.v1.customers.list()
    with pytest.raises(stripe.RateLimitError) as limited:
        client.v1.customers.list()
    assert limited.value.http_status == 429
    assert limited.value.error is not None
    assert limited.value.error.code == "rate_limit"  # the SDK keeps it on the error object
    assert str(limited.value.user_message).startswith("Request rate limit exceeded.")
    assert limited.value.request_id is not None
    assert limited.value.request_id.startswith("req_")
    harness.clock.now += 0.5  # the same second (the clock starts on a whole second)
    with pytest.raises(stripe.RateLimitError):
        client.v1.customers.retrieve("cus_nope")
    harness.clock.now += 0.5
    assert len(client.v1.customers.list().data) == 1
    client.v1.customers.list()
    with pytest.raises(stripe.RateLimitError):
        client.v1.customers.list()


def test_a_limited_request_changes_nothing(harness: Harness) -> None:
    harness.standin.rate_limit(1)
    assert harness.call("POST", "/v1/customers", "email=a@x.io")[0] == 200
    status, _, _ = harness.call("POST", "/v1/customers", "email=b@x.io", {"Idempotency-Key": "k"})
    assert status == 429
    harness.clock.now += 1
    status, headers, _ = harness.call(
        "POST", "/v1/customers", "email=b@x.io", {"Idempotency-Key": "k"}
    )
    assert (status, "Idempotent-Replayed" in headers) == (200, False)
    assert harness.standin.store.count("customer") == 2
    assert [event["type"] for event in harness.standin.emitted()] == ["customer.created"] * 2


def test_the_answer_has_stripes_shape_and_headers(harness: Harness) -> None:
    harness.standin.rate_limit(None, fail_next=1)
    status, headers, answer = harness.call("GET", "/v1/subscriptions")
    assert status == 429
    error = answer["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "rate_limit")
    assert error["message"] == (
        "Request rate limit exceeded. You can learn more about rate limits here "
        "https://stripe.com/docs/rate-limits."
    )
    assert error["doc_url"] == "https://stripe.com/docs/error-codes/rate-limit"
    assert headers["Stripe-Rate-Limited-Reason"] == "global-rate"
    assert headers["Request-Id"].startswith("req_")
    assert "Stripe-Should-Retry" not in headers  # Stripe leaves backing off to the caller
    assert harness.call("GET", "/v1/subscriptions")[0] == 200  # fail_next was one


def test_the_sdk_does_not_retry_a_429_by_itself(harness: Harness) -> None:
    client = sdk(harness, retries=2)  # would pass on a retry: only the next request fails
    harness.standin.rate_limit(None, fail_next=1)
    with pytest.raises(stripe.RateLimitError):
        client.v1.customers.list()
    assert harness.standin.limiter.state() == {"per_second": None, "fail_next": 0}
    assert client.v1.customers.list().data == []


def test_only_authenticated_v1_requests_count(harness: Harness) -> None:
    harness.standin.rate_limit(1)
    assert harness.call("GET", "/v1/customers", key=None)[0] == 401
    assert harness.call("GET", "/_standin/health", key=None)[0] == 200
    assert harness.call("GET", "/_standin/events", key=None)[0] == 200
    assert harness.call("GET", "/checkout/cs_test_nope")[0] == 404
    assert harness.call("GET", "/v1/customers")[0] == 200
    assert harness.call("GET", "/v1/customers")[0] == 429
    assert harness.call("GET", "/v1/customers", key=None)[0] == 401  # auth first, as Stripe


def test_zero_or_null_turns_it_off(harness: Harness) -> None:
    for off in (0, None):
        harness.standin.rate_limit(1)
        assert harness.call("GET", "/v1/customers")[0] == 200
        assert harness.call("GET", "/v1/customers")[0] == 429
        assert limit(harness, {"per_second": off}) == (200, {"per_second": None, "fail_next": 0})
        assert harness.call("GET", "/v1/customers")[0] == 200


def test_setting_a_limit_starts_counting_afresh(harness: Harness) -> None:
    harness.standin.rate_limit(1)
    assert harness.call("GET", "/v1/customers")[0] == 200
    assert harness.standin.rate_limit(1) == {"per_second": 1, "fail_next": 0}
    assert harness.call("GET", "/v1/customers")[0] == 200
    assert limit(harness, {"fail_next": 2}) == (200, {"per_second": 1, "fail_next": 2})
    harness.clock.now += 1
    assert [harness.call("GET", "/v1/customers")[0] for _ in range(4)] == [429, 429, 200, 429]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"per_second": -1}, "per_second"),
        ({"per_second": "5"}, "per_second"),
        ({"per_second": True}, "per_second"),
        ({"per_second": 1.5}, "per_second"),
        ({"fail_next": -2}, "fail_next"),
        ({"fail_next": None}, "fail_next"),
        ({"burst": 3}, "burst"),
    ],
)
def test_the_control_refuses_bad_bodies(harness: Harness, body: dict[str, Any], param: str) -> None:
    status, answer = limit(harness, body)
    assert status == 400, answer
    assert answer["error"]["param"] == param
    assert harness.standin.limiter.state() == {"per_second": None, "fail_next": 0}
