"""Tenancy end to end: billing-admin sets up projects and keys, the gateway enforces them."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from billing_devstack.config import REPO_ROOT
from billing_devstack.launcher import StackProcess
from billing_devstack.template import ApiRoute, load_template
from tests.integration.conftest import start_stack

pytestmark = pytest.mark.integration

PROJECT, OTHER_PROJECT = "101", "102"


def send(
    stack: StackProcess, route: ApiRoute, project_id: str, api_key: str | None
) -> requests.Response:
    """A plausible request of ``route`` naming ``project_id`` where the route takes one."""
    path = route.path.replace("{project_id}", project_id)
    headers = {"X-API-Key": api_key} if api_key is not None else {}
    fields = {"project_id": project_id, "user_id": "user_1"}
    if route.method == "GET":
        return requests.get(f"{stack.url}{path}", params=fields, headers=headers, timeout=30)
    return requests.request(
        route.method, f"{stack.url}{path}", json=fields, headers=headers, timeout=30
    )


@dataclass(frozen=True)
class Tenants:
    key: str
    inactive_key: str


@pytest.fixture(scope="module")
def tenants(stack: StackProcess) -> Tenants:
    for project in (PROJECT, OTHER_PROJECT):
        stack.admin("project", "create", "--name", f"matrix_{project}", "--id", project)
    key = stack.admin("app", "create", "--project", PROJECT, "--name", "matrix")["api_key"]
    inactive = stack.admin("app", "create", "--project", PROJECT, "--name", "gone")
    stack.admin("app", "deactivate", inactive["app_id"])
    return Tenants(key=key, inactive_key=inactive["api_key"])


AUTHENTICATED_ROUTES = [
    route
    for route in load_template(REPO_ROOT / "template.yaml", "http://unused").routes
    if route.uses_authorizer
]
ROUTE_IDS = [f"{r.method} {r.path}" for r in AUTHENTICATED_ROUTES]


@pytest.mark.parametrize("route", AUTHENTICATED_ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("case", ["no key", "wrong key", "inactive app"])
def test_every_authenticated_route_refuses_unusable_keys_with_401(
    stack: StackProcess, tenants: Tenants, route: ApiRoute, case: str
) -> None:
    key = {
        "no key": None,
        "wrong key": "bk_thisKeyWasNeverIssuedToAnyone000_000000",
        "inactive app": tenants.inactive_key,
    }[case]
    response = send(stack, route, PROJECT, key)
    assert response.status_code == 401, response.text
    assert response.json() == {"message": "Unauthorized"}


@pytest.mark.parametrize("route", AUTHENTICATED_ROUTES, ids=ROUTE_IDS)
def test_every_authenticated_route_refuses_another_projects_key_with_403(
    stack: StackProcess, tenants: Tenants, route: ApiRoute
) -> None:
    response = send(stack, route, OTHER_PROJECT, tenants.key)
    assert response.status_code == 403, response.text
    assert response.json() == {"message": "Project ID does not match"}


@pytest.mark.parametrize("route", AUTHENTICATED_ROUTES, ids=ROUTE_IDS)
def test_every_authenticated_route_lets_the_right_key_through(
    stack: StackProcess, tenants: Tenants, route: ApiRoute
) -> None:
    response = send(stack, route, PROJECT, tenants.key)
    assert response.status_code not in (401, 403), response.text


def test_the_seeds_setup_with_billing_admin_then_the_seeds_curl(stack: StackProcess) -> None:
    stack.admin("project", "create", "--name", "space_journal", "--id", "1")
    stack.admin(
        "app",
        "create",
        "--project",
        "1",
        "--name",
        "space_journal",
        "--import-key",
        "sk_demo_space_journal",
    )
    standin = f"http://127.0.0.1:{stack.env['LOCAL_STRIPE_PORT']}/_standin/prices"
    price = {"id": "price_123", "unit_amount": 900, "currency": "usd",
             "recurring": {"interval": "month", "interval_count": 1}}  # fmt: skip
    assert requests.post(standin, json=price, timeout=10).status_code == 200, "Stripe's price"
    stack.admin(
        "price",
        "add",
        "--project",
        "1",
        "--price",
        "price_123",
        "--feature",
        "pro",
        "--amount",
        "900",
        "--currency",
        "usd",
        "--interval",
        "month",
    )
    result = subprocess.run(
        [
            "curl",
            "-s",
            "-w",
            "\n%{http_code}",
            "-H",
            "X-API-Key: sk_demo_space_journal",
            f"{stack.url}/api/v1/entitlements?user_id=user_42&project_id=1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "200", body
    assert json.loads(body) == {"entitlements": [], "usage": []}


def test_rotation_over_http_keeps_old_keys_for_the_overlap_only(stack: StackProcess) -> None:
    keep = stack.admin("app", "create", "--project", PROJECT, "--name", "rotate_keep")
    drop = stack.admin("app", "create", "--project", PROJECT, "--name", "rotate_drop")
    kept = stack.admin("app", "rotate", keep["app_id"], "--overlap-hours", "1")
    dropped = stack.admin("app", "rotate", drop["app_id"], "--overlap-hours", "0")
    route = next(r for r in AUTHENTICATED_ROUTES if r.path == "/api/v1/entitlements")
    assert send(stack, route, PROJECT, keep["api_key"]).status_code == 200
    assert send(stack, route, PROJECT, kept["api_key"]).status_code == 200
    assert send(stack, route, PROJECT, drop["api_key"]).status_code == 401
    assert send(stack, route, PROJECT, dropped["api_key"]).status_code == 200


def test_no_table_item_and_no_log_line_holds_a_clear_text_key(
    stack: StackProcess, tenants: Tenants
) -> None:
    route = AUTHENTICATED_ROUTES[0]
    for key in (tenants.key, tenants.inactive_key):
        send(stack, route, PROJECT, key)
    dynamodb = stack.dynamodb()
    items = repr(
        [dynamodb.scan(TableName=table)["Items"] for table in dynamodb.list_tables()["TableNames"]]
    )
    logs = stack.log_text()
    for key in (tenants.key, tenants.inactive_key, "sk_demo_space_journal"):
        assert key not in items
        assert key not in logs


def test_a_stack_started_with_the_demo_flag_serves_the_seeds_key(tmp_path: Path) -> None:
    """`make run SEED=1` sets LOCAL_SEED_DEMO=1: the seed's curl works with no other step."""
    demo = start_stack(tmp_path / "state", LOCAL_SEED_DEMO="1")
    headers = {"X-API-Key": "sk_demo_space_journal"}
    try:
        response = requests.get(
            f"{demo.url}/api/v1/entitlements",
            params={"user_id": "user_42", "project_id": "1"},
            headers=headers,
            timeout=30,
        )
        # price_123 is in the Stripe stand-in too: the demo checkout works as is.
        checkout = requests.post(
            f"{demo.url}/api/v1/checkout/session",
            json={
                "user_id": "user_42",
                "project_id": 1,
                "price_id": "price_123",
                "mode": "subscription",
                "success_url": "http://localhost:3000/ok",
                "cancel_url": "http://localhost:3000/cancel",
            },
            headers=headers,
            timeout=30,
        )
    finally:
        demo.stop()
    assert response.status_code == 200, response.text
    assert checkout.status_code == 200, checkout.text
    assert "demo seed: app with key sk_demo_space_journal: created" in demo.log_text()
