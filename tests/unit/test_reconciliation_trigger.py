import pytest

from tests.support.lambda_runtime import invoke, load_event


def test_the_switch_turns_the_run_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILIATION_ENABLED", "false")
    assert invoke("reconciliation", load_event("reconciliation.json")) == {"status": "disabled"}


def test_an_enabled_run_reports_that_nothing_was_reconciled_yet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RECONCILIATION_DAYS_BACK", "5")
    result = invoke("reconciliation", load_event("reconciliation.json"))
    assert result == {"status": "not_built", "days_back": 5}
