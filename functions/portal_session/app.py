"""POST /api/v1/portal/session

In the contract (API.md) but not built yet: answers 501 until issue #4.
"""

from billing.api.resolver import not_built_handler

lambda_handler = not_built_handler("POST", "/api/v1/portal/session", scope="portal", issue=4)
