"""Subscription and revenue metrics of a project, from its own facts and prices only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from billing.domain import metrics
from billing.domain.billing_facts import Fact
from billing.domain.tenancy import Price
from billing.ports.metrics import MetricsStore
from billing.ports.tenancy import PriceStore

Report = Callable[[list[Fact], Mapping[str, Price], metrics.Window], Any]


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
    """One report over the window, from one Query of the project's facts and one of its
    prices: the cost grows with this project's size, never another's."""
    span = metrics.window(since, until, now)
    price_map = {p.stripe_price_id: p for p in prices.list(project_id)}
    return report(store.facts_of_project(project_id), price_map, span)


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
