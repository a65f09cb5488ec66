"""The PNG chart of ``billing-admin metrics --png``: daily MRR per currency and active
subscriptions. matplotlib is a developer dependency (requirements-dev.txt), imported only here
and only when a chart is asked for: the Lambdas and the rest of the CLI never load it."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from billing_admin.cli.render import ZERO_DECIMAL_CURRENCIES, major_units

GAPPED_BARS_UP_TO = 62  # days; a longer window draws touching bars (thin gaps would alias)


def _major(amount: int, currency: str) -> float:
    return amount if currency.lower() in ZERO_DECIMAL_CURRENCIES else amount / 100


def draw_metrics(
    series: list[dict[str, Any]], path: str, *, project_id: str, since: str, until: str
) -> None:
    """Write the chart of a ``metrics_series`` (one point per day) to ``path`` as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [date.fromisoformat(point["day"]) for point in series]
    currencies = sorted({c for point in series for c in point["mrr"]})
    figure, (money_axis, count_axis) = plt.subplots(
        2, 1, figsize=(10, 7), sharex=True, height_ratios=(3, 2), layout="constrained"
    )
    try:
        figure.suptitle(
            f"Project {project_id}: MRR and active subscriptions\nwindow {since} to {until}",
            fontsize=13,
        )
        for currency in currencies:
            values = [_major(point["mrr"].get(currency, 0), currency) for point in series]
            latest = major_units(series[-1]["mrr"].get(currency, 0), currency)
            money_axis.plot(
                days,
                values,
                drawstyle="steps-mid",  # each day's value over its bar below
                linewidth=2,
                label=f"{currency.upper()} (last day: {latest})",
            )
        if currencies:
            money_axis.legend(title="currency", loc="upper left")
        else:
            money_axis.text(
                0.5,
                0.5,
                "no recurring revenue",
                ha="center",
                va="center",
                transform=money_axis.transAxes,
                color="gray",
            )
        money_axis.set_ylabel("MRR (major units)")
        money_axis.set_ylim(bottom=0)
        money_axis.grid(True, alpha=0.3)

        counts = [point["active_subscriptions"] for point in series]
        count_axis.bar(
            days,
            counts,
            width=0.8 if len(days) <= GAPPED_BARS_UP_TO else 1.0,
            linewidth=0,
            color="tab:gray",
            label="active subscriptions",
        )
        count_axis.set_ylabel("active subscriptions")
        count_axis.set_xlabel("day (end of day, UTC)")
        count_axis.set_ylim(0, max([*counts, 1]) * 1.15)
        count_axis.yaxis.get_major_locator().set_params(integer=True)
        count_axis.legend(loc="upper left")
        count_axis.grid(True, axis="y", alpha=0.3)
        if not any(counts):
            count_axis.text(
                0.5,
                0.5,
                "no active subscriptions",
                ha="center",
                va="center",
                transform=count_axis.transAxes,
                color="gray",
            )
        # About ten ticks on whole days of the window; the axis ends half a day either side.
        ticks = days[:: max(1, -(-len(days) // 10))]
        label = "%b %d" if days[0].year == days[-1].year else "%Y-%m-%d"
        count_axis.set_xticks(ticks, labels=[d.strftime(label) for d in ticks])
        first, last = (datetime.combine(d, time()) for d in (days[0], days[-1]))
        count_axis.set_xlim(first - timedelta(hours=12), last + timedelta(hours=12))
        figure.savefig(path, format="png", dpi=100)
    finally:
        plt.close(figure)
