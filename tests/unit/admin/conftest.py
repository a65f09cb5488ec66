"""billing-admin's unit-test fixtures: the CLI on the moto tables of tests/unit/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing import wiring
from billing.config import Settings, load_settings
from billing_admin.cli import main as cli_main


@pytest.fixture
def cli(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """billing-admin on the moto tables and queues (its local target would be DynamoDB Local
    and the moto server on their ports)."""

    def connect(stack: str | None, region: str | None) -> Settings:
        return wiring.use_settings(load_settings())

    monkeypatch.setattr(cli_main, "connect", connect)
    yield


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """billing-admin's exit code, stdout and stderr for ``argv``."""
    code = cli_main.run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
