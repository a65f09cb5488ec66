import base64
import json
import time
from typing import Any

import boto3
import pytest

from billing import wiring
from billing.adapters.dynamo.models import WebhookEventModel
from billing.domain.webhook_signature import signature_header
from tests.support.lambda_runtime import invoke, json_body, load_event
from tests.unit.conftest import WEBHOOK_SECRET

STRIPE_EVENT = json.loads(load_event("webhook_receiver.json")["body"])


def delivery(body: bytes, header: str | None, event_file: str = "webhook_receiver.json") -> Any:
    event = load_event(event_file)
    headers = event["headers"]
    for name in list(headers):
        if name.lower() == "stripe-signature":
            del headers[name]
    if header is not None:
        headers["Stripe-Signature"] = header
    event.pop("multiValueHeaders", None)
    event["body"] = body.decode("utf-8")
    return invoke("webhook_receiver", event)


def signed(body: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    return signature_header(body, secret, int(time.time()) if at is None else at)


def queued(queue_url: str) -> list[str]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    return [m["Body"] for m in messages.get("Messages", [])]


def test_a_signed_event_is_queued_raw_and_answered_200(aws: dict[str, str]) -> None:
    body = json.dumps(STRIPE_EVENT).encode()
    response = delivery(body, signed(body))
    assert response["statusCode"] == 200
    assert json_body(response) == {"received": True, "id": STRIPE_EVENT["id"]}
    assert queued(aws["WebhookQueue"]) == [body.decode()]


def test_the_function_url_payload_is_served_too(aws: dict[str, str]) -> None:
    body = json.dumps(STRIPE_EVENT).encode()
    event = load_event("webhook_receiver_function_url.json")
    event["headers"]["stripe-signature"] = signed(body)
    event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = True
    response = invoke("webhook_receiver", event)
    assert response["statusCode"] == 200
    assert queued(aws["WebhookQueue"]) == [body.decode()]


@pytest.mark.parametrize(
    "header",
    [
        None,
        "t=1,v1=00",
        "signature",
        pytest.param("WRONG_SECRET", id="wrong-secret"),
        pytest.param("STALE", id="stale"),
    ],
)
def test_bad_signatures_get_400_and_nothing_is_queued(
    aws: dict[str, str], header: str | None
) -> None:
    body = json.dumps(STRIPE_EVENT).encode()
    if header == "WRONG_SECRET":
        header = signed(body, secret="whsec_someone_else")
    elif header == "STALE":
        header = signed(body, at=int(time.time()) - 301)
    response = delivery(body, header)
    assert response["statusCode"] == 400
    assert json_body(response)["message"].startswith("invalid signature")
    assert queued(aws["WebhookQueue"]) == []
    assert marks() == {}


def test_a_tampered_body_gets_400_and_nothing_is_queued(aws: dict[str, str]) -> None:
    body = json.dumps(STRIPE_EVENT).encode()
    header = signed(body)
    tampered = body.replace(b'"status": "active"', b'"status": "canceled"')
    assert tampered != body
    response = delivery(tampered, header)
    assert response["statusCode"] == 400
    assert queued(aws["WebhookQueue"]) == []
    assert marks() == {}


def test_a_signed_body_that_is_not_json_gets_400(aws: dict[str, str]) -> None:
    body = b"<xml>not json</xml>"
    response = delivery(body, signed(body))
    assert response["statusCode"] == 400
    assert queued(aws["WebhookQueue"]) == []


def test_a_signed_body_that_is_not_an_event_gets_400(aws: dict[str, str]) -> None:
    body = b'{"hello": "world"}'
    response = delivery(body, signed(body))
    assert response["statusCode"] == 400
    assert queued(aws["WebhookQueue"]) == []


def test_an_oversized_body_gets_413_before_any_work(aws: dict[str, str]) -> None:
    body = json.dumps({**STRIPE_EVENT, "padding": "x" * 200_000}).encode()
    response = delivery(body, signed(body))
    assert response["statusCode"] == 413
    assert queued(aws["WebhookQueue"]) == []


def test_both_secrets_are_accepted_during_a_rotation(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", f"whsec_new,{WEBHOOK_SECRET}")
    body = json.dumps(STRIPE_EVENT).encode()
    assert delivery(body, signed(body, secret="whsec_new"))["statusCode"] == 200
    assert delivery(body, signed(body))["statusCode"] == 200


def test_sqs_down_gets_503_so_stripe_retries(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_QUEUE_URL", aws["WebhookQueue"].replace("WebhookQueue", "Gone"))
    body = json.dumps(STRIPE_EVENT).encode()
    assert delivery(body, signed(body))["statusCode"] == 503


def sqs_batch(*bodies: str) -> dict[str, Any]:
    template = load_event("webhook_consumer.json")["Records"][0]
    return {
        "Records": [
            {**template, "messageId": f"msg-{i}", "body": body} for i, body in enumerate(bodies)
        ]
    }


def marks() -> dict[str, str]:
    wiring.bound_settings()
    return {m.event_id: m.outcome for m in WebhookEventModel.scan()}


def test_the_consumer_records_each_event_once(aws: dict[str, str]) -> None:
    event = load_event("webhook_consumer.json")
    assert invoke("webhook_consumer", event) == {"batchItemFailures": []}
    # A subscription event of a mapped user is applied; an invoice without a subscription is
    # recorded as ignored.
    assert marks() == {"evt_1QExample0001": "applied", "evt_1QExample0002": "ignored"}
    # A replay (Stripe delivers at least once) is acknowledged and changes nothing.
    assert invoke("webhook_consumer", event) == {"batchItemFailures": []}
    assert len(marks()) == 2


def test_a_poison_message_fails_alone(aws: dict[str, str]) -> None:
    good = json.dumps(STRIPE_EVENT)
    result = invoke("webhook_consumer", sqs_batch(good, "not json", good))
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}
    assert marks() == {STRIPE_EVENT["id"]: "applied"}


def test_a_crash_mid_batch_loses_no_event_and_applies_each_once(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.adapters.dynamo.ledger import DynamoBillingLedger
    from tests.support import stripe_events as se

    bodies = [
        se.event(
            "customer.subscription.created",
            se.subscription(f"sub_{n}", metadata={"project_id": "1", "user_id": f"user_{n}"}),
            1_790_000_000,
            event_id=f"evt_batch_{n}",
        )
        for n in range(3)
    ]
    real_commit = DynamoBillingLedger.commit
    commits: list[str] = []

    def crash_on_second(self: DynamoBillingLedger, change: Any, now: Any) -> bool:
        commits.append(change.event.event_id)
        if len(commits) == 2:
            raise RuntimeError("injected crash")
        return real_commit(self, change, now)

    monkeypatch.setattr(DynamoBillingLedger, "commit", crash_on_second)
    first = invoke("webhook_consumer", sqs_batch(*bodies))
    assert first == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}
    assert marks() == {"evt_batch_0": "applied", "evt_batch_2": "applied"}

    # SQS redelivers the failed message (here: the whole batch again, the worst case).
    again = invoke("webhook_consumer", sqs_batch(*bodies))
    assert again == {"batchItemFailures": []}
    assert marks() == {f"evt_batch_{n}": "applied" for n in range(3)}
    assert commits.count("evt_batch_1") == 2
    assert commits.count("evt_batch_0") == 1  # a replay is a duplicate: no second commit
