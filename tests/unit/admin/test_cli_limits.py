"""``price add`` with limits per feature, and ``grant --quantity`` (the tables are moto's)."""

from __future__ import annotations

import json

import pytest

from billing import wiring
from billing.domain.allowances import Allowance, FeatureLimit
from tests.unit.admin.conftest import run_cli as run

PRICE = ["price", "add", "--project", "1", "--price", "price_api"]
TERMS = ["--amount", "2900", "--currency", "usd", "--interval", "month"]


@pytest.fixture
def project(cli: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "project", "create", "--name", "p", "--id", "1")[0] == 0


def test_each_feature_takes_the_limit_reset_and_meter_given_after_it(
    project: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        *PRICE,
        "--feature", "pro",
        "--feature", "api_calls", "--limit", "50000", "--reset", "billing_period",
        "--meter", "api_requests",
        "--feature", "seats", "--limit", "10", "--reset", "never",
        *TERMS,
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out.strip() == (
        "registered price_api -> pro,api_calls (50000 per billing_period, meter "
        "api_requests),seats (10 in all): 2900 usd every month"
    )
    stored = wiring.price_store().get("price_api")
    assert stored is not None
    assert stored.feature_codes == ("pro", "api_calls", "seats")
    assert stored.limits == (
        FeatureLimit("api_calls", 50_000, "billing_period", "api_requests"),
        FeatureLimit("seats", 10, "never"),
    )
    _, listed, _ = run(capsys, "--json", "price", "list", "--project", "1")
    assert json.loads(listed)[0]["limits"][0] == {
        "feature_code": "api_calls",
        "limit": 50_000,
        "reset": "billing_period",
        "meter": "api_requests",
    }


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["--limit", "5", "--feature", "pro"], "--limit must follow the --feature it limits"),
        (
            ["--feature", "pro", "--limit", "5"],
            "error: reset: --feature pro: --limit needs --reset",
        ),
        (
            ["--feature", "pro", "--reset", "day"],
            "error: limit: --feature pro: --reset and --meter",
        ),
        (["--feature", "pro", "--limit", "x", "--reset", "day"], "limit: --feature pro: must be"),
        (["--feature", "pro", "--limit", "1", "--limit", "2"], "--limit given twice"),
        (["--feature", "pro", "--limit", "1", "--reset", "weekly"], "invalid choice: 'weekly'"),
        (["--feature", "pro", "--limit", "-1", "--reset", "day"], "error: limit: must be"),
    ],
)
def test_a_bad_limit_is_refused_naming_it_and_registers_nothing(
    project: None, capsys: pytest.CaptureFixture[str], flags: list[str], problem: str
) -> None:
    try:
        code, _, err = run(capsys, *PRICE, *flags, *TERMS)
    except SystemExit as refused:  # argparse's own refusal: usage on stderr, exit 2
        code, err = int(str(refused.code)), capsys.readouterr().err
    assert code == 2
    assert problem in err
    assert wiring.price_store().get("price_api") is None


def test_a_one_time_price_cannot_reset_with_a_billing_period(
    project: None, capsys: pytest.CaptureFixture[str]
) -> None:
    one_time = ["--amount", "900", "--currency", "usd", "--one-time"]
    flags = ["--feature", "credits", "--limit", "100", "--reset", "billing_period"]
    code, _, err = run(capsys, *PRICE, *flags, *one_time)
    assert code == 2
    assert "reset: billing_period needs a recurring price" in err


def test_a_grant_of_credits_with_an_expiry(
    project: None, capsys: pytest.CaptureFixture[str]
) -> None:
    grant = ["grant", "--project", "1", "--user", "u1", "--feature", "api_calls"]
    who = ["--by", "support@example.com", "--reason", "outage credit"]
    code, out, _ = run(
        capsys, "--json", *grant, *who, "--quantity", "1000", "--valid-to", "2099-01-01T00:00:00Z"
    )
    assert code == 0
    assert json.loads(out)["quantity"] == 1000
    ((source,), _) = wiring.grant_store().read("1", "u1")
    assert source.allowance == Allowance(1000, "never")
    code, _, err = run(capsys, *grant, *who, "--quantity", "0")
    assert (code, "quantity: must be" in err) == (2, True)
