"""Deliveries: Stripe's signature scheme, retries, delivery state, the background thread."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Mapping

import pytest
import stripe

from billing_devstack.stripe_standin.webhooks import Delivery, WebhookSender, signature_header
from tests.unit.devstack.stripe_standin.conftest import HOOK_URL, START, Clock, Harness, Outbox


def test_the_signature_is_hmac_sha256_over_timestamp_dot_payload() -> None:
    payload = b'{"id": "evt_1"}'
    header = signature_header(payload, ["whsec_a"], 1_700_000_000)
    expected = hmac.new(b"whsec_a", b"1700000000." + payload, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_several_secrets_give_one_v1_each_and_either_verifies() -> None:
    payload = json.dumps({"id": "evt_1", "object": "event"}).encode()
    header = signature_header(payload, ["whsec_old", "whsec_new"], START)
    assert header.count("v1=") == 2
    for secret in ("whsec_old", "whsec_new"):
        stripe.WebhookSignature.verify_header(payload.decode(), header, secret, tolerance=10**10)


def sender_with(outbox: Outbox, attempts: int = 4) -> WebhookSender:
    return WebhookSender(
        HOOK_URL, ["whsec_t"], transport=outbox, attempts=attempts, backoff=0.0, clock=Clock()
    )


def test_a_failed_delivery_is_retried_until_accepted() -> None:
    outbox = Outbox(answers=[500, OSError("connection refused"), 200])
    sender = sender_with(outbox)
    sender.submit("evt_1", b"{}")
    assert sender.delivery("evt_1") == Delivery(url=HOOK_URL)
    sender.drain()
    assert len(outbox.posts) == 3
    delivery = sender.delivery("evt_1")
    assert delivery is not None
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("delivered", 3, 200)
    assert delivery.delivered_at == START


def test_a_delivery_that_keeps_failing_is_marked_failed() -> None:
    outbox = Outbox(answers=[400, OSError("refused")])
    sender = sender_with(outbox, attempts=2)
    sender.submit("evt_1", b"{}")
    sender.drain()
    delivery = sender.delivery("evt_1")
    assert delivery is not None
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("failed", 2, None)
    assert delivery.last_error == "refused"


def test_the_background_thread_delivers_and_stops() -> None:
    delivered = threading.Event()
    outbox = Outbox()

    def transport(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        status = outbox(url, body, headers, timeout)
        delivered.set()
        return status

    sender = WebhookSender(HOOK_URL, ["whsec_t"], transport=transport)
    sender.start()
    sender.submit("evt_1", b"{}")
    assert delivered.wait(5)
    sender.stop()
    assert [url for url, _, _ in outbox.posts] == [HOOK_URL]


def test_a_sender_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        WebhookSender(HOOK_URL, [])


def test_standin_events_list_their_delivery(harness: Harness) -> None:
    harness.outbox.answers = [503, 503, 503, 503]
    harness.call("POST", "/v1/customers", "email=a@x.io")
    _, _, before = harness.call("GET", "/_standin/events", key=None)
    assert before["data"][0]["delivery"]["status"] == "pending"
    harness.deliver()
    _, _, after = harness.call("GET", "/_standin/events", key=None)
    report = after["data"][0]
    assert (report["type"], report["delivery"]["status"], report["delivery"]["attempts"]) == (
        "customer.created",
        "failed",
        4,
    )
    assert report["delivery"]["last_status"] == 503
    event = harness.call("GET", f"/v1/events/{report['id']}")[2]
    assert event["pending_webhooks"] == 1


def test_without_a_sender_events_are_only_recorded() -> None:
    from billing_devstack.stripe_standin import StripeStandIn

    standin = StripeStandIn()
    standin.handle("POST", "/v1/customers", {"Authorization": "Bearer sk_test_x"}, b"")
    status, _, body = standin.handle("GET", "/_standin/events", {}, b"")
    report = json.loads(body)["data"][0]
    assert (status, report["delivery"]) == (200, {"status": "not_sent"})
    assert standin.emitted()[0]["pending_webhooks"] == 0


# ------------------------------------------------------------------ paused (misconfigured endpoint)
def webhooks_control(harness: Harness, body: str = "") -> tuple[int, object]:
    status, _, answer = harness.call("POST", "/_standin/webhooks", body, key=None)
    return status, answer


def test_paused_webhooks_record_events_but_drop_their_deliveries(harness: Harness) -> None:
    assert harness.call("GET", "/_standin/webhooks", key=None)[2] == {
        "paused": False,
        "held": False,
    }
    assert webhooks_control(harness, '{"paused": true}') == (200, {"paused": True, "held": False})
    assert harness.call("GET", "/_standin/webhooks", key=None)[2] == {
        "paused": True,
        "held": False,
    }
    customer = harness.call("POST", "/v1/customers", "email=a@x.io")[2]
    harness.call("POST", f"/v1/customers/{customer['id']}", "name=A")

    assert harness.deliver() == []
    events = harness.call("GET", "/v1/events")[2]["data"]
    assert [event["type"] for event in events] == ["customer.updated", "customer.created"]
    assert all(event["pending_webhooks"] == 0 for event in events)  # nothing will be sent
    reports = harness.call("GET", "/_standin/events", key=None)[2]["data"]
    assert [report["delivery"] for report in reports] == [
        {
            "url": HOOK_URL,
            "status": "dropped",
            "attempts": 0,
            "last_status": None,
            "last_error": None,
            "delivered_at": None,
        }
    ] * 2


def test_resuming_sends_new_events_only(harness: Harness) -> None:
    assert harness.standin.pause_webhooks() is True
    harness.call("POST", "/v1/customers", "email=dropped@x.io")
    assert harness.standin.pause_webhooks(False) is False
    harness.call("POST", "/v1/customers", "email=sent@x.io")

    assert harness.deliver() == ["customer.created"]
    assert harness.outbox.events()[0]["data"]["object"]["email"] == "sent@x.io"
    assert harness.deliver() == []
    statuses = [
        report["delivery"]["status"]
        for report in harness.call("GET", "/_standin/events", key=None)[2]["data"]
    ]
    assert statuses == ["dropped", "delivered"]


def test_a_flow_while_paused_drops_every_event_it_emits(harness: Harness) -> None:
    harness.standin.pause_webhooks(True)
    body = (
        "mode=subscription&line_items[0][price]=price_123&line_items[0][quantity]=1"
        "&success_url=https://app.example.com/ok"
    )
    session = harness.call("POST", "/v1/checkout/sessions", body)[2]
    harness.standin.pay_checkout(session["id"])
    assert harness.deliver() == []
    assert len(harness.standin.emitted()) == 6
    for event in harness.standin.emitted():
        delivery = harness.sender.delivery(event["id"])
        assert delivery is not None
        assert (delivery.status, delivery.attempts) == ("dropped", 0)


def test_a_failed_request_while_paused_leaves_no_delivery(harness: Harness) -> None:
    harness.standin.pause_webhooks(True)
    status, _, _ = harness.call("POST", "/v1/customers", "email=a@x.io&expand[]=email")
    assert status == 400
    assert harness.standin.emitted() == []
    assert harness.call("GET", "/_standin/events", key=None)[2]["data"] == []


@pytest.mark.parametrize(
    ("body", "param"), [('{"paused": "yes"}', "paused"), ('{"pause": true}', "pause")]
)
def test_the_webhooks_control_refuses_bad_bodies(harness: Harness, body: str, param: str) -> None:
    status, answer = webhooks_control(harness, body)
    assert status == 400
    assert isinstance(answer, dict)
    assert answer["error"]["param"] == param
    assert harness.standin.events.paused is False


def test_pausing_without_a_webhook_url_only_records() -> None:
    from billing_devstack.stripe_standin import StripeStandIn

    standin = StripeStandIn()
    standin.pause_webhooks()
    standin.handle("POST", "/v1/customers", {"Authorization": "Bearer sk_test_x"}, b"")
    status, _, body = standin.handle("GET", "/_standin/events", {}, b"")
    assert (status, json.loads(body)["data"][0]["delivery"]) == (200, {"status": "not_sent"})
