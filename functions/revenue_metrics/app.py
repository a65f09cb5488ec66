"""GET /api/v1/metrics/project/{project_id}/revenue: the project's revenue per currency."""

from billing.api.resolver import metrics_resolver, rest_handler
from billing.api.responses import RevenueMetrics
from billing.services.metrics import revenue_metrics

app = metrics_resolver(
    revenue_metrics,
    "/api/v1/metrics/project/<project_id>/revenue",
    operation_id="getRevenueMetrics",
    summary="Revenue of the project per currency: gross, refunded, net, MRR and ARR",
    answer=RevenueMetrics,
)
lambda_handler = rest_handler(app, scope="metrics")
