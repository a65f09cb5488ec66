"""The local stack (`python -m billing_devstack run`) as a subprocess on free ports, for
integration tests.

Each stack gets its own LOCAL_STATE_DIR; every process it starts (java, moto, workers) inherits
that variable, which is how tests find them in /proc afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests

from billing_devstack.config import REPO_ROOT

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

START_TIMEOUT = 90.0
BILLING_ADMIN = Path(sys.executable).with_name("billing-admin")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stack_environment(state_dir: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without LOCAL_* and STRIPE_* settings (so the Stripe
    stand-in runs), plus free ports and a state dir."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("LOCAL_", "STRIPE_"))
    }
    env.update(
        LOCAL_GATEWAY_PORT=str(free_port()),
        LOCAL_DYNAMODB_PORT=str(free_port()),
        LOCAL_MOTO_PORT=str(free_port()),
        LOCAL_STRIPE_PORT=str(free_port()),
        LOCAL_STATE_DIR=str(state_dir),
        **extra,
    )
    return env


def wait_for(check: Any, timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return bool(check())


@dataclass
class RunningStack:
    """One `python -m billing_devstack run` and how to reach it."""

    process: subprocess.Popen[bytes]
    env: dict[str, str]
    state_dir: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['LOCAL_GATEWAY_PORT']}"

    def pid_of(self, child: str) -> int:
        """The pid of a child (dynamodb, moto) from its pid file."""
        return int((self.state_dir / f"{child}.pid").read_text())

    def sqs(self) -> SQSClient:
        return boto3.client(
            "sqs",
            endpoint_url=f"http://127.0.0.1:{self.env['LOCAL_MOTO_PORT']}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def dynamodb(self) -> DynamoDBClient:
        return boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{self.env['LOCAL_DYNAMODB_PORT']}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def admin(self, *argv: str) -> Any:
        """Run the installed billing-admin against this stack; return its --json output."""
        result = subprocess.run(
            [str(BILLING_ADMIN), "--json", *argv],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"billing-admin {' '.join(argv)}: {result.stderr}"
        return json.loads(result.stdout)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _healthy(stack: RunningStack) -> bool:
    if stack.process.poll() is not None:
        return True
    try:
        return requests.get(f"{stack.url}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def start_stack(state_dir: Path, **extra_env: str) -> RunningStack:
    """Start a stack and wait until /health answers 200 (or fail with its log)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    env = stack_environment(state_dir, **extra_env)
    log = state_dir / "run.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "billing_devstack", "run"],
            cwd=REPO_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    stack = RunningStack(process, env, state_dir, log)
    if not wait_for(lambda: _healthy(stack), START_TIMEOUT) or process.poll() is not None:
        stack.stop()
        pytest.fail(f"the local stack did not come up:\n{stack.log_text()[-5000:]}")
    return stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """One stack shared by the non-destructive tests."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[RunningStack]:
    """A stack of the test's own, for tests that break or kill it."""
    running = start_stack(tmp_path / "state")
    yield running
    running.stop()
