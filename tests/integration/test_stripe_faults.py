"""Stripe failing under the service, over HTTP (issue #12, resilience): a 5xx, a lost answer, a
timeout and a 429 are retried with the same idempotency key, and nothing is created twice.

The stack's Stripe stand-in fails on demand (``POST /_standin/faults``, ``/_standin/rate_limit``)
and logs every ``/v1`` request it saw (``GET /_standin/requests``): each attempt, its
``Idempotency-Key``, what it was answered and whether it was a replay.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from billing.adapters.stripe_gateway import MAX_NETWORK_RETRIES, READ_TIMEOUT_SECONDS
from billing.services.checkout import CHECKOUT_RETRY_WINDOW_SECONDS
from billing_devstack.config import STANDIN_SECRET_KEY
from billing_devstack.launcher import StackProcess
from tests.integration.conftest import start_stack

pytestmark = pytest.mark.integration

API_KEY = "sk_demo_space_journal"  # the demo seed's: project 1, price_123
ORIGIN = "https://app.example.com"
CUSTOMERS = "/v1/customers"
SESSIONS = "/v1/checkout/sessions"
PORTAL = "/v1/billing_portal/sessions"
UNAVAILABLE = "Stripe is unavailable, retry later"


@dataclass(frozen=True)
class Shop:
    """The service (as project 1's backend calls it) and the stand-in behind it."""

    stack: StackProcess

    @property
    def standin(self) -> str:
        return f"http://127.0.0.1:{self.stack.env['LOCAL_STRIPE_PORT']}"

    # ---------------------------------------------------------------- the service
    def _post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(
            f"{self.stack.url}{path}", json=body, headers={"X-API-Key": API_KEY}, timeout=60
        )

    def checkout(self, user: str) -> requests.Response:
        return self._post(
            "/api/v1/checkout/session",
            {
                "user_id": user,
                "project_id": 1,
                "price_id": "price_123",
                "mode": "subscription",
                "success_url": f"{ORIGIN}/billing/success",
                "cancel_url": f"{ORIGIN}/billing/cancel",
            },
        )

    def portal(self, user: str) -> requests.Response:
        body = {"user_id": user, "project_id": 1, "return_url": f"{ORIGIN}/account"}
        return self._post("/api/v1/portal/session", body)

    def mapped_customer(self, user: str) -> list[str]:
        """The Stripe customers the service stored for ``user`` (DynamoDB)."""
        items = self.stack.dynamodb().scan(TableName="CustomersTable")["Items"]
        return [i["stripe_customer_id"]["S"] for i in items if i["user_id"]["S"] == user]

    # ---------------------------------------------------------------- the stand-in
    def control(self, path: str, body: dict[str, Any]) -> Any:
        response = requests.post(f"{self.standin}/_standin/{path}", json=body, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def fault(self, **body: Any) -> None:
        self.control("faults", body)

    def seen(self, path: str, since: int = 0) -> list[dict[str, Any]]:
        """The POSTs to ``path`` (a prefix) the stand-in saw after request ``since``."""
        response = requests.get(
            f"{self.standin}/_standin/requests",
            params={"method": "POST", "path": path},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return [entry for entry in response.json()["data"] if entry["seq"] > since]

    def last_seq(self) -> int:
        response = requests.get(f"{self.standin}/_standin/requests", timeout=10)
        return max((entry["seq"] for entry in response.json()["data"]), default=0)

    def stripe(self, path: str, **params: Any) -> Any:
        response = requests.get(
            f"{self.standin}{path}", params=params, auth=(STANDIN_SECRET_KEY, ""), timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()

    def customers_of(self, user: str) -> list[str]:
        """The user's customers in the stand-in (what Stripe holds)."""
        data = self.stripe(CUSTOMERS, limit=100)["data"]
        return [c["id"] for c in data if c["metadata"].get("user_id") == user]

    def sessions_of(self, customer: str) -> list[str]:
        return [s["id"] for s in self.stripe(SESSIONS, customer=customer, limit=100)["data"]]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    running = start_stack(tmp_path_factory.mktemp("stripe_faults"))
    try:
        running.admin("demo", "seed")
        yield Shop(running)
    finally:
        running.stop()


@pytest.fixture
def faulty(shop: Shop) -> Iterator[Shop]:
    """The shared stack, with every fault and forced 429 cleared after the test."""
    yield shop
    shop.control("faults", {"count": 0})
    shop.control("rate_limit", {"fail_next": 0})


def new_user() -> str:
    return f"user_{uuid.uuid4().hex[:10]}"


def attempts(entries: list[dict[str, Any]]) -> list[tuple[int, bool]]:
    return [(entry["status"], entry["replayed"]) for entry in entries]


def one_key(entries: list[dict[str, Any]]) -> str:
    """The idempotency key every attempt carried (there must be exactly one)."""
    keys = {entry["idempotency_key"] for entry in entries}
    assert len(keys) == 1, keys
    key = keys.pop()
    assert key
    return str(key)


def done_afresh(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The attempts Stripe did the work for (not refused before it, not replayed): portal
    sessions cannot be listed, so this is how many were created."""
    fault_first = {"status": 500, "after": False}
    return [e for e in entries if not e["replayed"] and e["fault"] != fault_first]


def assert_one_checkout(shop: Shop, user: str, response: requests.Response) -> None:
    """The caller got the session; Stripe holds one customer and one session for the user,
    and the service mapped the user to that customer."""
    assert response.status_code == 200, response.text
    (customer,) = shop.customers_of(user)
    assert shop.sessions_of(customer) == [response.json()["session_id"]]
    assert shop.mapped_customer(user) == [customer]


def clear_of_the_checkout_window_edge(margin: float = 5.0) -> None:
    """The checkout key changes with its 10-minute window: two calls straddling the edge would
    rightly use two keys, so a test of the caller's retry starts clear of it (waits <= 5 s)."""
    left = CHECKOUT_RETRY_WINDOW_SECONDS - time.time() % CHECKOUT_RETRY_WINDOW_SECONDS
    if left < margin:
        time.sleep(left + 0.1)


# ------------------------------------------------------------------ 5xx, lost answers, timeouts
def test_a_500_on_the_session_create_is_retried_with_the_same_key(faulty: Shop) -> None:
    """Stripe answers 500 before doing anything, twice: the SDK retries with the same
    Idempotency-Key, the third attempt creates the session, and the caller gets 200 with it.
    The first checkout's customer is created once."""
    user, since = new_user(), faulty.last_seq()
    faulty.fault(count=MAX_NETWORK_RETRIES, status=500, match=f"POST {SESSIONS}")

    response = faulty.checkout(user)

    assert_one_checkout(faulty, user, response)
    tries = faulty.seen(SESSIONS, since)
    assert attempts(tries) == [(500, False), (500, False), (200, False)]
    one_key(tries)
    assert attempts(faulty.seen(CUSTOMERS, since)) == [(200, False)]


@pytest.mark.parametrize("path", [CUSTOMERS, SESSIONS])
def test_a_lost_answer_is_replayed_to_the_sdks_retry(faulty: Shop, path: str) -> None:
    """Stripe does the work and stores it under the key, then the answer is lost (a 500 on
    the way back): the SDK's retry is replayed (Idempotent-Replayed), so the customer and the
    session exist once, and the caller gets the session."""
    user, since = new_user(), faulty.last_seq()
    faulty.fault(status=500, after=True, match=f"POST {path}")

    response = faulty.checkout(user)

    assert_one_checkout(faulty, user, response)
    tries = faulty.seen(path, since)
    assert attempts(tries) == [(500, False), (200, True)]
    one_key(tries)


def test_a_timeout_after_stripe_did_the_work_is_replayed(faulty: Shop) -> None:
    """Stripe creates the session but answers after the gateway's read timeout: the SDK gives
    up on that attempt, retries with the same key, is replayed the session, and the caller gets
    it; one session. (Costs one read timeout, ~6 s.)"""
    user, since = new_user(), faulty.last_seq()
    faulty.fault(delay=READ_TIMEOUT_SECONDS + 1, match=f"POST {SESSIONS}")

    response = faulty.checkout(user)

    assert_one_checkout(faulty, user, response)
    tries = faulty.seen(SESSIONS, since)
    assert attempts(tries) == [(200, False), (200, True)]  # the first answer came too late
    assert tries[0]["fault"] == {"delay": READ_TIMEOUT_SECONDS + 1}
    one_key(tries)


def test_stripe_failing_past_the_retries_stores_nothing_and_the_callers_retry_creates_once(
    faulty: Shop,
) -> None:
    """Every attempt at the session fails (502 to the caller) after the customer was created:
    the service stores no mapping; the caller's retry reuses the customer's key (replayed: no
    second customer) and creates one session."""
    clear_of_the_checkout_window_edge()
    user, since = new_user(), faulty.last_seq()
    faulty.fault(count=MAX_NETWORK_RETRIES + 1, status=500, match=f"POST {SESSIONS}")

    failed = faulty.checkout(user)

    assert failed.status_code == 502, failed.text
    assert failed.json()["message"] == UNAVAILABLE
    assert "Retry-After" not in failed.headers
    assert faulty.mapped_customer(user) == []
    (customer,) = faulty.customers_of(user)
    assert faulty.sessions_of(customer) == []

    assert_one_checkout(faulty, user, faulty.checkout(user))
    assert attempts(faulty.seen(CUSTOMERS, since)) == [(200, False), (200, True)]
    one_key(faulty.seen(CUSTOMERS, since))
    sessions = faulty.seen(SESSIONS, since)
    assert attempts(sessions) == [(500, False)] * (MAX_NETWORK_RETRIES + 1) + [(200, False)]
    one_key(sessions)


# ------------------------------------------------------------------ 429
def test_a_429_on_the_customer_create_is_503_with_retry_after_and_stores_nothing(
    faulty: Shop,
) -> None:
    """Stripe rate-limits the first checkout's customer create: stripe-python does not retry a
    429, the service answers 503 with Retry-After, and nothing exists anywhere; the caller's
    retry sends the same customer key, done afresh (a 429 stores nothing under it), and gets
    one customer and one session."""
    clear_of_the_checkout_window_edge()
    user, since = new_user(), faulty.last_seq()
    faulty.control("rate_limit", {"fail_next": 1})

    limited = faulty.checkout(user)

    assert limited.status_code == 503, limited.text
    assert limited.headers["Retry-After"] == "1"
    assert limited.json()["message"] == UNAVAILABLE
    assert limited.json()["stripe_request_id"].startswith("req_")
    assert faulty.customers_of(user) == []
    assert faulty.mapped_customer(user) == []
    assert attempts(faulty.seen(CUSTOMERS, since)) == [(429, False)]  # not retried by the SDK
    assert faulty.seen(SESSIONS, since) == []

    assert_one_checkout(faulty, user, faulty.checkout(user))
    customers = faulty.seen(CUSTOMERS, since)
    assert attempts(customers) == [(429, False), (200, False)]
    one_key(customers)


def test_a_429_on_the_session_create_keeps_one_customer_across_the_callers_retry(
    faulty: Shop,
) -> None:
    """The customer is created, then the session create is rate-limited: 503 with
    Retry-After, no session, no mapping stored. The caller's retry replays the customer (same
    key: still one customer) and sends the session create with the key of the limited one."""
    clear_of_the_checkout_window_edge()
    user, since = new_user(), faulty.last_seq()
    faulty.fault(status=429, match=f"POST {SESSIONS}")

    limited = faulty.checkout(user)

    assert limited.status_code == 503, limited.text
    assert limited.headers["Retry-After"] == "1"
    (customer,) = faulty.customers_of(user)
    assert faulty.sessions_of(customer) == []
    assert faulty.mapped_customer(user) == []

    assert_one_checkout(faulty, user, faulty.checkout(user))
    customers, sessions = faulty.seen(CUSTOMERS, since), faulty.seen(SESSIONS, since)
    assert attempts(customers) == [(200, False), (200, True)]
    assert attempts(sessions) == [(429, False), (200, False)]
    one_key(customers)
    one_key(sessions)


# ------------------------------------------------------------------ the portal
@pytest.mark.parametrize("after", [False, True], ids=["before-the-work", "lost-answer"])
def test_a_500_on_the_portal_session_is_retried_with_the_same_key(
    faulty: Shop, after: bool
) -> None:
    """The portal session create fails with a 500 (before the work, or after it: a lost
    answer): the SDK retries with the same key, one portal session is created, and the caller
    gets its URL, which the stand-in serves."""
    user = new_user()
    assert faulty.checkout(user).status_code == 200
    since = faulty.last_seq()
    faulty.fault(status=500, after=after, match=f"POST {PORTAL}")

    response = faulty.portal(user)

    assert response.status_code == 200, response.text
    tries = faulty.seen(PORTAL, since)
    assert attempts(tries) == [(500, False), (200, after)]
    one_key(tries)
    assert len(done_afresh(tries)) == 1  # one portal session; the other attempt failed first
    portal_url = response.json()["portal_url"]
    assert portal_url.startswith(f"{faulty.standin}/portal/")
    assert requests.get(portal_url, timeout=10).status_code == 200
