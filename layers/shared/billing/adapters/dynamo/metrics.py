"""What a project's metrics read, each bounded by that project's own size: its billing facts
(one Query of its partition of the by_project index), its subscriptions' status history (one
Query of its partition of the history table) and its grace period (one GetItem)."""

from __future__ import annotations

from billing.adapters.dynamo.errors import dynamo_errors, get_or_none
from billing.adapters.dynamo.ledger import fact_from_json, history_entry
from billing.adapters.dynamo.models import (
    ProjectModel,
    StripeObjectModel,
    SubscriptionHistoryModel,
)
from billing.domain.billing_facts import Fact
from billing.domain.status_history import StatusEntry
from billing.domain.tenancy import DEFAULT_GRACE_PERIOD_DAYS


class DynamoMetricsStore:
    def facts_of_project(self, project_id: str) -> list[Fact]:
        with dynamo_errors("Query project facts"):
            return [
                fact_from_json(item.fact) for item in StripeObjectModel.by_project.query(project_id)
            ]

    def history_of_project(self, project_id: str) -> list[StatusEntry]:
        with dynamo_errors("Query project history"):
            return [
                history_entry(item)
                for item in SubscriptionHistoryModel.query(project_id, consistent_read=True)
            ]

    def grace_period_days(self, project_id: str) -> int:
        project = get_or_none(ProjectModel, project_id, operation="GetItem project")
        return int(project.grace_period_days) if project else DEFAULT_GRACE_PERIOD_DAYS
