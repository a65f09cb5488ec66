"""GET /api/v1/metrics/project/{project_id}/revenue: the project's revenue per currency."""

from billing.api.resolver import metrics_handler
from billing.services.metrics import revenue_metrics

lambda_handler = metrics_handler(revenue_metrics, "/api/v1/metrics/project/<project_id>/revenue")
