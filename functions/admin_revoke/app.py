"""POST /api/v1/admin/revoke

In the contract (API.md) but not built yet: answers 501 until issue #6.
"""

from billing.api.resolver import not_built_handler

lambda_handler = not_built_handler("POST", "/api/v1/admin/revoke", scope="admin", issue=6)
