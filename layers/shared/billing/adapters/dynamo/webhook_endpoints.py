"""A project's outbound webhook endpoints on DynamoDB: one item per (project, endpoint).

The signing secrets are kept in the item (DynamoDB encrypts it at rest); only the sender and
billing-admin read them, and nothing prints them but ``add`` and ``rotate-secret``, once.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import DeleteError, PutError
from pynamodb.models import Model

from billing.adapters.dynamo.errors import (
    dynamo_errors,
    get_or_none,
    is_conditional_check_failure,
)
from billing.adapters.dynamo.models import _Meta, register_models
from billing.domain.webhook_endpoints import EndpointSecret, WebhookEndpoint
from billing.errors import ConflictError, NotFoundError


class EndpointSecretAttribute(MapAttribute[str, Any]):
    value = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute(null=True)


class WebhookEndpointModel(Model):
    class Meta(_Meta):
        pass

    project_id = UnicodeAttribute(hash_key=True)
    endpoint_id = UnicodeAttribute(range_key=True)
    url = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    secrets = ListAttribute(of=EndpointSecretAttribute, default=list)
    created_at = UTCDateTimeAttribute()


register_models({WebhookEndpointModel: "webhook_endpoints_table_name"})


def _item(endpoint: WebhookEndpoint) -> WebhookEndpointModel:
    return WebhookEndpointModel(
        endpoint.project_id,
        endpoint.endpoint_id,
        url=endpoint.url,
        description=endpoint.description,
        secrets=[
            EndpointSecretAttribute(  # type: ignore[no-untyped-call]
                value=s.value, created_at=s.created_at, expires_at=s.expires_at
            )
            for s in endpoint.secrets
        ],
        created_at=endpoint.created_at,
    )


def _endpoint(item: WebhookEndpointModel) -> WebhookEndpoint:
    return WebhookEndpoint(
        project_id=item.project_id,
        endpoint_id=item.endpoint_id,
        url=item.url,
        secrets=tuple(EndpointSecret(s.value, s.created_at, s.expires_at) for s in item.secrets),
        created_at=item.created_at,
        description=item.description or "",
    )


class DynamoWebhookEndpoints:
    def add(self, endpoint: WebhookEndpoint) -> None:
        try:
            with dynamo_errors("PutItem webhook endpoint"):
                _item(endpoint).save(condition=WebhookEndpointModel.endpoint_id.does_not_exist())
        except PutError as exc:
            if is_conditional_check_failure(exc):
                raise ConflictError("endpoint_id", "is taken") from None
            raise

    def list(self, project_id: str) -> list[WebhookEndpoint]:
        with dynamo_errors("Query webhook endpoints"):
            return [_endpoint(item) for item in WebhookEndpointModel.query(project_id)]

    def get(self, project_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        item = get_or_none(
            WebhookEndpointModel, project_id, endpoint_id, operation="GetItem webhook endpoint"
        )
        return _endpoint(item) if item else None

    def replace(self, endpoint: WebhookEndpoint) -> None:
        try:
            with dynamo_errors("PutItem webhook endpoint"):
                _item(endpoint).save(condition=WebhookEndpointModel.endpoint_id.exists())
        except PutError as exc:
            if is_conditional_check_failure(exc):
                raise NotFoundError(f"no webhook endpoint {endpoint.endpoint_id}") from None
            raise

    def remove(self, project_id: str, endpoint_id: str) -> None:
        try:
            with dynamo_errors("DeleteItem webhook endpoint"):
                WebhookEndpointModel(project_id, endpoint_id).delete(
                    condition=WebhookEndpointModel.endpoint_id.exists()
                )
        except DeleteError as exc:
            if is_conditional_check_failure(exc):
                raise NotFoundError(f"no webhook endpoint {endpoint_id}") from None
            raise
