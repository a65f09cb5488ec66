"""(project, user, currency) -> Stripe customer, first writer wins."""

from __future__ import annotations

from datetime import datetime

from billing.adapters.dynamo.errors import dynamo_errors, get_or_none, save_if
from billing.adapters.dynamo.models import CustomerModel, entitlement_key


class DynamoCustomerStore:
    def customer_of(self, project_id: str, user_id: str, currency: str) -> str | None:
        item = get_or_none(
            CustomerModel,
            entitlement_key(project_id, user_id),
            currency,
            operation="GetItem customer",
        )
        return item.stripe_customer_id if item else None

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
        if save_if(item, CustomerModel.project_user.does_not_exist(), operation="PutItem customer"):
            return customer_id
        return self.customer_of(project_id, user_id, currency) or customer_id
