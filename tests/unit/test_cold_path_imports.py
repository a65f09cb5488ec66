"""Functions import only what they use: the hot paths never pay for stripe or the X-Ray SDK,
the authorizer not even for pydantic, and no function for the use cases it does not serve."""

import json
import subprocess
import sys

import pytest

from tests.support.lambda_runtime import FUNCTIONS_DIR, REPO_ROOT

HEAVY = (
    "stripe",
    "aws_xray_sdk",
    "boto3",
    "pydantic",
    "pydantic_settings",
    # Other use cases' domain and adapters (ports.py and wiring.py once loaded them all).
    "billing.domain.billing_facts",
    "billing.domain.ledger",
    "billing.domain.reconciliation",
    "billing.domain.tenancy",
    "billing.adapters.dynamo.ledger",
    "billing.adapters.dynamo.reconciliation",
    "billing.adapters.dynamo.tenancy",
)
# Every API route validates its input with pydantic (Powertools' event handler).
API = {"pydantic"}
# The consumer's engine turns Stripe events into billing facts on the ledger, per project.
WEBHOOK_CONSUMER = {
    "aws_xray_sdk",
    "billing.domain.billing_facts",
    "billing.domain.ledger",
    "billing.domain.tenancy",
}
# The metrics' code: only the metrics routes (and billing-admin) need it.
METRICS = ("billing.domain.metrics", "billing.domain.mrr", "billing.services.metrics")

PROBE = """
import json, sys
sys.path[:0] = [{function_dir!r}, {layer_dir!r}]
import app
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def modules_loaded_by(function: str, watched: tuple[str, ...] = HEAVY) -> list[str]:
    code = PROBE.format(
        function_dir=str(FUNCTIONS_DIR / function),
        layer_dir=str(REPO_ROOT / "layers" / "shared"),
        heavy=watched,
    )
    env = {"POWERTOOLS_SERVICE_NAME": "billing", "POWERTOOLS_METRICS_NAMESPACE": "Billing"}
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, env=env, check=True
    )
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    ("function", "allowed"),
    [
        ("entitlements", API),
        ("entitlement_check", API),
        ("api_key_authorizer", set()),
        ("health", API),
        ("webhook_receiver", API | {"boto3"}),
        ("webhook_consumer", WEBHOOK_CONSUMER),
    ],
)
def test_handlers_import_only_what_they_use(function: str, allowed: set[str]) -> None:
    assert set(modules_loaded_by(function)) <= allowed


@pytest.mark.parametrize(
    "function", ["entitlements", "entitlement_check", "api_key_authorizer", "webhook_consumer"]
)
def test_the_hot_paths_never_load_the_metrics(function: str) -> None:
    assert modules_loaded_by(function, METRICS) == []


def test_the_metrics_routes_do_load_them() -> None:
    """The probe sees these modules where they are used (so the test above can fail)."""
    assert set(modules_loaded_by("revenue_metrics", METRICS)) == set(METRICS)


# Issue #22's code (the change log, outbound webhooks, tokens): only its own functions and the
# record's writers load it, never the hot paths.
PUSHED_CHANGES = (
    "billing.domain.change_log",
    "billing.adapters.dynamo.change_log",
    "billing.services.history",
    "billing.domain.webhook_endpoints",
    "billing.domain.standard_webhooks",
    "billing.adapters.dynamo.webhook_endpoints",
    "billing.services.outbound_webhooks",
    "billing.domain.tokens",
    "billing.adapters.kms_signer",
    "billing.services.tokens",
)


@pytest.mark.parametrize(
    "function", ["entitlements", "entitlement_check", "api_key_authorizer", "webhook_receiver"]
)
def test_the_hot_paths_never_load_the_pushed_changes_code(function: str) -> None:
    assert modules_loaded_by(function, PUSHED_CHANGES) == []
