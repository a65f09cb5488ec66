"""GET /api/v1/metrics/project/{project_id}/subscriptions

In the contract (API.md) but not built yet: answers 501 until issue #7.
"""

from billing.api.resolver import not_built_handler

lambda_handler = not_built_handler(
    "GET", "/api/v1/metrics/project/{project_id}/subscriptions", scope="metrics", issue=7
)
