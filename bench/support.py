"""What every benchmark shares: DynamoDB Local on a free port (started by the devstack's
launcher), the service's tables, figures as median/min/max, percentiles, and where results are
written.

Benchmarks report figures beside a baseline measured in the same run; nothing here asserts a
duration.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "artifacts" / "bench"


@dataclass(frozen=True)
class Figure:
    """One measured quantity over several runs."""

    median: float
    low: float
    high: float

    @staticmethod
    def of(values: Sequence[float]) -> Figure:
        return Figure(statistics.median(values), min(values), max(values))


def percentile(samples: Sequence[float], share: float) -> float:
    """The ``share`` (0-1) percentile of ``samples``, nearest rank."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[rank]


def use_dynamodb_local(dynamodb_url: str) -> None:
    """Point this process's service code at ``dynamodb_url`` with quiet logs and no tracing."""
    for name in [n for n in os.environ if n.endswith("_TABLE_NAME") or n.startswith("STRIPE_")]:
        del os.environ[name]
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - DynamoDB Local takes any credentials
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL_DYNAMODB=dynamodb_url,
        POWERTOOLS_LOG_LEVEL="WARNING",
        POWERTOOLS_METRICS_NAMESPACE="Billing",
        POWERTOOLS_SERVICE_NAME="billing",
        POWERTOOLS_TRACE_DISABLED="true",
    )


@contextmanager
def dynamodb_local() -> Iterator[str]:
    """DynamoDB Local on a free port for the length of the block (the devstack's launcher
    starts and stops it); its URL."""
    from billing_devstack.launcher import LaunchError
    from billing_devstack.launcher import dynamodb_local as launched

    try:
        with launched(REPO_ROOT) as url:
            yield url
    except LaunchError as exc:
        sys.exit(f"bench: {exc}")


def fresh_tables(dynamodb_url: str) -> None:
    """Every table of template.yaml, empty, in DynamoDB Local (and the service's stores reset)."""
    from billing import wiring
    from billing_devstack import resources
    from billing_devstack.template import load_template

    template = load_template(REPO_ROOT / "template.yaml", "http://sqs.us-east-1.amazonaws.com")
    client = resources.dynamodb_client(dynamodb_url)
    for name in client.list_tables()["TableNames"]:
        client.delete_table(TableName=name)
    resources.create_tables(client, template.tables)
    wiring.reset()


def write_results(name: str, document: dict[str, Any]) -> Path:
    """``artifacts/bench/<name>.json`` with the machine it ran on; returns the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    stamped = {
        "benchmark": name,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        **document,
    }
    path.write_text(json.dumps(stamped, indent=2) + "\n")
    print(f"written to {path.relative_to(REPO_ROOT)}")
    return path


@contextmanager
def aws_calls() -> Iterator[Counter[str]]:
    """Count the AWS API calls this process makes inside the block, as ``"dynamodb.GetItem"``
    keys. boto3 and PynamoDB both go through botocore's ``BaseClient._make_api_call``; count in
    a pass of its own, not a timed one."""
    from botocore.client import BaseClient

    counts: Counter[str] = Counter()
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private, untyped in stubs

    def counting(client: BaseClient, operation: str, params: Any) -> Any:
        counts[f"{client.meta.service_model.service_name}.{operation}"] += 1
        return original(client, operation, params)

    setattr(BaseClient, "_make_api_call", counting)  # noqa: B010
    try:
        yield counts
    finally:
        setattr(BaseClient, "_make_api_call", original)  # noqa: B010
