"""Which calls are retried, on what, and how long the client waits between tries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from billing_client import (
    BillingClient,
    BillingConnectionError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
)
from tests.unit.client.fakes import answer, harness

HEALTHY = answer(200, {"status": "ok"})
GRANTED = {
    "project_id": "1",
    "user_id": "user_1",
    "feature_code": "pro",
    "active": True,
    "source": "manual",
    "source_id": "grant_1",
    "valid_from": "2026-01-01T00:00:00Z",
    "valid_to": None,
    "granted_by": "support",
    "reason": "goodwill",
    "created": False,
}


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_get_is_retried_on_a_5xx_and_answers_once_it_succeeds(status: int) -> None:
    h = harness(answer(status, {"message": "boom"}), HEALTHY)

    assert h.client.health().status == "ok"

    assert len(h.transport.requests) == 2
    assert h.sleep.waits == [0.1]  # half of backoff_seconds=0.2 at jitter 0


def test_the_backoff_doubles_and_stays_under_its_cap() -> None:
    failures = [answer(503, {"message": "busy"})] * 5
    h = harness(
        *failures,
        HEALTHY,
        max_retries=5,
        backoff_seconds=0.5,
        max_backoff_seconds=2.0,
        jitter=lambda: 0.999999,
    )

    h.client.health()

    assert [round(wait, 3) for wait in h.sleep.waits] == [0.5, 1.0, 2.0, 2.0, 2.0]


def test_jitter_spreads_each_wait_between_half_and_all_of_the_backoff() -> None:
    h = harness(answer(502), answer(502), HEALTHY, jitter=lambda: 0.5)

    h.client.health()

    assert h.sleep.waits == pytest.approx([0.15, 0.3])


def test_a_get_gives_up_after_max_retries_with_the_last_error() -> None:
    h = harness(answer(500), answer(502), answer(503, {"message": "still down"}))

    with pytest.raises(ServiceUnavailableError) as raised:
        h.client.health()

    assert raised.value.message == "still down"
    assert len(h.transport.requests) == 3
    assert len(h.sleep.waits) == 2


@pytest.mark.parametrize("failure", [TimeoutError("timed out"), ConnectionRefusedError(111, "no")])
def test_timeouts_and_connection_failures_are_retried_for_a_get(failure: OSError) -> None:
    h = harness(failure, HEALTHY)

    assert h.client.health().status == "ok"
    assert len(h.transport.requests) == 2


def test_a_get_without_any_answer_ends_in_a_connection_error_naming_the_attempts() -> None:
    h = harness(TimeoutError("timed out"), TimeoutError("timed out"), TimeoutError("timed out"))

    with pytest.raises(BillingConnectionError, match=r"GET /health: no answer after 3 attempt"):
        h.client.health()

    assert len(h.transport.requests) == 3
    assert len(h.sleep.waits) == 2


def test_every_request_carries_the_timeout() -> None:
    h = harness(HEALTHY, timeout=1.5)
    h.client.health()
    assert h.transport.last.timeout == 1.5


def test_max_retries_zero_means_one_attempt() -> None:
    h = harness(answer(503), max_retries=0)

    with pytest.raises(ServiceUnavailableError):
        h.client.health()

    assert len(h.transport.requests) == 1
    assert h.sleep.waits == []


def test_a_4xx_is_not_retried() -> None:
    h = harness(answer(404, {"message": "no such thing"}))

    with pytest.raises(NotFoundError):
        h.client.portal_eligibility(user_id="user_1", project_id=1)

    assert len(h.transport.requests) == 1


def checkout(client: BillingClient) -> Any:
    return client.create_checkout_session(
        user_id="user_1",
        project_id=1,
        price_id="price_1",
        mode="subscription",
        success_url="https://app.example.com/ok",
        cancel_url="https://app.example.com/cancel",
    )


def portal(client: BillingClient) -> Any:
    return client.create_portal_session(
        user_id="user_1", project_id=1, return_url="https://app.example.com/account"
    )


def revoke(client: BillingClient) -> Any:
    return client.revoke(
        user_id="user_1", project_id=1, feature_code="pro", revoked_by="support", reason="x"
    )


def webhook(client: BillingClient) -> Any:
    return client.post_stripe_webhook(b'{"id":"evt_1"}', signature="t=1,v1=abc")


NOT_IDEMPOTENT: list[Callable[[BillingClient], Any]] = [checkout, portal, revoke, webhook]


@pytest.mark.parametrize("call", NOT_IDEMPOTENT, ids=lambda call: call.__name__)
def test_posts_that_are_not_idempotent_are_sent_once_on_a_5xx(
    call: Callable[[BillingClient], Any],
) -> None:
    h = harness(answer(502, {"message": "Stripe is unavailable, retry later"}), HEALTHY)

    with pytest.raises(ServerError) as raised:
        call(h.client)

    assert raised.value.status == 502
    assert len(h.transport.requests) == 1
    assert h.sleep.waits == []


@pytest.mark.parametrize("call", NOT_IDEMPOTENT, ids=lambda call: call.__name__)
def test_posts_that_are_not_idempotent_are_sent_once_on_a_timeout(
    call: Callable[[BillingClient], Any],
) -> None:
    h = harness(TimeoutError("timed out"), HEALTHY)

    with pytest.raises(BillingConnectionError, match="not retried, the service may have acted"):
        call(h.client)

    assert len(h.transport.requests) == 1


def test_a_grant_is_retried_because_the_same_grant_again_changes_nothing() -> None:
    h = harness(
        TimeoutError("timed out"),
        answer(503, {"message": "service temporarily unavailable, retry later"}),
        answer(200, GRANTED),
    )

    granted = h.client.grant(
        user_id="user_1", project_id=1, feature_code="pro", granted_by="support", reason="x"
    )

    assert granted.created is False
    assert len(h.transport.requests) == 3
    assert h.transport.requests[0].body == h.transport.requests[2].body


def test_a_retry_after_is_waited_instead_of_the_backoff() -> None:
    h = harness(answer(503, retry_after="1.5"), HEALTHY)

    h.client.health()

    assert h.sleep.waits == [1.5]


def test_a_retry_after_longer_than_the_bound_gives_up_at_once() -> None:
    h = harness(answer(503, {"message": "later"}, retry_after="60"), HEALTHY)

    with pytest.raises(ServiceUnavailableError) as raised:
        h.client.health()

    assert raised.value.retry_after == 60
    assert len(h.transport.requests) == 1
    assert h.sleep.waits == []


def test_an_unreadable_retry_after_falls_back_to_the_backoff() -> None:
    h = harness(answer(503, retry_after="Wed, 21 Oct 2026 07:28:00 GMT"), HEALTHY)

    h.client.health()

    assert h.sleep.waits == [0.1]


def test_a_429_is_not_retried_but_says_how_long_to_wait() -> None:
    h = harness(answer(429, {"message": "Too Many Requests"}, retry_after="2"), HEALTHY)

    with pytest.raises(RateLimitedError) as raised:
        h.client.health()

    assert raised.value.retry_after == 2
    assert len(h.transport.requests) == 1


@pytest.mark.parametrize("options", [{"max_retries": -1}, {"backoff_seconds": -0.1}])
def test_negative_retry_settings_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        harness(**options)
