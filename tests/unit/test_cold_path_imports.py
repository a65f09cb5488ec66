"""Functions import only what they use: the hot paths never pay for stripe or the X-Ray SDK."""

import json
import subprocess
import sys

import pytest

from tests.support.lambda_runtime import FUNCTIONS_DIR, REPO_ROOT

HEAVY = ("stripe", "aws_xray_sdk", "boto3")

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
        ("entitlements", set()),
        ("entitlement_check", set()),
        ("api_key_authorizer", set()),
        ("health", set()),
        ("webhook_receiver", {"boto3"}),
        ("webhook_consumer", {"aws_xray_sdk"}),
    ],
)
def test_handlers_import_only_what_they_use(function: str, allowed: set[str]) -> None:
    assert set(modules_loaded_by(function)) <= allowed


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
