"""GET /api/v1/metrics/project/{project_id}/subscriptions: the project's subscription figures."""

from billing.api.resolver import metrics_resolver, rest_handler
from billing.api.responses import SubscriptionMetrics
from billing.services.metrics import subscription_metrics

app = metrics_resolver(
    subscription_metrics,
    "/api/v1/metrics/project/<project_id>/subscriptions",
    operation_id="getSubscriptionMetrics",
    summary=(
        "Subscriptions of the project: counts by status, active, new, churned; per currency "
        "MRR, its movements, churn rates and revenue"
    ),
    answer=SubscriptionMetrics,
)
lambda_handler = rest_handler(app, scope="metrics")
