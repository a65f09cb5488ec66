"""`make invoke` runs one function on one event file with no stack running: it starts what the
function needs (DynamoDB Local with the template's tables, moto, the Stripe stand-in), prints
the function's result, and stops all of it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from billing_devstack.config import REPO_ROOT
from billing_devstack.launcher import processes_of, stack_environment

pytestmark = pytest.mark.integration


def invoke(state_dir: Path, function_id: str, event_file: str) -> subprocess.CompletedProcess[str]:
    """``python -m billing_devstack invoke`` with the caller's LOCAL_STATE_DIR set to
    ``state_dir``: every process it starts inherits the variable, so leftovers can be found."""
    return subprocess.run(
        [sys.executable, "-m", "billing_devstack", "invoke", function_id, event_file],
        cwd=REPO_ROOT,
        env=stack_environment(state_dir),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_health_function_answers_from_an_event_file(tmp_path: Path) -> None:
    result = invoke(tmp_path, "HealthFunction", "events/health.json")

    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)  # stdout is the result alone; logs go to stderr
    assert payload["statusCode"] == 200
    assert json.loads(payload["body"]) == {"status": "ok"}
    assert processes_of(tmp_path) == []


def test_the_entitlement_read_runs_against_fresh_tables(tmp_path: Path) -> None:
    """Its event names project 1 and user_42; the tables it reads start empty, as in a fresh
    deployment, so the read succeeds with nothing to list."""
    result = invoke(tmp_path, "EntitlementsFunction", "events/entitlements.json")

    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["statusCode"] == 200
    assert json.loads(payload["body"]) == {"entitlements": [], "usage": []}
    assert processes_of(tmp_path) == []


def test_a_function_that_raises_exits_1_with_lambdas_error_object(tmp_path: Path) -> None:
    """The authorizer given no API key raises Unauthorized (API Gateway's contract for a 401):
    nothing on stdout, Lambda's error object on stderr."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"type": "REQUEST", "methodArn": "arn", "headers": None}))

    result = invoke(tmp_path, "ApiKeyAuthorizerFunction", str(event))

    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert '"errorMessage": "Unauthorized"' in result.stderr
    assert processes_of(tmp_path) == []
