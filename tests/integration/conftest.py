"""The local stack on free ports for the integration tests, started and stopped by the devstack's
launcher (billing_devstack.launcher).

Each stack gets its own LOCAL_STATE_DIR; every process it starts (java, moto, workers) inherits
that variable, which is how tests find them in /proc afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from billing_devstack.launcher import LaunchError, StackProcess, stack_environment
from billing_devstack.launcher import start_stack as launch_stack


def start_stack(state_dir: Path, **extra_env: str) -> StackProcess:
    """A stack of the test's own, up once /health answers 200 (else the test fails with its
    log)."""
    try:
        return launch_stack(stack_environment(state_dir, **extra_env))
    except LaunchError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    """One stack shared by the non-destructive tests."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[StackProcess]:
    """A stack of the test's own, for tests that break or kill it."""
    running = start_stack(tmp_path / "state")
    yield running
    running.stop()
