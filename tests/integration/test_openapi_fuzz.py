"""Schemathesis against the local stack, driven by the OpenAPI document the stack serves.

Every operation is called with generated input, valid and invalid, twice: once as generated
(mostly another project's id: 403) and once with the key's own project filled in, which takes
the input past tenancy into validation, DynamoDB and the Stripe stand-in. The second run also
has the stateful phase: scenarios that follow the document's links (a grant, then its revoke,
the reads and the audit pages of the granted user). Query parameters are also sent repeated.
The checks fail on any 5xx and on any answer the document does not describe (status, content
type, body schema, headers). Bounded: a number of examples per operation
(BILLING_FUZZ_EXAMPLES; `make soak` draws many more), and a timeout per run. Each run's
figures go to artifacts/test-reports/schemathesis-<run>.json.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from billing.api.openapi import operations
from billing_devstack.launcher import StackProcess

pytestmark = pytest.mark.integration

PROJECT = "401"
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    )
)
# Fuzzing phase, and stateful scenarios; the coverage phase adds its boundary cases.
EXAMPLES_PER_OPERATION = int(os.environ.get("BILLING_FUZZ_EXAMPLES", "25"))
SCENARIO_STEPS = 8
# A run of 25 examples takes ~30 s; `--max-time` would fuzz until it is spent.
RUN_TIMEOUT_SECONDS = max(300, 12 * EXAMPLES_PER_OPERATION)
REPORTS = Path(__file__).resolve().parents[2] / "artifacts" / "test-reports"
# A fixed seed keeps CI repeatable; set SCHEMATHESIS_SEED to explore other inputs.
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261125")
SCHEMATHESIS = Path(sys.executable).with_name("st")


@pytest.fixture(scope="module")
def fuzz_key(stack: StackProcess) -> str:
    """An active key with every scope, of a project of the fuzzer's own."""
    stack.admin(
        "project", "create", "--id", PROJECT, "--name", "fuzz", "--origin", "https://fuzz.example"
    )
    return str(stack.admin("app", "create", "--project", PROJECT, "--name", "fuzz")["api_key"])


def schemathesis_run(stack: StackProcess, key: str, tmp_path: Path, *, own_project: bool) -> str:
    """Run `st run` against the stack; return its output, failing the test on any finding."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        (f'[parameters]\n"project_id" = "{PROJECT}"\n' if own_project else "")
        + "[phases.coverage]\ngenerate-duplicate-query-parameters = true\n"
        + f"[phases.stateful]\nmax-steps = {SCENARIO_STEPS}\n"
    )
    phases = "examples,coverage,fuzzing" + (",stateful" if own_project else "")
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, BILLING_FUZZ_PROJECT_ID=PROJECT, NO_COLOR="1", PYTHONPATH=str(repo))
    if own_project:
        env["SCHEMATHESIS_HOOKS"] = "tests.integration.schemathesis_hooks"
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{stack.url}/api/v1/openapi.json",
        "--url",
        stack.url,
        "--header",
        f"X-API-Key: {key}",
        "--checks",
        CHECKS,
        "--phases",
        phases,
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        SEED,
        "--request-timeout",
        "30",
        "--workers",
        "4",
        "--generation-database",
        "none",
        "--report",
        "junit",
        "--report-junit-path",
        str(tmp_path / "schemathesis.xml"),
    ]
    result = subprocess.run(
        command,
        cwd=tmp_path,  # schemathesis keeps a cache of crashes in its working directory
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    output = result.stdout + result.stderr
    figures = run_figures(output)
    REPORTS.mkdir(parents=True, exist_ok=True)
    name = "own-project" if own_project else "as-generated"
    (REPORTS / f"schemathesis-{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    assert result.returncode == 0, f"schemathesis found problems:\n{output[-20000:]}"
    return output


def run_figures(output: str) -> dict[str, Any]:
    """What a run did, from schemathesis' summary: test cases generated and passed (every
    one a request; each passed all the checks, so no 5xx and no undocumented answer), and the
    stateful phase's scenarios and links."""
    figures: dict[str, Any] = {"examples_per_operation": EXAMPLES_PER_OPERATION}
    cases = re.search(r"Test cases:\s*\n\s*(.+)", output)
    if cases:
        figures["test_cases"] = cases.group(1).strip()  # "N generated, N passed" when clean
    for label in ("Scenarios", "API Links"):
        found = re.search(rf"{label}:\s+(.+)", output)
        if found:
            figures[label.lower().replace(" ", "_")] = found.group(1).strip()
    return figures


def operations_tested(output: str) -> int:
    """The "Tested: N" of schemathesis' summary."""
    line = next(line for line in output.splitlines() if line.strip().startswith("Tested:"))
    return int(line.split(":")[1])


def fuzzable_operations(stack: StackProcess) -> int:
    """Every operation the served document lists, but the document's own route: schemathesis
    does not call the URL it loaded the schema from."""
    document = requests.get(f"{stack.url}/api/v1/openapi.json", timeout=20).json()
    return len(operations(document)) - 1


def test_no_operation_answers_5xx_or_outside_the_document(
    stack: StackProcess, fuzz_key: str, tmp_path: Path
) -> None:
    output = schemathesis_run(stack, fuzz_key, tmp_path, own_project=False)
    assert operations_tested(output) == fuzzable_operations(stack), output[-3000:]


def test_as_the_keys_own_project_no_operation_answers_5xx_or_outside_the_document(
    stack: StackProcess, fuzz_key: str, tmp_path: Path
) -> None:
    """Also statefully: scenarios follow the document's links from real answers (a grant,
    then its revoke, reads and audit pages), so the links are exercised, not only listed."""
    output = schemathesis_run(stack, fuzz_key, tmp_path, own_project=True)
    assert operations_tested(output) == fuzzable_operations(stack), output[-3000:]
    links = re.search(r"API Links:\s+(\d+) covered", output)
    assert links is not None and int(links.group(1)) >= 1, output[-3000:]
