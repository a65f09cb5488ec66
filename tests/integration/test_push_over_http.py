"""Outbound webhooks over real HTTP against the local stack (issue #22): a receiver run by the
test gets every change of its users, in whatever order, and ends with the newest state; down
for a while, it loses nothing; every delivery verifies with the Standard Webhooks reference
library and with billing_client.verify_webhook, and a forged or replayed one fails both.

The path is the deployed one: grant -> the change log (DynamoDB Local) -> its stream (the
devstack's stream poller) -> the dispatcher -> SQS (moto) -> the sender -> this receiver."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock

import pytest
import standardwebhooks.webhooks
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from billing_client import BillingClient, verify_webhook
from billing_client import WebhookVerificationError as ClientVerificationError
from billing_devstack.launcher import StackProcess, free_port
from tests.support.waiting import read_until

pytestmark = pytest.mark.integration

PROJECT = 322
WAIT_SECONDS = 60.0


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def data(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.body)
        return dict(payload["data"])


@dataclass
class Receiver:
    """A project backend's webhook endpoint: records what it is sent; answers 503 to the first
    attempt of the versions in ``refuse_once`` (so those arrive after later ones)."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    refuse_once: set[int] = field(default_factory=set)
    attempts: dict[str, int] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/billing-hooks"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                delivery = Received({k.lower(): v for k, v in self.headers.items()}, body)
                status = receiver.take(delivery)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Down: nothing listens on the port any more (connections are refused)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def take(self, delivery: Received) -> int:
        with self._lock:
            message_id = delivery.headers["webhook-id"]
            self.attempts[message_id] = self.attempts.get(message_id, 0) + 1
            if delivery.data["version"] in self.refuse_once and self.attempts[message_id] == 1:
                return 503
            self.received.append(delivery)
            return 204

    def of_user(self, user_id: str) -> list[Received]:
        with self._lock:
            return [d for d in self.received if d.data["user_id"] == user_id]

    def newest_state(self, user_id: str) -> Received:
        """What a receiver keeps: per user, the delivery of the highest version."""
        return max(self.of_user(user_id), key=lambda d: int(d.data["version"]))


@dataclass(frozen=True)
class Tenant:
    stack: StackProcess
    client: BillingClient
    secret: str
    receiver: Receiver


@pytest.fixture(scope="module")
def tenant(stack: StackProcess) -> Iterator[Tenant]:
    stack.admin("project", "create", "--id", str(PROJECT), "--name", "pushed")
    key = stack.admin("app", "create", "--project", str(PROJECT), "--name", "push")["api_key"]
    receiver = Receiver()
    receiver.start()
    added = stack.admin(
        "project", "webhook", "add", "--project", str(PROJECT), "--url", receiver.url
    )
    yield Tenant(stack, BillingClient(stack.url, key, timeout=30.0), added["secret"], receiver)
    receiver.stop()


def eventually[T](read: Callable[[], T], done: Callable[[T], bool]) -> T:
    return read_until(read, done, seconds=WAIT_SECONDS)


def _grant(tenant: Tenant, user: str, feature: str) -> None:
    tenant.client.grant(
        user_id=user, project_id=PROJECT, feature_code=feature, granted_by="t", reason="r"
    )


def _revoke(tenant: Tenant, user: str, feature: str) -> None:
    tenant.client.revoke(
        user_id=user, project_id=PROJECT, feature_code=feature, revoked_by="t", reason="r"
    )


def _story(tenant: Tenant, user: str) -> None:
    """Six changes: four grants, two revokes."""
    for feature in ("alpha", "beta", "gamma"):
        _grant(tenant, user, feature)
    _revoke(tenant, user, "alpha")
    _grant(tenant, user, "delta")
    _revoke(tenant, user, "gamma")


def _versions(tenant: Tenant, user: str) -> set[int]:
    return {int(d.data["version"]) for d in tenant.receiver.of_user(user)}


def _active(entitlements: Any) -> dict[str, bool]:
    return {e["feature_code"]: e["active"] for e in entitlements}


def test_the_receiver_gets_every_change_in_any_order_and_ends_with_the_newest_state(
    tenant: Tenant,
) -> None:
    user = f"user_{uuid.uuid4().hex[:8]}"
    tenant.receiver.refuse_once.update({1, 3})  # these come after later versions
    _story(tenant, user)
    eventually(lambda: _versions(tenant, user), lambda found: found == {1, 2, 3, 4, 5, 6})

    arrival = [int(d.data["version"]) for d in tenant.receiver.of_user(user)]
    assert arrival != sorted(arrival), "the refused first attempts arrive later"
    newest = tenant.receiver.newest_state(user)
    now = tenant.client.entitlements(user_id=user, project_id=PROJECT)
    assert _active(newest.data["entitlements"]) == {e.feature_code: e.active for e in now}
    assert _active(newest.data["entitlements"]) == {
        "alpha": False, "beta": True, "gamma": False, "delta": True,
    }  # fmt: skip
    assert newest.data["cause"]["kind"] == "revoke"
    history = tenant.client.history(user_id=user, project_id=PROJECT)
    assert history.version == 6


def test_every_delivery_verifies_with_the_reference_library_and_the_client(
    tenant: Tenant,
) -> None:
    user = f"user_{uuid.uuid4().hex[:8]}"
    _story(tenant, user)
    eventually(lambda: len(_versions(tenant, user)), lambda found: found == 6)
    for delivery in tenant.receiver.of_user(user):
        payload = Webhook(tenant.secret).verify(delivery.body, delivery.headers)
        assert payload == verify_webhook(delivery.body, delivery.headers, tenant.secret)
        assert payload["type"] == "entitlements.updated"
        assert payload["data"]["project_id"] == str(PROJECT)


def test_a_forged_or_replayed_delivery_fails_both(tenant: Tenant) -> None:
    user = f"user_{uuid.uuid4().hex[:8]}"
    _grant(tenant, user, "alpha")
    (delivery,) = eventually(lambda: tenant.receiver.of_user(user), lambda found: len(found) == 1)
    forged = delivery.body.replace(b'"active":true', b'"active":false', 1)
    assert forged != delivery.body
    with pytest.raises(WebhookVerificationError):
        Webhook(tenant.secret).verify(forged, delivery.headers)
    with pytest.raises(ClientVerificationError):
        verify_webhook(forged, delivery.headers, tenant.secret)

    # The same delivery sent again ten minutes later: outside both verifiers' tolerance.
    later = datetime.now(UTC) + timedelta(minutes=10)

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Later:
            return cls.fromtimestamp(later.timestamp(), tz)

    with (
        mock.patch.object(standardwebhooks.webhooks, "datetime", Later),
        pytest.raises(WebhookVerificationError),
    ):
        Webhook(tenant.secret).verify(delivery.body, delivery.headers)
    with pytest.raises(ClientVerificationError):
        verify_webhook(delivery.body, delivery.headers, tenant.secret, now=later.timestamp())


def test_a_receiver_down_for_a_while_then_back_loses_nothing(tenant: Tenant) -> None:
    user = f"user_{uuid.uuid4().hex[:8]}"
    tenant.receiver.stop()
    try:
        _story(tenant, user)
        time.sleep(4.0)  # attempts fail: refused connections, retried after 1 s, 2 s, 4 s...
        assert _versions(tenant, user) == set()
    finally:
        tenant.receiver.start()
    eventually(lambda: _versions(tenant, user), lambda found: found == {1, 2, 3, 4, 5, 6})
    newest = tenant.receiver.newest_state(user)
    assert _active(newest.data["entitlements"])["delta"] is True
