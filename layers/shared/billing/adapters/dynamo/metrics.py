"""A project's billing facts, for its metrics: one Query of that project's partition of the
by_project index, so the cost grows with the project's own size, never another's."""

from __future__ import annotations

from billing.adapters.dynamo.errors import dynamo_errors
from billing.adapters.dynamo.ledger import fact_from_json
from billing.adapters.dynamo.models import StripeObjectModel
from billing.domain.billing_facts import Fact


class DynamoMetricsStore:
    def facts_of_project(self, project_id: str) -> list[Fact]:
        with dynamo_errors("Query project facts"):
            return [
                fact_from_json(item.fact) for item in StripeObjectModel.by_project.query(project_id)
            ]
