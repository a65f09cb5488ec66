"""billing_client.verify_webhook: what the service signs verifies, anything else is refused,
and it agrees with the Standard Webhooks reference library both ways."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from billing.domain.standard_webhooks import signed_headers
from billing_client import WebhookReplayGuard, WebhookVerificationError, verify_webhook

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER = "whsec_" + base64.b64encode(bytes(range(32, 64))).decode()
BODY = json.dumps({"type": "entitlements.updated", "data": {"version": 3}}).encode()
NOW = int(time.time())


def signed(*secrets: str, at: int = NOW, message_id: str = "msg_1") -> dict[str, str]:
    return signed_headers(message_id, at, BODY, list(secrets or [SECRET]))


def test_a_delivery_the_service_signed_verifies_and_returns_its_body() -> None:
    assert verify_webhook(BODY, signed(), SECRET, now=NOW) == json.loads(BODY)
    assert verify_webhook(BODY.decode(), signed(), [OTHER, SECRET], now=NOW)["data"] == {
        "version": 3
    }


def test_the_reference_library_and_the_client_agree_on_each_others_signatures() -> None:
    Webhook(SECRET).verify(BODY, signed())  # the service's signature, the library's check
    library_signature = Webhook(SECRET).sign(
        "msg_9", datetime.fromtimestamp(NOW, UTC), BODY.decode()
    )
    headers = {
        "webhook-id": "msg_9",
        "webhook-timestamp": str(NOW),
        "webhook-signature": library_signature,
    }
    assert verify_webhook(BODY, headers, SECRET, now=NOW) == json.loads(BODY)


def test_during_a_rotation_either_secret_verifies() -> None:
    both = signed(OTHER, SECRET)
    assert verify_webhook(BODY, both, SECRET, now=NOW)
    assert verify_webhook(BODY, both, OTHER, now=NOW)


@pytest.mark.parametrize(
    ("body", "headers", "secret", "says"),
    [
        (BODY.replace(b"3", b"4"), signed(), SECRET, "no signature matches"),
        (BODY, signed(), OTHER, "no signature matches"),
        (BODY, {**signed(), "webhook-id": "msg_2"}, SECRET, "no signature matches"),
        (BODY, signed(at=NOW - 301), SECRET, "outside the tolerance"),
        (BODY, signed(at=NOW + 301), SECRET, "outside the tolerance"),
        (BODY, {**signed(), "webhook-timestamp": "1e9"}, SECRET, "not epoch seconds"),
        (BODY, {**signed(), "webhook-signature": "v2,abc v1,!!!"}, SECRET, "no signature"),
        (BODY, {"webhook-id": "msg_1", "webhook-timestamp": str(NOW)}, SECRET, "missing header"),
    ],
)
def test_anything_else_is_refused(
    body: bytes, headers: dict[str, str], secret: str, says: str
) -> None:
    with pytest.raises(WebhookVerificationError, match=says):
        verify_webhook(body, headers, secret, now=NOW)


def test_a_replay_within_the_tolerance_is_refused_by_the_guard() -> None:
    guard = WebhookReplayGuard()
    verify_webhook(BODY, signed(), SECRET, now=NOW, replay_guard=guard)
    with pytest.raises(WebhookVerificationError, match="replay"):
        verify_webhook(BODY, signed(), SECRET, now=NOW + 10, replay_guard=guard)
    verify_webhook(BODY, signed(message_id="msg_2"), SECRET, now=NOW, replay_guard=guard)


def test_headers_are_found_in_any_letter_case() -> None:
    shouted = {name.upper(): value for name, value in signed().items()}
    assert verify_webhook(BODY, shouted, SECRET, now=NOW)
