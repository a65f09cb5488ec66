"""billing-admin's commands of issue #22: history, project webhook, deliveries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from billing.domain.clock import to_iso
from tests.unit.admin.conftest import run_cli

pytestmark = pytest.mark.usefixtures("cli")


def _grant_and_revoke(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "project", "create", "--id", "1", "--name", "p")[0] == 0
    common = ["--project", "1", "--user", "user_42", "--feature", "beta", "--by", "support"]
    assert run_cli(capsys, "grant", *common, "--reason", "pilot")[0] == 0
    assert run_cli(capsys, "revoke", *common, "--reason", "pilot over")[0] == 0


def test_history_at_now_shows_the_revoked_grant_and_the_window_lists_both_changes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _grant_and_revoke(capsys)
    code, out, _ = run_cli(capsys, "history", "--project", "1", "--user", "user_42")
    assert code == 0
    assert "version 2" in out
    assert "beta: inactive (revoked) via manual" in out

    since = to_iso(datetime.now(UTC) - timedelta(minutes=1))
    code, out, _ = run_cli(
        capsys, "--json", "history", "--project", "1", "--user", "user_42", "--since", since
    )
    assert code == 0
    changes = json.loads(out)["changes"]
    assert [(c["version"], c["cause"]["kind"], c["cause"]["actor"]) for c in changes] == [
        (1, "grant", "support"),
        (2, "revoke", "support"),
    ]


def test_history_before_any_change_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    _grant_and_revoke(capsys)
    code, out, _ = run_cli(
        capsys, "history", "--project", "1", "--user", "user_42", "--at", "2020-01-01T00:00:00Z"
    )
    assert (code, out.strip()) == (0, "at 2020-01-01T00:00:00Z: no entitlements recorded yet")


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--at", "yesterday"], "at"),
        (["--until", "2026-01-01T00:00:00Z"], "since"),
        (["--at", "2026-01-01T00:00:00Z", "--since", "2025-01-01T00:00:00Z"], "at"),
        (["--since", "2026-01-01T00:00:00"], "since"),
    ],
)
def test_history_refuses_what_is_no_moment_naming_the_option(
    capsys: pytest.CaptureFixture[str], argv: list[str], field: str
) -> None:
    code, _, err = run_cli(capsys, "history", "--project", "1", "--user", "user_42", *argv)
    assert code == 2
    assert err.startswith(f"error: {field}: ")
