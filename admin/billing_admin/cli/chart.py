"""The PNG chart of ``billing-admin metrics --png``: per currency, MRR by movement per day
(stacked bars: new, reactivation and expansion up, contraction and churned down) with the MRR
line, then the subscriptions giving access. matplotlib is a developer dependency
(requirements-dev.txt), imported only here and only when a chart is asked for: the Lambdas and
the rest of the CLI never load it."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from billing_admin.cli.render import ZERO_DECIMAL_CURRENCIES, major_units

GAPPED_BARS_UP_TO = 62  # days; a longer window draws touching bars (thin gaps would alias)
# Each movement's side of the axis and colour, stacked in this order away from zero.
MOVEMENT_BARS = (
    ("new", 1, "tab:green"),
    ("reactivation", 1, "tab:olive"),
    ("expansion", 1, "tab:blue"),
    ("contraction", -1, "tab:orange"),
    ("churned", -1, "tab:red"),
)


def _major(amount: int, currency: str) -> float:
    return amount if currency.lower() in ZERO_DECIMAL_CURRENCIES else amount / 100


def _note(axis: Any, text: str) -> None:
    axis.text(0.5, 0.5, text, ha="center", va="center", transform=axis.transAxes, color="gray")


def _movements(axis: Any, series: list[dict[str, Any]], days: list[date], currency: str) -> None:
    """One currency: the day's movements as stacked bars, MRR at each day's end as a line."""
    width = 0.8 if len(days) <= GAPPED_BARS_UP_TO else 1.0
    ups = [0.0] * len(days)
    downs = [0.0] * len(days)
    for kind, side, colour in MOVEMENT_BARS:
        values = [
            side * _major(p["movements"].get(currency, {}).get(kind, 0), currency) for p in series
        ]
        base = ups if side > 0 else downs
        axis.bar(days, values, width=width, bottom=list(base), color=colour, linewidth=0,
                 label=kind)  # fmt: skip
        for index, value in enumerate(values):
            base[index] += value
    axis.axhline(0, color="black", linewidth=0.8)
    reach = max([*ups, *(-d for d in downs), 1.0]) * 1.2
    axis.set_ylim(-reach, reach)
    axis.set_ylabel(f"movements ({currency.upper()})")
    axis.grid(True, axis="y", alpha=0.3)
    line_axis = axis.twinx()
    mrr = [_major(p["mrr"].get(currency, 0), currency) for p in series]
    latest = major_units(series[-1]["mrr"].get(currency, 0), currency)
    line_axis.plot(days, mrr, drawstyle="steps-mid", color="black", linewidth=2, label="MRR")
    line_axis.set_ylabel(f"MRR ({currency.upper()}, black line)")
    line_axis.set_ylim(bottom=0, top=max([*mrr, 1.0]) * 1.15)
    axis.set_title(f"{currency.upper()}: MRR {latest} at the last day's end", fontsize=10)
    if not any(ups) and not any(downs):
        _note(axis, "no MRR movement")


def draw_metrics(
    series: list[dict[str, Any]], path: str, *, project_id: str, since: str, until: str
) -> None:
    """Write the chart of a ``metrics_series`` (one point per day) to ``path`` as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [date.fromisoformat(point["day"]) for point in series]
    currencies = sorted({c for point in series for c in point["mrr"]})
    rows = max(len(currencies), 1)
    figure, axes = plt.subplots(
        rows + 1,
        1,
        figsize=(10, 3.5 * rows + 2.5),
        sharex=True,
        height_ratios=(*(3,) * rows, 2),
        layout="constrained",
        squeeze=False,
    )
    money_axes, count_axis = [row[0] for row in axes[:-1]], axes[-1][0]
    try:
        figure.suptitle(
            f"Project {project_id}: MRR by movement per day, and subscriptions giving access\n"
            f"window {since} to {until}",
            fontsize=13,
        )
        for axis, currency in zip(money_axes, currencies, strict=False):
            _movements(axis, series, days, currency)
        if currencies:  # one legend for every currency's panel, under the chart
            bars, names = money_axes[0].get_legend_handles_labels()
            line = figure.axes[-1].get_legend_handles_labels()  # the last panel's MRR line
            figure.legend([*bars, *line[0]], [*names, *line[1]], loc="outside lower center",
                          ncols=len(MOVEMENT_BARS) + 1, fontsize=9)  # fmt: skip
        else:
            _note(money_axes[0], "no recurring revenue")
            money_axes[0].set_ylabel("MRR")

        counts = [point["active_subscriptions"] for point in series]
        count_axis.bar(
            days,
            counts,
            width=0.8 if len(days) <= GAPPED_BARS_UP_TO else 1.0,
            linewidth=0,
            color="tab:gray",
            label="subscriptions giving access",
        )
        count_axis.set_ylabel("subscriptions")
        count_axis.set_xlabel("day (UTC; MRR at its end)")
        count_axis.set_ylim(0, max([*counts, 1]) * 1.15)
        count_axis.yaxis.get_major_locator().set_params(integer=True)
        count_axis.legend(loc="upper left")
        count_axis.grid(True, axis="y", alpha=0.3)
        if not any(counts):
            _note(count_axis, "no active subscriptions")
        # About ten ticks on whole days of the window; the axis ends half a day either side.
        ticks = days[:: max(1, -(-len(days) // 10))]
        label = "%b %d" if days[0].year == days[-1].year else "%Y-%m-%d"
        count_axis.set_xticks(ticks, labels=[d.strftime(label) for d in ticks])
        first, last = (datetime.combine(d, time()) for d in (days[0], days[-1]))
        count_axis.set_xlim(first - timedelta(hours=12), last + timedelta(hours=12))
        figure.savefig(path, format="png", dpi=100)
    finally:
        plt.close(figure)
