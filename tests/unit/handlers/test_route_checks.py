import base64
import json
from typing import Any

import pytest

from tests.support.lambda_runtime import invoke, json_body, load_event

# Every route taking a body or path project_id (entitlements has its own tests).
TENANT_ROUTES = [
    "checkout_session",
    "portal_session",
    "admin_grant",
    "admin_revoke",
    "subscription_metrics",
    "revenue_metrics",
]


def with_project(event: dict[str, Any], project_id: object) -> dict[str, Any]:
    """The same request, naming another project where the route takes it."""
    if event.get("pathParameters"):
        event["pathParameters"]["project_id"] = str(project_id)
    else:
        event["body"] = json.dumps({**json.loads(event["body"]), "project_id": project_id})
    return event


@pytest.mark.parametrize("function", TENANT_ROUTES)
@pytest.mark.parametrize("other_project", [2, "2", "02"])
def test_a_key_of_another_project_gets_403_before_anything_else(
    function: str, other_project: object
) -> None:
    event = with_project(load_event(f"{function}.json"), other_project)
    response = invoke(function, event)
    assert (response["statusCode"], json_body(response)) == (
        403,
        {"message": "Project ID does not match"},
    )


@pytest.mark.parametrize(
    ("function", "scope"),
    [
        ("checkout_session", "checkout"),
        ("admin_grant", "admin"),
        ("admin_revoke", "admin"),
        ("admin_audit", "admin"),
        ("revenue_metrics", "metrics"),
    ],
)
def test_a_key_without_the_routes_scope_gets_403(function: str, scope: str) -> None:
    event = load_event(f"{function}.json")
    event["requestContext"]["authorizer"]["scopes"] = "entitlements"
    response = invoke(function, event)
    assert response["statusCode"] == 403
    assert scope in json_body(response)["message"]


def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(aws: dict[str, str]) -> None:
    event = load_event("admin_grant.json")
    event["body"] = base64.b64encode(b"\xcf=s\x10\x0b$\xff").decode()
    event["isBase64Encoded"] = True
    response = invoke("admin_grant", event)
    assert response["statusCode"] == 422
    assert json_body(response)["errors"] == [
        {"field": "body", "reason": "must be UTF-8 encoded JSON"}
    ]
