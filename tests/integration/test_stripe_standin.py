"""The local stack's Stripe stand-in over real HTTP: the stack starts it (and seeds
``price_123``), its Checkout page's Pay button sends signed webhooks that the service's
receiver accepts and its consumer records, and its portal sessions are served."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe

from billing_devstack.launcher import (
    LaunchError,
    StackProcess,
    free_port,
    launch_ready,
    processes_of,
    wait_until,
)
from tests.integration.conftest import start_stack

pytestmark = pytest.mark.integration

SUCCESS_URL = "https://app.example.com/billing/done?session={CHECKOUT_SESSION_ID}"
EXPECTED = [
    "customer.created",
    "checkout.session.completed",
    "customer.subscription.created",
    "invoice.payment_succeeded",
    "invoice.paid",
    "payment_intent.succeeded",
]


@pytest.fixture(scope="module")
def standin_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    """A stack of its own, started with the demo seed (its stand-in gets ``price_123``)."""
    running = start_stack(tmp_path_factory.mktemp("standin"), LOCAL_SEED_DEMO="1")
    yield running
    running.stop()


def standin_url(stack: StackProcess) -> str:
    return f"http://127.0.0.1:{stack.env['LOCAL_STRIPE_PORT']}"


@pytest.fixture(scope="module")
def client(standin_stack: StackProcess) -> stripe.StripeClient:
    """The SDK as the service configures it locally: the stand-in's key and URL."""
    return stripe.StripeClient(
        "sk_test_local_standin", base_addresses={"api": standin_url(standin_stack)}
    )


@pytest.fixture(scope="module")
def paid(standin_stack: StackProcess, client: stripe.StripeClient) -> dict[str, Any]:
    """A subscription bought through the Checkout page's Pay button."""
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": "price_123", "quantity": 1}],
            "success_url": SUCCESS_URL,
            "client_reference_id": "u_integration",
            "metadata": {"project_id": "1", "user_id": "u_integration"},
            "subscription_data": {"metadata": {"project_id": "1", "user_id": "u_integration"}},
        }
    )
    assert session.url is not None
    page = requests.get(session.url, timeout=10)
    assert page.status_code == 200
    assert "9.00 USD" in page.text
    found = re.search(r"<form method='post' action='([^']+)'>", page.text)
    assert found is not None, page.text
    answer = requests.post(
        standin_url(standin_stack) + found.group(1), allow_redirects=False, timeout=10
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["Location"] == SUCCESS_URL.replace("{CHECKOUT_SESSION_ID}", session.id)
    return {"session": client.v1.checkout.sessions.retrieve(session.id)}


def test_the_stack_runs_the_stand_in_and_seeds_the_demo_price(
    standin_stack: StackProcess, client: stripe.StripeClient
) -> None:
    assert f"Stripe stand-in on {standin_url(standin_stack)}" in standin_stack.log_text()
    price = client.v1.prices.retrieve("price_123")
    assert (price.unit_amount, price.currency, price.type) == (900, "usd", "recurring")
    assert price.recurring is not None
    assert price.recurring.interval == "month"


def test_the_pay_button_delivers_signed_webhooks_the_service_records(
    standin_stack: StackProcess, paid: dict[str, Any]
) -> None:
    session = paid["session"]
    assert (session.status, session.payment_status) == ("complete", "paid")

    def reports() -> list[dict[str, Any]]:
        answer = requests.get(f"{standin_url(standin_stack)}/_standin/events", timeout=10)
        data: list[dict[str, Any]] = answer.json()["data"]
        return data

    def all_delivered() -> bool:
        return all(report["delivery"]["status"] == "delivered" for report in reports())

    assert wait_until(all_delivered, 30, 0.5), (reports(), standin_stack.log_text()[-3000:])
    events = reports()
    assert [report["type"] for report in events] == EXPECTED
    assert all(report["delivery"]["last_status"] == 200 for report in events)

    dynamodb = standin_stack.dynamodb()

    def all_recorded() -> bool:
        return all(
            "Item"
            in dynamodb.get_item(
                TableName="WebhookEventsTable", Key={"event_id": {"S": report["id"]}}
            )
            for report in events
        )

    assert wait_until(all_recorded, 30, 0.5), standin_stack.log_text()[-3000:]


def test_a_portal_session_url_serves_the_customers_subscriptions(
    standin_stack: StackProcess, client: stripe.StripeClient, paid: dict[str, Any]
) -> None:
    session = paid["session"]
    portal = client.v1.billing_portal.sessions.create(
        params={"customer": session.customer, "return_url": "https://app.example.com/account"}
    )
    assert portal.url.startswith(f"{standin_url(standin_stack)}/portal/bps_")
    page = requests.get(portal.url, timeout=10)
    assert page.status_code == 200
    assert str(session.subscription) in page.text
    assert "href='https://app.example.com/account'" in page.text


def test_the_workers_are_pointed_at_the_stand_in(
    standin_stack: StackProcess, paid: dict[str, Any]
) -> None:
    """The webhook receiver ran (paid delivered to it), so its worker exists; its
    environment is what every function gets."""
    del paid
    expected = f"STRIPE_API_BASE={standin_url(standin_stack)}".encode()
    environments = []
    for pid in processes_of(standin_stack.state_dir):
        try:
            if b"billing_devstack.worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                environments.append(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"))
        except OSError:
            continue
    assert environments
    assert all(expected in environment for environment in environments)


class _Receiver(BaseHTTPRequestHandler):
    """Records each webhook POST; answers 500 to the first one, so the stand-in retries."""

    received: list[tuple[bytes, str]] = []  # noqa: RUF012 - one receiver per test

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((body, self.headers["Stripe-Signature"]))
        self.send_response(500 if len(self.received) == 1 else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@contextmanager
def standalone(tmp_path: Path, hook: str, secret: str) -> Iterator[str]:
    """``python -m billing_devstack.stripe_standin`` on a free port, sending its webhooks to
    ``hook``: its URL. Stopped with SIGTERM afterwards, which it must survive cleanly."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{url}/_standin/health", timeout=2).ok
        except requests.RequestException:
            return False

    try:
        standin = launch_ready(
            "the Stripe stand-in",
            [sys.executable, "-m", "billing_devstack.stripe_standin", "--port", str(port)],
            tmp_path / "standin.log",
            up,
            30,
            env={
                "PATH": "/usr/bin:/bin",
                "STANDIN_WEBHOOK_URL": hook,
                "STRIPE_WEBHOOK_SECRET": secret,
            },
        )
    except LaunchError as exc:
        pytest.fail(str(exc))
    try:
        yield url
    finally:
        returncode = standin.stop(grace=30)
    assert returncode == 0, standin.log_text()


@contextmanager
def receiving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A webhook receiver on a free port: its URL."""
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_the_stand_in_runs_alone_and_signs_its_webhooks(tmp_path: Path) -> None:
    with receiving(_Receiver) as hook, standalone(tmp_path, hook, "whsec_alone") as url:
        created = requests.post(
            f"{url}/v1/customers",
            data={"email": "a@example.com"},
            auth=("sk_test_x", ""),
            timeout=10,
        )
        assert created.status_code == 200, created.text
        assert wait_until(lambda: len(_Receiver.received) >= 2, 30)
    body, header = _Receiver.received[-1]
    event = stripe.Webhook.construct_event(body.decode(), header, "whsec_alone")
    assert (event.type, event.data.object.id) == ("customer.created", created.json()["id"])


class _AskingReceiver(BaseHTTPRequestHandler):
    """Records each webhook, after asking the stand-in for the event (as the service's
    engine asks Stripe for the truth) while the stand-in waits for the answer."""

    standin = ""
    received: list[tuple[str, int]] = []  # noqa: RUF012 - one receiver per test

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        event = stripe.Webhook.construct_event(
            body.decode(), self.headers["Stripe-Signature"], "whsec_order"
        )
        asked = requests.get(
            f"{self.standin}/v1/events/{event.id}", auth=("sk_test_x", ""), timeout=10
        )
        self.received.append((event.id, asked.status_code))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def test_held_events_go_out_over_http_in_the_order_asked(tmp_path: Path) -> None:
    with receiving(_AskingReceiver) as hook, standalone(tmp_path, hook, "whsec_order") as url:
        _AskingReceiver.standin = url
        assert requests.post(f"{url}/_standin/webhooks", json={"held": True}, timeout=10).ok
        for email in ("first@example.com", "second@example.com"):
            requests.post(
                f"{url}/v1/customers", data={"email": email}, auth=("sk_test_x", ""), timeout=10
            ).raise_for_status()
        events = requests.get(f"{url}/_standin/events", timeout=10).json()["data"]
        assert [report["delivery"]["status"] for report in events] == ["held", "held"]
        first, second = (report["id"] for report in events)

        answer = requests.post(
            f"{url}/_standin/events/deliver", json={"ids": [second, first, second]}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert [(row["id"], row["http_status"]) for row in answer.json()["data"]] == [
            (second, 200),
            (first, 200),
            (second, 200),
        ]
        assert _AskingReceiver.received == [(second, 200), (first, 200), (second, 200)]

        moved = requests.post(f"{url}/_standin/clock", json={"now": 1_893_456_000}, timeout=10)
        assert moved.json() == {"now": 1_893_456_000}
        assert moved.raw.headers.getlist("Date") == ["Tue, 01 Jan 2030 00:00:00 GMT"]
