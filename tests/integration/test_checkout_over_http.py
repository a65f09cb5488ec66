"""Checkout, portal and eligibility over the local gateway, with the Stripe stand-in."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from billing.adapters.stripe_gateway import READ_TIMEOUT_SECONDS
from billing_devstack.launcher import StackProcess, free_port
from tests.integration.conftest import start_stack

pytestmark = pytest.mark.integration

PROJECT, FOREIGN_PROJECT = "201", "202"
ORIGIN = "https://app.example.com"


def standin_url(stack: StackProcess) -> str:
    return f"http://127.0.0.1:{stack.env['LOCAL_STRIPE_PORT']}"


def register_price(
    stack: StackProcess, project: str, price_id: str, recurring: bool, feature: str = "pro"
) -> None:
    """A price of 9.00 USD (a month, or once) in the stand-in, then in the service: Stripe
    first, since billing-admin price add reads the price there and refuses other terms."""
    standin = {
        "id": price_id,
        "unit_amount": 900,
        "currency": "usd",
        "recurring": {"interval": "month", "interval_count": 1} if recurring else None,
    }
    response = requests.post(f"{standin_url(stack)}/_standin/prices", json=standin, timeout=10)
    assert response.status_code in (200, 201), response.text
    terms = ["--interval", "month"] if recurring else ["--one-time"]
    stack.admin(
        "price", "add", "--project", project, "--price", price_id, "--feature", feature,
        "--amount", "900", "--currency", "usd", *terms,
    )  # fmt: skip


@dataclass(frozen=True)
class Shop:
    stack: StackProcess
    key: str

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(
            f"{self.stack.url}{path}", json=body, headers={"X-API-Key": self.key}, timeout=30
        )

    def checkout(self, user: str, **changes: Any) -> requests.Response:
        body = {
            "user_id": user,
            "project_id": int(PROJECT),
            "price_id": "price_it_monthly",
            "mode": "subscription",
            "success_url": f"{ORIGIN}/billing/success",
            "cancel_url": f"{ORIGIN}/billing/cancel",
            **changes,
        }
        return self.post("/api/v1/checkout/session", body)

    def portal(self, user: str, return_url: str = f"{ORIGIN}/account") -> requests.Response:
        body = {"user_id": user, "project_id": PROJECT, "return_url": return_url}
        return self.post("/api/v1/portal/session", body)

    def eligibility(self, user: str) -> Any:
        response = requests.get(
            f"{self.stack.url}/api/v1/portal/eligibility",
            params={"user_id": user, "project_id": PROJECT},
            headers={"X-API-Key": self.key},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def shop(stack: StackProcess) -> Shop:
    stack.admin("project", "create", "--id", PROJECT, "--name", "shop", "--origin", ORIGIN)
    stack.admin("project", "create", "--id", FOREIGN_PROJECT, "--name", "elsewhere")
    register_price(stack, PROJECT, "price_it_monthly", recurring=True)
    register_price(stack, PROJECT, "price_it_lifetime", recurring=False)
    register_price(stack, FOREIGN_PROJECT, "price_it_foreign", recurring=True)
    key = stack.admin("app", "create", "--project", PROJECT, "--name", "shop")["api_key"]
    return Shop(stack, key)


def new_user() -> str:
    return f"user_{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize(
    ("price_id", "mode"),
    [("price_it_monthly", "subscription"), ("price_it_lifetime", "payment")],
)
def test_checkout_in_both_modes_returns_a_url_the_standin_serves(
    shop: Shop, price_id: str, mode: str
) -> None:
    response = shop.checkout(new_user(), price_id=price_id, mode=mode)
    assert response.status_code == 200, response.text
    url = response.json()["checkout_url"]
    assert url.startswith(standin_url(shop.stack))
    page = requests.get(url, timeout=10)
    assert page.status_code == 200
    assert "Pay" in page.text


def test_retrying_the_same_checkout_creates_one_session(shop: Shop) -> None:
    user = new_user()
    first, again = shop.checkout(user), shop.checkout(user)
    assert first.status_code == again.status_code == 200
    assert first.json()["session_id"] == again.json()["session_id"]


@pytest.mark.parametrize("price_id", ["price_it_foreign", "price_never_registered"])
def test_a_price_not_registered_for_the_project_is_404(shop: Shop, price_id: str) -> None:
    response = shop.checkout(new_user(), price_id=price_id)
    assert response.status_code == 404
    assert price_id in response.json()["message"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"success_url": "https://elsewhere.example.net/ok"}, "success_url"),
        ({"cancel_url": "not a url"}, "cancel_url"),
        ({"mode": "payment"}, "mode"),
        ({"mode": "rent"}, "mode"),
        ({"quantity": 0}, "quantity"),
    ],
)
def test_bad_input_is_422_naming_the_field(shop: Shop, changes: dict[str, Any], field: str) -> None:
    response = shop.checkout(new_user(), **changes)
    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in response.json()["errors"]]


def test_the_portal_and_eligibility_follow_the_first_checkout(shop: Shop) -> None:
    user = new_user()
    assert shop.eligibility(user)["eligible"] is False
    before = shop.portal(user)
    assert before.status_code == 404
    assert before.json() == {"message": "customer not found: complete a checkout first"}

    assert shop.checkout(user).status_code == 200

    assert shop.eligibility(user)["eligible"] is True
    after = shop.portal(user)
    assert after.status_code == 200, after.text
    portal_url = after.json()["portal_url"]
    assert portal_url.startswith(standin_url(shop.stack))
    assert requests.get(portal_url, timeout=10).status_code == 200
    assert shop.portal(user, "https://elsewhere.example.net/").status_code == 422


# ------------------------------------------------------------------ Stripe failing
class BrokenStripe(BaseHTTPRequestHandler):
    """Answers 500 to everything, drops the connection, or answers too late for the
    gateway's read timeout (``mode`` = "500" | "drop" | "slow")."""

    mode = "500"

    def do_POST(self) -> None:
        if BrokenStripe.mode == "drop":
            self.connection.close()
            return
        if BrokenStripe.mode == "slow":
            time.sleep(READ_TIMEOUT_SECONDS + 1)
        body = json.dumps({"error": {"type": "api_error", "message": "boom"}}).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Request-Id", "req_broken_1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def broken_stripe_stack(tmp_path: Path) -> Iterator[tuple[StackProcess, str]]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), BrokenStripe)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    stack = start_stack(
        tmp_path / "state", STRIPE_SECRET_KEY="sk_test_broken", STRIPE_API_BASE=base
    )
    stack.admin("demo", "seed")
    try:
        yield stack, base
    finally:
        stack.stop()
        server.shutdown()


@pytest.mark.parametrize(("mode", "status"), [("500", 502), ("drop", 503), ("slow", 503)])
def test_stripe_failing_gives_502_or_503_and_stores_nothing(
    broken_stripe_stack: tuple[StackProcess, str], mode: str, status: int
) -> None:
    stack, _ = broken_stripe_stack
    BrokenStripe.mode = mode
    response = requests.post(
        f"{stack.url}/api/v1/checkout/session",
        json={
            "user_id": "user_broken",
            "project_id": 1,
            "price_id": "price_123",
            "mode": "subscription",
            "success_url": "https://app.example.com/ok",
            "cancel_url": "https://app.example.com/cancel",
        },
        headers={"X-API-Key": "sk_demo_space_journal"},
        timeout=60,
    )
    assert response.status_code == status, response.text
    assert response.json()["message"] == "Stripe is unavailable, retry later"
    if mode == "500":
        assert response.json()["stripe_request_id"] == "req_broken_1"
    items = stack.dynamodb().scan(TableName="CustomersTable")["Items"]
    assert items == []
