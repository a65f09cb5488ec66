"""Subscription and revenue metrics of a project, from its own facts, status history and
prices only (billing.domain.metrics says what each figure means)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from billing.domain import metrics
from billing.ports.metrics import MetricsStore
from billing.ports.tenancy import PriceStore

Report = Callable[[metrics.ProjectHistory, metrics.Window], Any]


def project_report(
    report: Report,
    store: MetricsStore,
    prices: PriceStore,
    project_id: str,
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
) -> Any:
    """One report over the window, from one Query of the project's facts, one of its status
    history, one of its prices and one read of the project: the cost grows with this
    project's size, never another's."""
    span = metrics.window(since, until, now)
    history = metrics.project_history(
        store.facts_of_project(project_id),
        store.history_of_project(project_id),
        {p.stripe_price_id: p for p in prices.list(project_id)},
        store.grace_period_days(project_id),
    )
    return report(history, span)


def subscription_metrics(
    store: MetricsStore, prices: PriceStore, project_id: str, **window: Any
) -> dict[str, Any]:
    figures = project_report(metrics.subscription_report, store, prices, project_id, **window)
    return {"project_id": project_id, **figures}


def revenue_metrics(
    store: MetricsStore, prices: PriceStore, project_id: str, **window: Any
) -> dict[str, Any]:
    figures = project_report(metrics.revenue_report, store, prices, project_id, **window)
    return {"project_id": project_id, **figures}


def metrics_series(
    store: MetricsStore, prices: PriceStore, project_id: str, **window: Any
) -> list[dict[str, Any]]:
    series: list[dict[str, Any]] = project_report(
        metrics.daily_series, store, prices, project_id, **window
    )
    return series
