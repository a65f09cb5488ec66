"""(project, user, currency) -> Stripe customer, first writer wins."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import PutError

from billing.adapters.dynamo.errors import dynamo_errors, is_conditional_check_failure
from billing.adapters.dynamo.models import CustomerModel, entitlement_key


class DynamoCustomerStore:
    def customer_of(self, project_id: str, user_id: str, currency: str) -> str | None:
        try:
            with dynamo_errors("GetItem customer"):
                item = CustomerModel.get(entitlement_key(project_id, user_id), currency)
        except CustomerModel.DoesNotExist:
            return None
        return item.stripe_customer_id

    def any_customer_of(self, project_id: str, user_id: str) -> str | None:
        with dynamo_errors("Query customers"):
            items = list(CustomerModel.query(entitlement_key(project_id, user_id)))
        if not items:
            return None
        newest = max(items, key=lambda i: i.created_at.timestamp() if i.created_at else 0.0)
        return newest.stripe_customer_id

    def remember(
        self, project_id: str, user_id: str, currency: str, customer_id: str, now: datetime
    ) -> str:
        item = CustomerModel(
            entitlement_key(project_id, user_id),
            currency,
            stripe_customer_id=customer_id,
            project_id=project_id,
            user_id=user_id,
            created_at=now,
        )
        try:
            with dynamo_errors("PutItem customer"):
                item.save(condition=CustomerModel.project_user.does_not_exist())
        except PutError as exc:
            if not is_conditional_check_failure(exc):
                raise
            existing = self.customer_of(project_id, user_id, currency)
            return existing or customer_id
        return customer_id
