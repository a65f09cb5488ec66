"""``billing-admin metrics PROJECT``: a project's subscription and revenue figures.

Kept apart from main.py (which registers it) so the command and its chart stay in one place;
it returns a ``(data, text)`` pair that main wraps in its ``Outcome``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any, NamedTuple

from billing.domain.clock import utc_now
from billing.domain.ids import normalize_project_id
from billing.errors import ValidationError
from billing.services.metrics import metrics_series, revenue_metrics, subscription_metrics
from billing.wiring import metrics_store, price_store
from billing_admin.cli import render


class MetricsOutcome(NamedTuple):
    data: Any
    text: str


def _iso_time(text: str | None, field: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(field, "must be ISO 8601, e.g. 2026-11-01T00:00:00Z") from None
    if value.tzinfo is None:
        raise ValidationError(field, "must carry a timezone (ISO 8601, e.g. ...Z)")
    return value


def metrics_command(args: argparse.Namespace) -> MetricsOutcome:
    project_id = normalize_project_id(args.project, "project")
    since, until = _iso_time(args.since, "since"), _iso_time(args.until, "until")
    store, prices, now = metrics_store(), price_store(), utc_now()
    window: dict[str, Any] = {"since": since, "until": until, "now": now}
    subscriptions = subscription_metrics(store, prices, project_id, **window)
    revenue = revenue_metrics(store, prices, project_id, **window)
    data = {"subscriptions": subscriptions, "revenue": revenue}
    text = render.metrics_text(subscriptions, revenue)
    if args.png:
        from billing_admin.cli.chart import draw_metrics

        series = metrics_series(store, prices, project_id, **window)
        draw_metrics(
            series,
            args.png,
            project_id=project_id,
            since=subscriptions["since"],
            until=subscriptions["until"],
        )
        written = f"chart written to {args.png}"
        if getattr(args, "json", False):
            print(written, file=sys.stderr)  # stdout stays one JSON object
        else:
            text = f"{text}\n{written}"
    return MetricsOutcome(data, text)


def add_metrics_command(groups: Any, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = groups.add_parser(
        "metrics",
        parents=[common],
        help="a project's subscription and revenue figures (optionally a PNG chart)",
    )
    parser.add_argument("project")
    parser.add_argument("--since", help="ISO 8601 with a timezone (default: until - 30 days)")
    parser.add_argument("--until", help="ISO 8601 with a timezone (default: now)")
    parser.add_argument(
        "--png", metavar="FILE", help="also draw MRR by movement per day (a PNG chart)"
    )
    parser.set_defaults(command=metrics_command)
    return parser
