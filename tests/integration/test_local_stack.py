"""The local stack over real HTTP: probes, routing, the SQS path, failure and shutdown."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
import requests

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

from billing_devstack.config import REPO_ROOT
from billing_devstack.launcher import StackProcess, processes_of, stack_environment, wait_until
from billing_devstack.template import load_template

pytestmark = pytest.mark.integration


def local_command(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "billing_devstack", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# ------------------------------------------------------------------ probes and routing
def test_health_answers_ok(stack: StackProcess) -> None:
    response = requests.get(f"{stack.url}/health", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_live_and_ready_answer_200(stack: StackProcess) -> None:
    assert requests.get(f"{stack.url}/live", timeout=10).status_code == 200
    assert requests.get(f"{stack.url}/ready", timeout=10).status_code == 200


def test_an_unknown_route_gets_api_gateways_answer(stack: StackProcess) -> None:
    response = requests.get(f"{stack.url}/no/such/route", timeout=10)
    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


def test_a_protected_route_without_an_api_key_is_401(stack: StackProcess) -> None:
    response = requests.get(f"{stack.url}/api/v1/entitlements", params={"user_id": "u"}, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_a_protected_route_with_an_unknown_api_key_is_401(stack: StackProcess) -> None:
    response = requests.get(
        f"{stack.url}/api/v1/entitlements",
        params={"user_id": "u"},
        headers={"X-API-Key": "pk_unknown_key_0000"},
        timeout=20,
    )
    assert response.status_code == 401


# ------------------------------------------------------------------ SQS -> consumer -> DLQ
def test_a_message_the_consumer_keeps_failing_ends_in_the_dlq_after_5_receives(
    stack: StackProcess,
) -> None:
    sqs = stack.sqs()
    queue = sqs.get_queue_url(QueueName="WebhookQueue")["QueueUrl"]
    dlq = sqs.get_queue_url(QueueName="WebhookDeadLetterQueue")["QueueUrl"]
    message_id = sqs.send_message(QueueUrl=queue, MessageBody="not json")["MessageId"]

    dead: list[MessageTypeDef] = []

    def in_dlq() -> bool:
        dead.extend(
            sqs.receive_message(
                QueueUrl=dlq, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
            ).get("Messages", [])
        )
        return any(message["Body"] == "not json" for message in dead)

    assert wait_until(in_dlq, 60, 0.5), stack.log_text()[-3000:]
    (message,) = [m for m in dead if m["Body"] == "not json"]
    max_receives = (
        load_template(REPO_ROOT / "template.yaml", "http://unused")
        .queue("WebhookQueue")
        .max_receive_count
    )
    assert max_receives == 5
    assert int(message["Attributes"]["ApproximateReceiveCount"]) >= max_receives
    failures = [
        line for line in stack.log_text().splitlines() if f"message {message_id} failed" in line
    ]
    assert len(failures) == max_receives, failures  # one consumer invocation per receive
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_a_signed_webhook_goes_through_the_queue_into_dynamodb_local(stack: StackProcess) -> None:
    event_id = f"evt_local_{uuid.uuid4().hex}"
    payload = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "customer.created",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": {"id": "cus_local", "object": "customer"}},
        }
    ).encode()
    timestamp = int(time.time())
    # Stripe's scheme, with the stack's local stand-in secret (STRIPE_WEBHOOK_SECRET default).
    signed = str(timestamp).encode() + b"." + payload
    digest = hmac.new(b"whsec_local_standin", signed, hashlib.sha256).hexdigest()

    response = requests.post(
        f"{stack.url}/api/v1/webhooks/stripe",
        data=payload,
        headers={
            "Stripe-Signature": f"t={timestamp},v1={digest}",
            "Content-Type": "application/json",
        },
        timeout=20,
    )

    assert 200 <= response.status_code < 300, response.text
    dynamodb = stack.dynamodb()
    key = {"event_id": {"S": event_id}}

    def recorded() -> bool:
        return "Item" in dynamodb.get_item(TableName="WebhookEventsTable", Key=key)

    assert wait_until(recorded, 30, 0.5), stack.log_text()[-3000:]


# ------------------------------------------------------------------ destructive (own stacks)
def test_ready_is_503_with_a_reason_when_dynamodb_local_stops(own_stack: StackProcess) -> None:
    assert requests.get(f"{own_stack.url}/ready", timeout=10).status_code == 200
    os.kill(own_stack.pid_of("dynamodb"), signal.SIGKILL)

    response = requests.get(f"{own_stack.url}/ready", timeout=30)

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["reason"]
    assert requests.get(f"{own_stack.url}/health", timeout=10).status_code == 200


def test_killing_the_stack_takes_every_child_with_it(own_stack: StackProcess) -> None:
    requests.get(f"{own_stack.url}/health", timeout=10)  # a worker exists now
    assert len(processes_of(own_stack.state_dir)) >= 4  # stack, java, moto, worker

    own_stack.process.kill()  # SIGKILL: no cleanup code runs, only PR_SET_PDEATHSIG
    own_stack.process.wait()

    assert wait_until(lambda: not processes_of(own_stack.state_dir), 20), processes_of(
        own_stack.state_dir
    )


def test_up_then_down_leaves_no_process_behind(tmp_path: Path) -> None:
    """`make up` / `make down`; with LOCAL_PERSIST=1, down lets the stack stop in order, so what
    its queues hold is saved (here a dead letter) before the moto server stops."""
    env = stack_environment(tmp_path, LOCAL_PERSIST="1")
    try:
        up = local_command(env, "up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert (tmp_path / "stack.pid").exists()
        assert local_command(env, "status").returncode == 0
        assert local_command(env, "up").returncode == 1  # already up
        port = env["LOCAL_GATEWAY_PORT"]
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
        assert len(processes_of(tmp_path)) >= 3
        sqs = boto3.client(
            "sqs",
            endpoint_url=f"http://127.0.0.1:{env['LOCAL_MOTO_PORT']}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        dlq = sqs.get_queue_url(QueueName="WebhookDeadLetterQueue")["QueueUrl"]
        sqs.send_message(QueueUrl=dlq, MessageBody="kept across make down")
    finally:
        down = local_command(env, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert processes_of(tmp_path) == []
    backlog = json.loads((tmp_path / "sqs-backlog.json").read_text())
    saved = backlog["queues"]["WebhookDeadLetterQueue"]
    assert [message["body"] for message in saved] == ["kept across make down"]
    assert not (tmp_path / "stack.pid").exists()
    again = local_command(env, "down")
    assert again.returncode == 0
    assert "not running" in again.stdout
    assert local_command(env, "status").returncode == 1


# ------------------------------------------------------------------ preflight
def test_run_refuses_a_port_already_taken(tmp_path: Path) -> None:
    env = stack_environment(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(env["LOCAL_MOTO_PORT"])))
        taken.listen()
        result = local_command(env, "run", timeout=60)
    assert result.returncode == 2
    assert env["LOCAL_MOTO_PORT"] in result.stderr
    assert "LOCAL_MOTO_PORT" in result.stderr


def test_run_refuses_to_start_without_java(tmp_path: Path) -> None:
    env = stack_environment(tmp_path, PATH=str(tmp_path / "empty"))
    result = local_command(env, "run", timeout=60)
    assert result.returncode == 2
    assert "Java not found" in result.stderr
