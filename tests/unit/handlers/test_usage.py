"""POST /api/v1/usage and the limit figures of the read routes, through the handlers, on moto
tables: counted, replayed, refused, and every bad input a clear 422 that counts nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing import wiring
from billing.domain.allowances import FeatureLimit
from billing.domain.tenancy import Price
from billing.services import engine, tenancy
from tests.support import stripe_events as se
from tests.support.lambda_runtime import invoke, json_body, load_event

NOW = datetime.now(UTC)
START = int((NOW - timedelta(days=1)).timestamp())
PERIOD_END = int((NOW + timedelta(days=29)).timestamp())


@pytest.fixture
def subscriber(aws: dict[str, str]) -> Iterator[None]:
    """user_42 subscribes to a price granting pro and 100 api_calls per billing period."""
    projects, prices = wiring.project_store(), wiring.price_store()
    tenancy.create_project(projects, name="space_journal", project_id=1, now=NOW)
    limit = FeatureLimit("api_calls", 100, "billing_period")
    price = Price("price_api", "1", ("pro", "api_calls"), 900, "usd", "month", limits=(limit,))
    tenancy.add_price(projects, prices, price)
    subscription = se.subscription(prices=("price_api",), start=START, period_end=PERIOD_END)
    created = se.event("customer.subscription.created", subscription, START)
    assert engine.apply_event(created, wiring.billing_ledger(), NOW) == engine.Outcome.APPLIED
    yield


def use(**changes: Any) -> dict[str, Any]:
    event = load_event("usage.json")
    body = {
        "user_id": "user_42",
        "project_id": 1,
        "feature_code": "api_calls",
        "quantity": 30,
        "idempotency_key": "req_1",
        **changes,
    }
    event["body"] = json.dumps(body)
    response: dict[str, Any] = invoke("usage", event)
    return response


def read(route: str, **query: str) -> dict[str, Any]:
    event = load_event(f"{route}.json")
    query = {"user_id": "user_42", "project_id": "1", **query}
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    body: dict[str, Any] = json_body(invoke(route, event))
    return body


def used() -> int:
    check = read("entitlement_check", feature_code="api_calls")
    return int(check["used"])


def test_a_usage_is_counted_then_replayed_as_the_first_answer(subscriber: None) -> None:
    first = use()
    again = use()
    assert (first["statusCode"], again["statusCode"]) == (201, 200)
    assert json_body(again) == {**json_body(first), "replayed": True}
    body = json_body(first)
    assert (body["limit"], body["used"], body["remaining"], body["overage"]) == (100, 30, 70, 0)
    assert body["resets_at"] == datetime.fromtimestamp(PERIOD_END, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert used() == 30


def test_enforced_over_the_limit_is_409_with_what_remains_and_counts_nothing(
    subscriber: None,
) -> None:
    use(quantity=90, idempotency_key="req_1")
    refused = use(quantity=20, idempotency_key="req_2", enforce=True)
    assert refused["statusCode"] == 409
    assert {k: json_body(refused)[k] for k in ("remaining", "requested", "used", "limit")} == {
        "remaining": 10,
        "requested": 20,
        "used": 90,
        "limit": 100,
    }
    over = json_body(use(quantity=20, idempotency_key="req_3"))
    assert (over["used"], over["overage"]) == (110, 10)
    assert used() == 110


def test_the_read_routes_answer_limit_used_remaining_and_reset(subscriber: None) -> None:
    use(quantity=40)
    listed = read("entitlements")
    assert listed["usage"] == [
        {
            "feature_code": "api_calls",
            "limit": 100,
            "used": 40,
            "remaining": 60,
            "resets_at": datetime.fromtimestamp(PERIOD_END, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ]
    by_feature = {e["feature_code"]: e for e in listed["entitlements"]}
    assert (by_feature["api_calls"]["limit"], by_feature["api_calls"]["reset"]) == (
        100,
        "billing_period",
    )
    assert "limit" not in by_feature["pro"]
    pro = read("entitlement_check", feature_code="pro")
    assert set(pro) == {"feature_code", "active", "valid_to"}


def test_a_grant_of_credits_raises_the_limit(subscriber: None) -> None:
    use(quantity=100)
    assert use(quantity=5, idempotency_key="req_2", enforce=True)["statusCode"] == 409
    event = load_event("admin_grant.json")
    event["body"] = json.dumps(
        {
            "user_id": "user_42",
            "project_id": 1,
            "feature_code": "api_calls",
            "granted_by": "support@example.com",
            "reason": "outage credit",
            "quantity": 50,
            "valid_to": (NOW + timedelta(days=7)).isoformat(),
        }
    )
    granted = invoke("admin_grant", event)
    assert (granted["statusCode"], json_body(granted)["quantity"]) == (201, 50)
    counted = use(quantity=5, idempotency_key="req_3", enforce=True)
    assert counted["statusCode"] == 201
    assert (json_body(counted)["limit"], json_body(counted)["remaining"]) == (150, 45)


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"quantity": 0}, "quantity", "greater than or equal to 1"),
        ({"quantity": -3}, "quantity", "greater than or equal to 1"),
        ({"quantity": 10**9 + 1}, "quantity", "less than or equal to 1000000000"),
        ({"quantity": 10**30}, "quantity", "less than or equal"),
        ({"quantity": 1.5}, "quantity", "valid integer"),
        ({"quantity": "5"}, "quantity", "valid integer"),
        ({"feature_code": "exports"}, "feature_code", "has no feature exports"),
        ({"feature_code": "pro"}, "feature_code", "has no limit"),
        ({"feature_code": "Not A Code"}, "feature_code", "lowercase letters"),
        ({"idempotency_key": ""}, "idempotency_key", "at least 1"),
        ({"idempotency_key": "k" * 256}, "idempotency_key", "at most 255"),
        ({"idempotency_key": "two words"}, "idempotency_key", "must be"),
        ({"enforce": "yes"}, "enforce", "valid boolean"),
        # Ids are taken as sent (they were trimmed in a body, refused in a query).
        ({"feature_code": " api_calls"}, "feature_code", "lowercase letters"),
        ({"user_id": "user_42 "}, "user_id", ""),
        ({"idempotency_key": "\tkey"}, "idempotency_key", "must be"),
        ({"user_id": "someone_else"}, "feature_code", "has no feature api_calls"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_counts_nothing(
    subscriber: None, changes: dict[str, Any], field: str, reason: str
) -> None:
    refused = use(**changes)
    assert refused["statusCode"] == 422, refused
    (problem,) = json_body(refused)["errors"]
    assert problem["field"] == field
    assert reason in problem["reason"]
    # docs/api.md: the message is "invalid <field>: <reason>", from the schema or the service
    assert json_body(refused)["message"] == f"invalid {field}: {problem['reason']}"
    assert used() == 0


def test_the_same_key_for_another_quantity_is_422_naming_the_key(subscriber: None) -> None:
    use(quantity=30)
    refused = use(quantity=31)
    assert refused["statusCode"] == 422
    assert json_body(refused)["errors"][0]["field"] == "idempotency_key"
    assert used() == 30


def test_a_key_of_another_project_is_refused_before_anything_is_read(subscriber: None) -> None:
    refused = use(project_id=2)
    assert (refused["statusCode"], json_body(refused)) == (
        403,
        {"message": "Project ID does not match"},
    )
