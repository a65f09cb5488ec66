"""GET /api/v1/metrics/project/{project_id}/revenue: the project's revenue per currency."""

from billing.api.resolver import metrics_resolver, rest_handler
from billing.api.responses import RevenueMetrics
from billing.services.metrics import revenue_metrics

app = metrics_resolver(
    revenue_metrics,
    "/api/v1/metrics/project/<project_id>/revenue",
    operation_id="getRevenueMetrics",
    summary=(
        "Revenue of the project per currency: gross, refunded, disputed, net; MRR at the "
        "window's start and end, its movements, ARR, churn rates"
    ),
    answer=RevenueMetrics,
)
lambda_handler = rest_handler(app, scope="metrics")
