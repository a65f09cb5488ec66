"""GET /api/v1/metrics/project/{project_id}/revenue: revenue figures of the key's project."""

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query

from billing import wiring
from billing.api.caller import caller_of
from billing.api.resolver import build_rest_resolver, rest_handler
from billing.domain.clock import utc_now
from billing.services.metrics import revenue_metrics

app = build_rest_resolver()


@app.get("/api/v1/metrics/project/<project_id>/revenue")
def get_revenue_metrics(
    project_id: str,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
) -> dict[str, Any]:
    project = caller_of(app.current_event).project_id
    return revenue_metrics(
        wiring.metrics_store(),
        wiring.price_store(),
        project,
        since=since,
        until=until,
        now=utc_now(),
    )


lambda_handler = rest_handler(app, scope="metrics")
