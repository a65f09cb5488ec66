"""Unit-test fixtures: a clean Lambda-like environment, and AWS faked in-process by moto."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from billing import wiring
from billing.observability import get_tracer, logger
from tests.support.aws_tables import create_queues, create_tables

# The X-Ray SDK opens its UDP emitter socket at import: create the Tracer before sockets are
# blocked for the tests (it never sends anything, tracing is disabled).
get_tracer()

WEBHOOK_SECRET = "whsec_unit_test"
AUDIT_CURSOR_KEY = "unit-test-audit-cursor-key-0123456789"

_SETTING_PREFIXES = (
    "STRIPE_", "RECONCILIATION_", "WEBHOOK_", "AWS_ENDPOINT_URL", "AUDIT_", "TOKEN_",
)  # fmt: skip
_SETTING_SUFFIXES = ("_TABLE_NAME",)


@pytest.fixture(autouse=True)
def lambda_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment Lambda gives a function, minus anything the developer's shell has set."""
    for name in list(os.environ):
        if name.startswith(_SETTING_PREFIXES) or name.endswith(_SETTING_SUFFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "billing")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Billing")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("AUDIT_CURSOR_KEY", AUDIT_CURSOR_KEY)
    wiring.reset()
    yield
    wiring.reset()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto with the tables and queues of template.yaml; yields the queue URLs by logical id."""
    with mock_aws():
        create_tables(boto3.client("dynamodb", region_name="us-east-1"))
        queues = create_queues(boto3.client("sqs", region_name="us-east-1"))
        monkeypatch.setenv("WEBHOOK_QUEUE_URL", queues["WebhookQueue"])
        monkeypatch.setenv("WEBHOOK_DLQ_URL", queues["WebhookDeadLetterQueue"])
        wiring.reset()
        yield queues


@pytest.fixture
def service_logs() -> Iterator[io.StringIO]:
    """What the service's Logger writes (it holds its own stdout handler, which capsys misses)."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)
