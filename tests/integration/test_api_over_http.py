"""The authorizer and a protected route over real HTTP, with data in DynamoDB Local."""

from __future__ import annotations

import uuid

import pytest
import requests

from billing.domain.api_keys import hash_api_key
from billing_devstack.launcher import StackProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def api_key(stack: StackProcess) -> str:
    """A fresh active key of project 1, stored the way the service stores keys: hashed."""
    key = f"sk_it_{uuid.uuid4().hex}"
    stack.dynamodb().put_item(
        TableName="ApiKeysTable",
        Item={
            "key_hash": {"S": hash_api_key(key)},
            "key_prefix": {"S": key[:8]},
            "project_id": {"S": "1"},
            "app_id": {"S": "app_it"},
            "active": {"BOOL": True},
            "scopes": {"SS": ["entitlements"]},
        },
    )
    return key


def entitlements(stack: StackProcess, key: str, **query: str) -> requests.Response:
    return requests.get(
        f"{stack.url}/api/v1/entitlements",
        params=query,
        headers={"X-API-Key": key},
        timeout=20,
    )


def test_a_known_key_reaches_the_handler_with_its_project(
    stack: StackProcess, api_key: str
) -> None:
    user = f"user_{uuid.uuid4().hex[:8]}"
    stack.dynamodb().put_item(
        TableName="EntitlementsTable",
        Item={
            "project_user": {"S": f"1#{user}"},
            "project_id": {"S": "1"},
            "user_id": {"S": user},
            "sources": {
                "L": [
                    {
                        "M": {
                            "feature_code": {"S": "pro"},
                            "source": {"S": "manual"},
                            "source_id": {"S": "grant_it"},
                            "valid_from": {"S": "2026-01-01T00:00:00.000000+0000"},
                            "in_force": {"BOOL": True},
                        }
                    }
                ]
            },
        },
    )
    response = entitlements(stack, api_key, user_id=user, project_id="1")
    assert response.status_code == 200, response.text
    (entitlement,) = response.json()["entitlements"]
    assert entitlement["feature_code"] == "pro"
    assert entitlement["active"] is True


def test_a_key_of_project_1_asking_about_project_2_gets_403(
    stack: StackProcess, api_key: str
) -> None:
    response = entitlements(stack, api_key, user_id="user_1", project_id="2")
    assert response.status_code == 403
    assert response.json() == {"message": "Project ID does not match"}


def test_validation_errors_name_the_field(stack: StackProcess, api_key: str) -> None:
    response = entitlements(stack, api_key, project_id="1")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["user_id"]


def test_a_key_without_a_routes_scope_gets_403_naming_it(stack: StackProcess, api_key: str) -> None:
    response = requests.post(
        f"{stack.url}/api/v1/checkout/session",
        json={"project_id": 1},
        headers={"X-API-Key": api_key},
        timeout=20,
    )
    assert response.status_code == 403
    assert "checkout" in response.json()["message"]
