"""GET /api/v1/metrics/project/{project_id}/subscriptions: the project's subscription figures."""

from billing.api.resolver import metrics_handler
from billing.services.metrics import subscription_metrics

lambda_handler = metrics_handler(
    subscription_metrics, "/api/v1/metrics/project/<project_id>/subscriptions"
)
