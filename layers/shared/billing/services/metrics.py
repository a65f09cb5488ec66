"""Subscription and revenue metrics of a project, from its own facts and prices only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billing.domain import metrics
from billing.ports import MetricsStore, PriceStore


def _inputs(
    store: MetricsStore, prices: PriceStore, project_id: str
) -> tuple[list[Any], dict[str, Any]]:
    return store.facts_of_project(project_id), {
        p.stripe_price_id: p for p in prices.list(project_id)
    }


def subscription_metrics(
    store: MetricsStore,
    prices: PriceStore,
    project_id: str,
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    span = metrics.window(since, until, now)
    facts, price_map = _inputs(store, prices, project_id)
    return {"project_id": project_id, **metrics.subscription_report(facts, price_map, span)}


def revenue_metrics(
    store: MetricsStore,
    prices: PriceStore,
    project_id: str,
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    span = metrics.window(since, until, now)
    facts, price_map = _inputs(store, prices, project_id)
    return {"project_id": project_id, **metrics.revenue_report(facts, price_map, span)}


def metrics_series(
    store: MetricsStore,
    prices: PriceStore,
    project_id: str,
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
) -> list[dict[str, Any]]:
    span = metrics.window(since, until, now)
    facts, price_map = _inputs(store, prices, project_id)
    return metrics.daily_series(facts, price_map, span)
