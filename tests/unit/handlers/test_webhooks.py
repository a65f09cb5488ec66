import base64
import io
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


def test_an_encoded_delivery_is_415_and_nothing_is_queued(aws: dict[str, str]) -> None:
    """Stripe's deliveries carry no Content-Encoding (the test above); one that says gzip is
    no Stripe delivery, whatever its signature."""
    body = json.dumps(STRIPE_EVENT).encode()
    event = load_event("webhook_receiver.json")
    event.pop("multiValueHeaders", None)
    event["headers"].update({"Stripe-Signature": signed(body), "Content-Encoding": "gzip"})
    event["body"] = body.decode()
    response = invoke("webhook_receiver", event)
    assert response["statusCode"] == 415, response["body"]
    assert [e["field"] for e in json_body(response)["errors"]] == ["Content-Encoding"]
    assert queued(aws["WebhookQueue"]) == []


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


# ------------------------------------------------------------------ observability


def emitted_metrics(stdout: str) -> dict[str, list[float]]:
    """The EMF metrics Powertools printed: name -> values (Billing namespace, service dim)."""
    found: dict[str, list[float]] = {}
    for line in stdout.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        blob = json.loads(line)
        (directive,) = blob["_aws"]["CloudWatchMetrics"]
        # What the alarms of template.yaml watch: namespace Billing, dimension service=billing.
        assert directive["Namespace"] == "Billing"
        assert directive["Dimensions"] == [["service"]]
        assert blob["service"] == "billing"
        for metric in directive["Metrics"]:
            value = blob[metric["Name"]]
            found.setdefault(metric["Name"], []).extend(
                value if isinstance(value, list) else [value]
            )
    return found


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def subscription_event(event_id: str, created: int, user: str = "user_42") -> str:
    from tests.support import stripe_events as se

    return se.event(
        "customer.subscription.created",
        se.subscription(f"sub_{event_id}", metadata={"project_id": "1", "user_id": user}),
        created,
        event_id=event_id,
    )


def test_the_consumer_reports_each_applied_events_lag_from_its_creation(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    now = int(time.time())
    batch = sqs_batch(
        subscription_event("evt_lag_1", now - 120), subscription_event("evt_lag_2", now - 30, "u2")
    )
    assert invoke("webhook_consumer", batch) == {"batchItemFailures": []}
    found = emitted_metrics(capsys.readouterr().out)
    assert found["WebhookEventsApplied"] == [1, 1]
    lags = found["WebhookLagSeconds"]
    assert len(lags) == 2
    assert 120 <= lags[0] < 130
    assert 30 <= lags[1] < 40
    assert "WebhookEventsFailed" not in found


def test_an_event_recorded_without_change_reports_its_lag_but_a_replay_does_not(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("webhook_consumer.json")  # applied + ignored (recorded)
    invoke("webhook_consumer", event)
    first = emitted_metrics(capsys.readouterr().out)
    assert first["WebhookEventsApplied"] == [1]
    assert first["WebhookEventsRecorded"] == [1]
    assert len(first["WebhookLagSeconds"]) == 2
    assert all(lag >= 0 for lag in first["WebhookLagSeconds"])

    invoke("webhook_consumer", event)
    replay = emitted_metrics(capsys.readouterr().out)
    assert replay["WebhookEventsDuplicate"] == [1, 1]
    assert "WebhookLagSeconds" not in replay


def test_an_event_from_the_future_reports_no_negative_lag(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Stripe's clock and Lambda's are not the same clock.
    invoke("webhook_consumer", sqs_batch(subscription_event("evt_ahead", int(time.time()) + 5)))
    assert emitted_metrics(capsys.readouterr().out)["WebhookLagSeconds"] == [0]


def test_every_failed_record_is_counted_for_the_alarm(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.adapters.dynamo.ledger import DynamoBillingLedger

    now = int(time.time())
    real_commit = DynamoBillingLedger.commit

    def crash_on(self: DynamoBillingLedger, change: Any, at: Any) -> bool:
        if change.event.event_id == "evt_crash":
            raise RuntimeError("injected crash")
        return real_commit(self, change, at)

    monkeypatch.setattr(DynamoBillingLedger, "commit", crash_on)
    batch = sqs_batch(
        subscription_event("evt_fine", now - 10),
        "not json",
        subscription_event("evt_crash", now, "u2"),
    )
    result = invoke("webhook_consumer", batch)
    # A failed record is not a Lambda error (the batch answers normally): only the metric
    # shows it.
    assert result == {
        "batchItemFailures": [{"itemIdentifier": "msg-1"}, {"itemIdentifier": "msg-2"}]
    }
    found = emitted_metrics(capsys.readouterr().out)
    assert found["WebhookEventsFailed"] == [1, 1]
    assert found["WebhookEventsApplied"] == [1]
    assert len(found["WebhookLagSeconds"]) == 1


def test_each_records_logs_carry_its_event_id_as_correlation_id(
    aws: dict[str, str], service_logs: io.StringIO
) -> None:
    from billing.observability import logger

    now = int(time.time())
    batch = sqs_batch(
        subscription_event("evt_corr_1", now),
        "not json",
        subscription_event("evt_corr_2", now, "u2"),
    )
    # What the receiver puts beside the body: the only id a body that is no event has.
    batch["Records"][1]["messageAttributes"]["stripe_event_id"] = {
        "stringValue": "evt_unreadable",
        "dataType": "String",
    }
    invoke("webhook_consumer", batch)
    logger.info("after the invocation")

    lines = log_lines(service_logs)
    processed = [line for line in lines if line["message"] == "event processed"]
    assert [line["correlation_id"] for line in processed] == ["evt_corr_1", "evt_corr_2"]
    assert [line["stripe_event_type"] for line in processed] == [
        "customer.subscription.created"
    ] * 2
    (failed,) = [line for line in lines if line["message"].startswith("event not applied")]
    assert failed["correlation_id"] == "evt_unreadable"
    assert failed["message_id"] == "msg-1"
    # Cleared after each record: nothing later inherits the last one.
    assert "correlation_id" not in lines[-1]


def test_a_record_without_an_id_anywhere_logs_without_a_correlation_id(
    aws: dict[str, str], service_logs: io.StringIO
) -> None:
    invoke("webhook_consumer", sqs_batch("not json", subscription_event("evt_ok", 1_790_000_000)))
    (failed,) = [line for line in log_lines(service_logs) if line["level"] == "ERROR"]
    assert "correlation_id" not in failed


def test_a_batch_that_fails_whole_is_a_lambda_error_and_still_counted(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    # Powertools raises when every record failed: Lambda's Errors metric (the other alarm)
    # sees it, and the metrics are flushed all the same.
    with pytest.raises(BatchProcessingError):
        invoke("webhook_consumer", sqs_batch("not json", "{}"))
    assert emitted_metrics(capsys.readouterr().out) == {"WebhookEventsFailed": [1, 1]}


def test_the_receiver_logs_under_the_event_id_once_it_is_verified(
    aws: dict[str, str], service_logs: io.StringIO
) -> None:
    body = json.dumps(STRIPE_EVENT).encode()
    assert delivery(body, signed(body))["statusCode"] == 200
    # The next delivery, refused, must not inherit the previous one's id (a warm container).
    assert delivery(body, "t=1,v1=00")["statusCode"] == 400

    lines = log_lines(service_logs)
    (enqueued,) = [line for line in lines if line["message"] == "webhook enqueued"]
    assert enqueued["correlation_id"] == STRIPE_EVENT["id"]
    (refused,) = [line for line in lines if line["message"] == "webhook refused"]
    assert "correlation_id" not in refused
    assert WEBHOOK_SECRET not in service_logs.getvalue()


def test_an_enqueue_failure_is_logged_under_the_event_id(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch, service_logs: io.StringIO
) -> None:
    monkeypatch.setenv("WEBHOOK_QUEUE_URL", aws["WebhookQueue"].replace("WebhookQueue", "Gone"))
    body = json.dumps(STRIPE_EVENT).encode()
    assert delivery(body, signed(body))["statusCode"] == 503
    (warning,) = [line for line in log_lines(service_logs) if line["level"] == "WARNING"]
    assert warning["correlation_id"] == STRIPE_EVENT["id"]
