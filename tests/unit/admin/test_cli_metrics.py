"""billing-admin metrics: the figures of the scripted month, its text, its chart, its errors.

The month and its hand-computed figures are those of tests/unit/services/test_metrics.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from billing import wiring
from billing.services import tenancy
from billing_admin.cli import render
from tests.unit.admin.conftest import run_cli as run
from tests.unit.services.test_metrics import HAND_COMPUTED, NOW, PRICES, script_the_month

WINDOW = ("--since", "2026-11-01T00:00:00Z", "--until", "2026-12-01T00:00:00Z")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def month(cli: None) -> None:
    tenancy.create_project(wiring.project_store(), name="space_journal", project_id=1, now=NOW)
    for price in PRICES:
        wiring.price_store().put(price)
    script_the_month()


def test_json_figures_match_the_hand_computation(
    month: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "metrics", "1", *WINDOW, "--json")
    assert code == 0
    report = json.loads(out)
    assert set(report) == {"subscriptions", "revenue"}
    subs = report["subscriptions"]
    assert subs["counts_by_status"] == {"active": 3, "canceled": 1, "past_due": 1, "trialing": 1}
    assert (subs["total_active"], subs["new"], subs["churned"]) == (4, 2, 2)
    assert subs["by_price"] == {
        "price_m_eur": {"active": 2, "feature_codes": ["pro"]},
        "price_m_usd": {"active": 1, "feature_codes": ["pro"]},
        "price_y_usd": {"active": 1, "feature_codes": ["pro"]},
    }
    assert subs["by_feature"] == {"pro": 4}
    assert (subs["since"], subs["until"]) == ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
    assert report["revenue"]["currencies"] == subs["currencies"] == HAND_COMPUTED


def test_the_text_shows_minor_and_major_units(
    month: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "metrics", "1", *WINDOW)
    assert code == 0
    for expected in (
        "gross:    6775 (67.75 USD)",
        "refunded: 5900 (59.00 USD)",
        "disputed: 0 (0.00 USD)",
        "net:      875 (8.75 USD)",
        "MRR:      2275 (22.75 USD)",
        "ARR:      27300 (273.00 USD)",
        "ARR:      9600 (96.00 EUR)",
        "MRR movements: 2500 (25.00 USD) at start",
        "+ new:          2225 (22.25 USD)",
        "- churned:      2450 (24.50 USD)",
        "= at end:        2275 (22.75 USD)",
        "customers: 2 at start, 2 at end, 2 new, 0 reactivated, 2 churned",
        "churn: customers 100.00%, revenue 98.00%",
        "by status:    active 3, canceled 1, past_due 1, trialing 1",
        "total active: 4",
        "price_y_usd: 1 active (pro)",
        "pro: 4",
    ):
        assert expected in out, expected


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (7000, "usd", "7000 (70.00 USD)"),
        (5, "eur", "5 (0.05 EUR)"),
        (-150, "usd", "-150 (-1.50 USD)"),
        (1500, "jpy", "1500 (1500 JPY)"),
        (0, "krw", "0 (0 KRW)"),
    ],
)
def test_money_is_shown_in_minor_and_major_units(amount: int, currency: str, shown: str) -> None:
    assert render.money(amount, currency) == shown


def test_png_writes_a_chart(
    month: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chart = tmp_path / "metrics.png"
    code, out, _ = run(capsys, "metrics", "1", *WINDOW, "--png", str(chart))
    assert code == 0
    assert f"chart written to {chart}" in out
    data = chart.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 10_000


def test_png_draws_mrr_by_movement_per_day_and_the_mrr_line(
    month: None, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the chart draws, read back from its figure: the USD panel's bars are each day's
    movements (d's grace ran out Nov 8, a new subscription Nov 10), they add up to the
    window's movements, and the line is MRR at each day's end."""
    import matplotlib.pyplot as plt

    drawn: list[Any] = []
    monkeypatch.setattr(plt, "close", drawn.append)
    code, out, _ = run(capsys, "metrics", "1", *WINDOW, "--json", "--png", str(tmp_path / "c.png"))
    assert code == 0
    (figure,) = drawn
    try:
        axes = {axis.get_ylabel(): axis for axis in figure.axes}
        bars = {
            str(c.get_label()): [p.get_height() for p in c.patches]
            for c in axes["movements (USD)"].containers
        }
        (line,) = axes["MRR (USD, black line)"].get_lines()
        counts = [p.get_height() for p in axes["subscriptions"].containers[0].patches]
    finally:
        plt.close(figure)
    assert list(bars) == ["new", "reactivation", "expansion", "contraction", "churned"]
    assert all(len(heights) == 30 for heights in bars.values())
    assert bars["churned"][7] == -9.0, "Nov 8: d's grace ran out"
    assert bars["new"][9] == 15.5, "Nov 10"
    movements = json.loads(out)["revenue"]["currencies"]["usd"]["movements"]
    for kind, heights in bars.items():
        assert round(abs(sum(heights)) * 100) == movements[kind], kind
    mrr = [float(y) for y in line.get_ydata()]
    assert (mrr[0], mrr[-1]) == (25.0, 22.75), "USD MRR at Nov 1's end and Nov 30's"
    assert (counts[0], counts[-1]) == (3, 4)


def test_png_with_json_keeps_stdout_one_object(
    month: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chart = tmp_path / "metrics.png"
    code, out, err = run(capsys, "metrics", "1", *WINDOW, "--png", str(chart), "--json")
    assert code == 0
    assert set(json.loads(out)) == {"subscriptions", "revenue"}
    assert f"chart written to {chart}" in err
    assert chart.read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--since", "yesterday"], "since"),
        (["--until", "2026-13-01T00:00:00Z"], "until"),
        (["--since", "2026-11-01T00:00:00"], "since"),  # no timezone
        (["--since", "2026-12-01T00:00:00Z", "--until", "2026-11-01T00:00:00Z"], "since"),
    ],
)
def test_a_bad_window_exits_2_naming_the_field(
    cli: None, capsys: pytest.CaptureFixture[str], argv: list[str], field: str
) -> None:
    code, _, err = run(capsys, "metrics", "1", *argv)
    assert code == 2
    assert err.startswith(f"error: {field}: ")
    code, _, err = run(capsys, "metrics", "1", *argv, "--json")
    assert code == 2
    assert json.loads(err)["error"]["field"] == field


def test_an_unknown_project_gets_an_empty_report(
    month: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "metrics", "42", *WINDOW, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["subscriptions"]["total_active"] == 0
    assert report["subscriptions"]["counts_by_status"] == {}
    assert report["revenue"]["currencies"] == {}
    chart = tmp_path / "empty.png"
    code, out, _ = run(capsys, "metrics", "42", *WINDOW, "--png", str(chart))
    assert code == 0
    assert "by status:    none" in out
    assert "revenue: none" in out
    assert chart.read_bytes()[:8] == PNG_SIGNATURE


def test_the_cli_does_not_load_matplotlib_without_png(
    month: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    assert run(capsys, "metrics", "1", *WINDOW)[0] == 0
    assert "matplotlib" not in sys.modules
