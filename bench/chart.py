"""One PNG of every benchmark's results: ``artifacts/bench/benchmarks.png``.

Reads the JSON files the benchmarks wrote (``artifacts/bench/<name>.json``) and draws each
figure beside its baseline, with the spread over runs (min to max) as error bars. A benchmark
whose file is missing gets an empty panel that says so: the chart never invents a number.

    python -m bench.chart
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bench.support import REPO_ROOT, RESULTS_DIR

if TYPE_CHECKING:
    from matplotlib.axes import Axes

OUTPUT = RESULTS_DIR / "benchmarks.png"
SERVICE, BASELINE = "#1f77b4", "#b0b0b0"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS_DIR / f"{name}.json"
    if not path.exists():
        return None
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def _spread(figure: dict[str, float], scale: float = 1.0) -> tuple[float, list[float]]:
    """(median, [below, above]) of a {median, low, high} figure, for error bars."""
    median = figure["median"] * scale
    return median, [median - figure["low"] * scale, figure["high"] * scale - median]


def _bars(
    axis: Axes,
    labels: list[str],
    pairs: list[tuple[dict[str, Any], dict[str, Any]]],
    *,
    names: tuple[str, str],
    unit: str,
    scale: float = 1.0,
) -> None:
    """Grouped bars: the service beside its baseline, for each label."""
    width, spots = 0.38, range(len(labels))
    for offset, color, name, index in (
        (-width / 2, SERVICE, names[0], 0),
        (width / 2, BASELINE, names[1], 1),
    ):
        medians, errors = zip(*(_spread(pair[index], scale) for pair in pairs), strict=True)
        axis.bar(
            [x + offset for x in spots],
            medians,
            width,
            label=name,
            color=color,
            yerr=list(zip(*errors, strict=True)),
            capsize=3,
        )
    axis.set_xticks(list(spots), labels)
    axis.set_ylabel(unit)
    axis.legend(fontsize=8)


def cold_start(axis: Axes, data: dict[str, Any]) -> None:
    functions = data["functions"]
    names = [f["function"].removesuffix("Function") for f in functions]
    spots = range(len(functions))
    handler = [f["handler"]["median_s"] * 1000 for f in functions]
    floor = [f["floor"]["median_s"] * 1000 for f in functions]
    axis.barh([y + 0.2 for y in spots], handler, 0.4, color=SERVICE, label="handler import")
    axis.barh(
        [y - 0.2 for y in spots],
        floor,
        0.4,
        color=BASELINE,
        label="floor: the boto3 clients it needs",
    )
    axis.set_yticks(list(spots), names, fontsize=7)
    axis.set_xlabel("ms (median)")
    axis.set_xlim(0, max(handler + floor) * 1.45)  # room for the legend beside the bars
    axis.set_title("Cold start: init (import) per function")
    axis.legend(fontsize=8, loc="lower right")


def entitlements_in_process(axis: Axes, data: dict[str, Any]) -> None:
    targets = {row["target"]: row for row in data["in_process"]}
    handler = targets["GET /api/v1/entitlements"]["latency"]
    floor = next(row for name, row in targets.items() if name.startswith("GetItem Entitlements"))
    pairs = [(handler[p], floor["latency"][p]) for p in ("p50_ms", "p95_ms", "p99_ms")]
    _bars(
        axis,
        ["p50", "p95", "p99"],
        pairs,
        names=("GET /api/v1/entitlements (handler)", "floor: one raw GetItem"),
        unit="ms",
    )
    axis.set_title("Entitlement read in process (DynamoDB Local)")


def entitlements_over_http(axis: Axes, data: dict[str, Any]) -> None:
    rows = data["over_http"]
    pairs = [
        (row["entitlements"]["requests_per_second"], row["live_floor"]["requests_per_second"])
        for row in rows
    ]
    _bars(
        axis,
        [f"{row['clients']} clients" for row in rows],
        pairs,
        names=("GET /api/v1/entitlements", "floor: GET /live, same gateway"),
        unit="requests/s",
    )
    axis.set_title("Entitlement read over HTTP (local gateway)")


def webhooks(axis: Axes, data: dict[str, Any]) -> None:
    pairs = [(data["consumer_events_per_second"], data["floor_events_per_second"])]
    _bars(
        axis,
        [f"{data['mix']['deliveries']:,} deliveries"],
        pairs,
        names=("consumer (lambda_handler)", "floor: conditional PutItem loop"),
        unit="events/s",
    )
    axis.set_title("Webhook consumer, realistic mix (10% dup, 10% late)")


def reconciliation(axis: Axes, data: dict[str, Any]) -> None:
    results = data["results"]
    sizes = [r["subscriptions"] for r in results]
    for key, label, color in (
        ("nightly_run_seconds", "nightly run (1% repaired)", SERVICE),
        ("in_sync_run_seconds", "in-sync run", "#2ca02c"),
        ("floor_seconds", "floor: listing only", BASELINE),
    ):
        points = [(r["subscriptions"], r[key]) for r in results if r.get(key)]
        xs = [size for size, _ in points]
        medians, errors = zip(*(_spread(figure) for _, figure in points), strict=True)
        axis.errorbar(
            xs,
            medians,
            yerr=list(zip(*errors, strict=True)),
            marker="o",
            label=label,
            color=color,
            capsize=3,
        )
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xticks(sizes, [f"{size:,}" for size in sizes])
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.yaxis.set_major_formatter(ScalarFormatter())
    axis.yaxis.set_minor_formatter(NullFormatter())
    axis.set_xlabel("subscriptions")
    axis.set_ylabel("seconds")
    memory = axis.twinx()
    memory.plot(
        sizes,
        [r["nightly_peak_kib"] / 1024 for r in results],
        "k--",
        marker="s",
        label="peak MiB per invocation",
    )
    memory.set_ylabel("MiB per invocation (dashed)")
    memory.set_ylim(0, max(r["nightly_peak_kib"] / 1024 for r in results) * 2)
    axis.set_title("Reconciliation: time grows with size, memory does not")
    axis.legend(fontsize=8, loc="upper left")


def package_sizes(axis: Axes, data: dict[str, Any]) -> None:
    functions = [f for f in data["functions"] if "package" in f]
    names = [f["function"].removesuffix("Function") for f in functions]
    zipped = [f["package"]["zipped_bytes"] / 1024 for f in functions]
    axis.barh(range(len(functions)), zipped, color=SERVICE)
    axis.set_yticks(range(len(functions)), names, fontsize=7)
    axis.set_xlabel("KiB zipped (the function's own code)")
    layer = data.get("layer")
    shared = (
        f" + shared layer {layer['zipped_bytes'] / 1024 / 1024:.1f} MiB zipped" if layer else ""
    )
    axis.set_title(f"Built packages{shared}")


def tokens(axis: Axes, data: dict[str, Any]) -> None:
    http, offline = data["tokens_over_http"], data["offline_verification"]
    pairs = [
        (http["issue_p50_ms"], http["read_p50_ms"]),
        (http["issue_p99_ms"], http["read_p99_ms"]),
        (offline["verify_p50_ms"], offline["pyjwt_p50_ms"]),
        (offline["verify_p99_ms"], offline["pyjwt_p99_ms"]),
    ]
    _bars(
        axis,
        [
            "issue p50\n(HTTP)",
            "issue p99\n(HTTP)",
            "verify p50\n(offline)",
            "verify p99\n(offline)",
        ],
        pairs,
        names=(
            "token: POST .../token; offline: TokenVerifier",
            "floor: GET /entitlements; offline: PyJWT (C RSA)",
        ),
        unit="ms",
    )
    axis.set_yscale("log")
    axis.set_title("Entitlement tokens: issue over HTTP, verify offline")


def delivery_lag(axis: Axes, data: dict[str, Any]) -> None:
    delivery = data["delivery"]
    pairs = [
        (delivery["lag_p50_ms"], delivery["grant_p50_ms"]),
        (delivery["lag_p99_ms"], delivery["grant_p99_ms"]),
    ]
    _bars(
        axis,
        ["p50", "p99"],
        pairs,
        names=("grant -> delivery received", "the grant's own round trip"),
        unit="ms",
    )
    axis.set_title("Outbound webhook delivery lag (local stack)")


def usage(axis: Axes, data: dict[str, Any]) -> None:
    rows = {row["target"]: row for row in data["results"]}
    handler = next(row for name, row in rows.items() if name.startswith("POST"))
    floor = next(row for name, row in rows.items() if name.startswith("floor"))
    pairs = [(handler["latency"][p], floor["latency"][p]) for p in ("p50_ms", "p95_ms", "p99_ms")]
    _bars(
        axis,
        ["p50", "p95", "p99"],
        pairs,
        names=("POST /api/v1/usage (handler)", "floor: one raw conditional UpdateItem"),
        unit="ms",
    )
    calls = ", ".join(
        f"{op.removeprefix('dynamodb.')} {n:g}"
        for op, n in handler["dynamodb_calls_per_request"].items()
    )
    stripe = sum(handler["stripe_calls_per_request"].values())
    axis.set_title(f"Usage call in process: {calls}; Stripe {stripe:g} per call", fontsize=10)


PANELS: list[tuple[str, str, Callable[[Axes, dict[str, Any]], None]]] = [
    ("coldstart", "Cold start", cold_start),
    ("entitlement_read", "Entitlement read in process", entitlements_in_process),
    ("entitlement_read", "Entitlement read over HTTP", entitlements_over_http),
    ("webhook_consumer", "Webhook consumer", webhooks),
    ("reconciliation", "Reconciliation", reconciliation),
    ("coldstart", "Built packages", package_sizes),
    ("push", "Entitlement tokens", tokens),
    ("push", "Outbound webhook delivery lag", delivery_lag),
    ("usage", "Usage call", usage),
]


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(3, 3, figsize=(18, 15), layout="constrained")
    missing = []
    try:
        flat = list(axes.flat)
        for spare in flat[len(PANELS) :]:
            spare.set_visible(False)
        for axis, (name, title, draw) in zip(flat, PANELS, strict=False):
            data = _load(name)
            if data is None:
                missing.append(name)
                axis.set_title(title)
                axis.text(
                    0.5,
                    0.5,
                    f"no {name}.json:\nrun make bench",
                    ha="center",
                    va="center",
                    transform=axis.transAxes,
                )
                continue
            draw(axis, data)
        figure.suptitle(
            "Billing service benchmarks: each figure beside its floor, median with "
            "min-max over runs",
            fontsize=13,
        )
        OUTPUT.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(OUTPUT, dpi=110)
    finally:
        plt.close(figure)
    print(f"written to {OUTPUT.relative_to(REPO_ROOT)}")
    if missing:
        print(f"missing results: {', '.join(sorted(set(missing)))}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
