"""Stripe failing on demand (``POST /_standin/faults``) and the request log
(``GET /_standin/requests``), driven in process with the real SDK: a 5xx before the work is
retried and done once, a lost answer or a late one is replayed under the same key."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import stripe
from stripe.params.checkout import SessionCreateParams

from billing_devstack.stripe_standin import StripeStandIn
from billing_devstack.stripe_standin.faults import LOG_SIZE
from billing_devstack.stripe_standin.sdk_client import InProcessHTTPClient
from billing_devstack.stripe_standin.server import StandInRequestHandler
from tests.unit.devstack.stripe_standin.conftest import API_KEY, Clock, Harness

SESSIONS = "POST /v1/checkout/sessions"
NO_FAULT = {
    "count": 0,
    "match": None,
    "status": None,
    "after": False,
    "delay": None,
    "should_retry": None,
}


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's retries without its 0.5-5 s back-off."""
    monkeypatch.setattr(stripe.HTTPClient, "_sleep_time_seconds", lambda self, retries: 0.0)


def sdk(standin: StripeStandIn, retries: int = 2) -> stripe.StripeClient:
    """The SDK as the service builds it (two network retries), answering in process."""
    return stripe.StripeClient(
        API_KEY,
        base_addresses={"api": "http://standin.invalid"},
        http_client=InProcessHTTPClient(standin),
        max_network_retries=retries,
    )


def session_params(customer: str) -> SessionCreateParams:
    return {
        "mode": "subscription",
        "customer": customer,
        "line_items": [{"price": "price_123", "quantity": 1}],
        "success_url": "https://app.example.com/ok",
    }


def control(harness: Harness, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    method = "GET" if body is None else "POST"
    status, _, answer = harness.call(method, path, json.dumps(body or {}), key=None)
    return status, answer


def seen(standin: StripeStandIn, **filters: str) -> list[tuple[Any, ...]]:
    """(method path, key, status, replayed, fault) of each /v1 request seen."""
    return [
        (
            f"{entry['method']} {entry['path']}",
            entry["idempotency_key"],
            entry["status"],
            entry["replayed"],
            entry["fault"],
        )
        for entry in standin.requests_seen(**filters)
    ]


def test_it_is_off_by_default_and_the_log_starts_empty(harness: Harness) -> None:
    assert control(harness, "/_standin/faults") == (200, NO_FAULT)
    assert control(harness, "/_standin/requests")[1]["data"] == []
    assert harness.call("GET", "/v1/customers")[0] == 200


def test_a_500_before_the_work_is_retried_with_the_same_key_and_creates_once(
    harness: Harness,
) -> None:
    standin = harness.standin
    client = sdk(standin)
    customer = client.v1.customers.create(params={"email": "a@x.io"})
    assert standin.fault(status=500, match=SESSIONS)["count"] == 1

    session = client.v1.checkout.sessions.create(
        params=session_params(customer.id), options={"idempotency_key": "k-500"}
    )

    assert seen(standin, path="/v1/checkout/sessions") == [
        (SESSIONS, "k-500", 500, False, {"status": 500, "after": False}),
        (SESSIONS, "k-500", 200, False, None),  # nothing was stored: done now, not replayed
    ]
    assert standin.store.count("checkout.session") == 1
    assert client.v1.checkout.sessions.retrieve(session.id).id == session.id
    assert standin.faults.current.state()["count"] == 0


def test_a_lost_answer_is_replayed_on_the_sdks_retry(harness: Harness) -> None:
    standin = harness.standin
    client = sdk(standin)
    customer = client.v1.customers.create(params={"email": "a@x.io"})
    standin.fault(status=502, after=True, match=SESSIONS)

    session = client.v1.checkout.sessions.create(
        params=session_params(customer.id), options={"idempotency_key": "k-lost"}
    )

    assert seen(standin, method="POST", path="/v1/checkout") == [
        (SESSIONS, "k-lost", 502, False, {"status": 502, "after": True}),
        (SESSIONS, "k-lost", 200, True, None),
    ]
    assert [s["id"] for s in standin.store.of_kind("checkout.session")] == [session.id]


def test_the_sdks_own_idempotency_key_covers_its_retries(harness: Harness) -> None:
    """No key given: stripe-python generates one per call and sends it on every retry."""
    standin = harness.standin
    standin.fault(2, status=500, after=True, match="POST /v1/customers")
    customer = sdk(standin).v1.customers.create(params={"email": "a@x.io"})
    attempts = seen(standin)
    assert [(status, replayed) for _, _, status, replayed, _ in attempts] == [
        (500, False),
        (500, True),
        (200, True),
    ]
    assert len({key for _, key, *_ in attempts}) == 1
    assert attempts[0][1] is not None
    assert [c["id"] for c in standin.store.of_kind("customer")] == [customer.id]
    assert [event["type"] for event in standin.emitted()] == ["customer.created"]


def test_more_failures_than_retries_give_the_caller_the_error(harness: Harness) -> None:
    standin = harness.standin
    standin.fault(3, status=500)
    with pytest.raises(stripe.APIError) as failed:
        sdk(standin).v1.customers.create(params={"email": "a@x.io"})
    assert failed.value.http_status == 500
    assert failed.value.error is not None
    assert failed.value.error.type == "api_error"
    assert str(failed.value.request_id).startswith("req_")
    assert [entry["status"] for entry in standin.requests_seen()] == [500, 500, 500]
    assert standin.store.count("customer") == 0
    assert standin.emitted() == []


@pytest.mark.parametrize(("should_retry", "attempts"), [(False, 1), (True, 3)])
def test_stripe_should_retry_is_what_the_sdk_obeys(
    harness: Harness, should_retry: bool, attempts: int
) -> None:
    """``false`` is what Stripe sends when a retry would only replay the error."""
    standin = harness.standin
    standin.fault(5, status=503, should_retry=should_retry)
    status, headers, answer = harness.call("GET", "/v1/customers")
    assert (status, headers["Stripe-Should-Retry"]) == (503, str(should_retry).lower())
    assert answer["error"]["type"] == "api_error"
    with pytest.raises(stripe.APIError):
        sdk(standin).v1.customers.list()
    assert len(standin.requests_seen()) == 1 + attempts


def test_a_server_error_without_should_retry_carries_no_such_header(harness: Harness) -> None:
    harness.standin.fault(status=500)
    status, headers, _ = harness.call("GET", "/v1/customers")
    assert status == 500
    assert "Stripe-Should-Retry" not in headers
    assert headers["Request-Id"].startswith("req_")


def test_a_429_fault_is_stripes_rate_limit_answer_and_is_not_retried(harness: Harness) -> None:
    standin = harness.standin
    standin.fault(status=429, match="POST /v1/customers")
    with pytest.raises(stripe.RateLimitError):
        sdk(standin).v1.customers.create(
            params={"email": "a@x.io"}, options={"idempotency_key": "k-429"}
        )
    assert standin.store.count("customer") == 0
    customer = sdk(standin).v1.customers.create(
        params={"email": "a@x.io"}, options={"idempotency_key": "k-429"}
    )
    assert seen(standin) == [
        ("POST /v1/customers", "k-429", 429, False, {"status": 429, "after": False}),
        ("POST /v1/customers", "k-429", 200, False, None),  # nothing was stored under the key
    ]
    assert [c["id"] for c in standin.store.of_kind("customer")] == [customer.id]


def test_only_matching_requests_fail_and_each_counts_down(harness: Harness) -> None:
    standin = harness.standin
    standin.fault(2, status=500, match="POST /v1/customers")
    assert harness.call("GET", "/v1/customers")[0] == 200
    assert harness.call("POST", "/v1/prices/price_123", "metadata[a]=b")[0] == 200
    assert harness.call("POST", "/v1/customers", "email=a@x.io")[0] == 500
    assert standin.faults.current.state()["count"] == 1
    assert harness.call("POST", "/v1/customers/cus_nope", "email=a@x.io")[0] == 500  # a prefix
    assert harness.call("POST", "/v1/customers", "email=a@x.io")[0] == 200
    assert standin.faults.current.state() == {
        **NO_FAULT,
        "match": "POST /v1/customers",
        "status": 500,
    }

    standin.fault(status=500, match="/v1/customers")  # any method
    assert harness.call("GET", "/v1/customers")[0] == 500
    assert harness.call("GET", "/v1/customers")[0] == 200


def test_refused_requests_consume_no_fault_and_are_logged(harness: Harness) -> None:
    standin = harness.standin
    standin.rate_limit(None, fail_next=1)
    standin.fault(status=500)
    assert harness.call("GET", "/v1/customers", key=None)[0] == 401
    assert harness.call("GET", "/v1/customers")[0] == 429
    assert harness.call("GET", "/v1/customers")[0] == 500
    assert harness.call("GET", "/_standin/health", key=None)[0] == 200  # not /v1: not logged
    assert harness.call("GET", "/checkout/cs_test_nope")[0] == 404
    assert [(e["status"], e["fault"]) for e in standin.requests_seen()] == [
        (401, None),
        (429, None),
        (500, {"status": 500, "after": False}),
    ]


def test_a_fault_after_a_refused_request_still_loses_the_answer(harness: Harness) -> None:
    """The work (here: a validation error, which stores nothing) happens, then the 500."""
    standin = harness.standin
    standin.fault(status=500, after=True)
    status, _, answer = harness.call(
        "POST", "/v1/customers", "colour=red", {"Idempotency-Key": "k"}
    )
    assert (status, answer["error"]["type"]) == (500, "api_error")
    status, _, answer = harness.call(
        "POST", "/v1/customers", "colour=red", {"Idempotency-Key": "k"}
    )
    assert (status, answer["error"]["code"]) == (400, "parameter_unknown")


# ------------------------------------------------------------------ delays
class Sleeper:
    """A ``sleep`` that records, and checks the stand-in serves others meanwhile."""

    def __init__(self) -> None:
        self.standin: StripeStandIn | None = None
        self.slept: list[float] = []
        self.others: list[int] = []

    def __call__(self, seconds: float) -> None:
        assert self.standin is not None
        self.slept.append(seconds)
        other = threading.Thread(target=self._other_request, args=(self.standin,))
        other.start()
        other.join(5)
        assert not other.is_alive(), "the stand-in's lock was held during the delay"

    def _other_request(self, standin: StripeStandIn) -> None:
        auth = {"Authorization": f"Bearer {API_KEY}"}
        self.others.append(standin.handle("GET", "/v1/customers", auth).status)


@pytest.fixture
def slow(clock: Clock) -> Iterator[tuple[StripeStandIn, Sleeper]]:
    sleeper = Sleeper()
    standin = StripeStandIn(base_url="http://standin.test", clock=clock, sleep=sleeper)
    sleeper.standin = standin
    yield standin, sleeper


def test_a_delay_answers_late_after_the_work_without_holding_the_lock(
    slow: tuple[StripeStandIn, Sleeper],
) -> None:
    standin, sleeper = slow
    assert standin.fault(delay=7, match="POST /v1/customers")["delay"] == 7.0
    auth = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "k-slow"}
    first = standin.handle("POST", "/v1/customers", auth, b"email=a@x.io")
    assert (first.status, sleeper.slept, sleeper.others) == (200, [7.0], [200])
    assert standin.store.count("customer") == 1  # done before the wait

    again = standin.handle("POST", "/v1/customers", auth, b"email=a@x.io")  # the caller's retry
    assert (again.status, again.headers["Idempotent-Replayed"]) == (200, "true")
    assert json.loads(again.body)["id"] == json.loads(first.body)["id"]
    assert sleeper.slept == [7.0]
    assert seen(standin, method="POST") == [
        ("POST /v1/customers", "k-slow", 200, False, {"delay": 7.0}),
        ("POST /v1/customers", "k-slow", 200, True, None),
    ]


def test_a_delayed_answer_to_a_caller_who_left_is_dropped_quietly(clock: Clock) -> None:
    """Over HTTP: the caller timed out and closed its socket before the answer."""
    client, server_side = socket.socketpair()
    standin = StripeStandIn(clock=clock, sleep=lambda seconds: client.close())
    standin.fault(delay=7)
    client.sendall(
        b"GET /v1/customers HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {API_KEY}\r\n\r\n".encode()
    )
    StandInRequestHandler(server_side, ("127.0.0.1", 50000), _Server(standin))  # type: ignore[arg-type]
    server_side.close()
    assert [entry["status"] for entry in standin.requests_seen()] == [200]


@dataclass
class _Server:
    standin: StripeStandIn


# ------------------------------------------------------------------ the controls
def test_each_post_replaces_the_fault_and_count_zero_turns_it_off(harness: Harness) -> None:
    standin = harness.standin
    assert control(harness, "/_standin/faults", {"count": 3, "status": 500}) == (
        200,
        {**NO_FAULT, "count": 3, "status": 500},
    )
    assert control(harness, "/_standin/faults", {"delay": 1.5, "match": "/v1/prices"}) == (
        200,
        {**NO_FAULT, "count": 1, "match": "/v1/prices", "after": True, "delay": 1.5},
    )
    assert control(harness, "/_standin/faults", {}) == control(harness, "/_standin/faults")
    assert control(harness, "/_standin/faults", {"count": 0}) == (200, NO_FAULT)
    assert harness.call("GET", "/v1/prices")[0] == 200
    assert standin.fault(0) == NO_FAULT


def test_the_request_log_filters_and_keeps_the_last_entries(harness: Harness) -> None:
    harness.call("POST", "/v1/customers", "email=a@x.io", {"Idempotency-Key": "k1"})
    harness.call("GET", "/v1/customers?limit=3")
    harness.call("GET", "/v1/customers/cus_nope")
    status, answer = control(harness, "/_standin/requests?method=GET&path=/v1/customers/")
    assert status == 200
    assert [(e["path"], e["status"]) for e in answer["data"]] == [("/v1/customers/cus_nope", 404)]
    entry = control(harness, "/_standin/requests?idempotency_key=k1")[1]["data"][0]
    assert set(entry) == {
        "seq",
        "request_id",
        "created",
        "method",
        "path",
        "idempotency_key",
        "status",
        "replayed",
        "fault",
    }
    assert (entry["seq"], entry["method"], entry["created"]) == (1, "POST", harness.clock.now)
    assert entry["request_id"].startswith("req_")
    assert control(harness, "/_standin/requests?colour=red")[1]["error"]["param"] == "colour"

    for _ in range(LOG_SIZE):
        harness.call("GET", "/v1/prices/price_123")
    entries = harness.standin.requests_seen()
    assert len(entries) == LOG_SIZE
    assert entries[0]["seq"] == 4  # the first three fell off


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"count": -1, "status": 500}, "count"),
        ({"count": True, "status": 500}, "count"),
        ({"count": 1.0, "status": 500}, "count"),
        ({"count": 1}, "status"),
        ({"status": 404}, "status"),
        ({"status": "500"}, "status"),
        ({"status": 600}, "status"),
        ({"status": 500, "delay": 1}, "delay"),
        ({"delay": 0}, "delay"),
        ({"delay": 61}, "delay"),
        ({"delay": True}, "delay"),
        ({"delay": 1, "after": False}, "after"),
        ({"delay": 1, "should_retry": True}, "should_retry"),
        ({"status": 429, "after": True}, "after"),
        ({"status": 429, "should_retry": False}, "should_retry"),
        ({"status": 500, "after": "yes"}, "after"),
        ({"status": 500, "should_retry": "true"}, "should_retry"),
        ({"status": 500, "match": "/checkout/sessions"}, "match"),
        ({"status": 500, "match": "post /v1/customers"}, "match"),
        ({"status": 500, "match": "PUT /v1/customers"}, "match"),
        ({"status": 500, "match": 3}, "match"),
        ({"status": 500, "times": 2}, "times"),
    ],
)
def test_the_control_refuses_bad_bodies(harness: Harness, body: dict[str, Any], param: str) -> None:
    harness.standin.fault(2, status=503)
    status, answer = control(harness, "/_standin/faults", body)
    assert status == 400, answer
    assert answer["error"]["type"] == "invalid_request_error"
    assert answer["error"]["param"] == param
    assert harness.standin.faults.current.state() == {**NO_FAULT, "count": 2, "status": 503}
