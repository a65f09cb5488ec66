"""The local stack's audit cursor key: made at start, never in the repository, plain to the
workers and in moto's SSM for billing-admin."""

from __future__ import annotations

from pathlib import Path

from billing_devstack.config import LocalConfig
from billing_devstack.lambda_runtime import worker_environment
from billing_devstack.stack import CURSOR_KEY_FILE, with_cursor_key
from tests.unit.devstack.test_stack_persist import TEMPLATE


def config(state_dir: Path, **environ: str) -> LocalConfig:
    return LocalConfig.from_env({"LOCAL_STATE_DIR": str(state_dir), **environ})


def test_each_start_makes_a_new_random_key_and_keeps_none_on_disk(tmp_path: Path) -> None:
    first = with_cursor_key(config(tmp_path)).environ["AUDIT_CURSOR_KEY"]
    second = with_cursor_key(config(tmp_path)).environ["AUDIT_CURSOR_KEY"]
    assert first != second and len(first) >= 32
    assert not (tmp_path / CURSOR_KEY_FILE).exists()


def test_a_persisting_stack_keeps_its_key_for_the_next_start(tmp_path: Path) -> None:
    first = with_cursor_key(config(tmp_path, LOCAL_PERSIST="1")).environ["AUDIT_CURSOR_KEY"]
    again = with_cursor_key(config(tmp_path, LOCAL_PERSIST="1")).environ["AUDIT_CURSOR_KEY"]
    assert first == again
    assert (tmp_path / CURSOR_KEY_FILE).stat().st_mode & 0o077 == 0


def test_the_developers_own_key_wins(tmp_path: Path) -> None:
    mine = "m" * 40
    assert (
        with_cursor_key(config(tmp_path, AUDIT_CURSOR_KEY=mine)).environ["AUDIT_CURSOR_KEY"] == mine
    )


def test_the_audit_function_gets_the_key_as_a_plain_value(tmp_path: Path) -> None:
    keyed = with_cursor_key(config(tmp_path))
    env = worker_environment(TEMPLATE.functions["AdminAuditFunction"], keyed)
    assert env["AUDIT_CURSOR_KEY"] == keyed.environ["AUDIT_CURSOR_KEY"]
    assert env["AUDIT_CURSOR_KEY_PARAMETER"] == "/billing/audit-cursor-key"
