"""Every time the API takes, in a body or a query, through its handler: ISO 8601 with an
offset only (docs/api.md), else 422 naming the field and nothing stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing import wiring
from billing.services import tenancy
from tests.support.lambda_runtime import invoke, invoke_get, json_body, load_event

NOW = datetime.now(UTC)
FUTURE = (NOW + timedelta(days=30)).replace(microsecond=0)
# pydantic's lax datetime took each of these (epoch seconds, floats, a date alone).
NOT_ISO_8601: list[Any] = [
    1900000000,
    "1900000000",
    1900000000.0,
    "1900000000.5",
    True,
    FUTURE.date().isoformat(),
    FUTURE.replace(tzinfo=None).isoformat(),  # no offset: refused before too
    FUTURE.isoformat().replace("T", " "),
]
# (function, query parameter, other parameters it needs)
QUERY_TIMES = [
    ("revenue_metrics", "since", {}),
    ("revenue_metrics", "until", {}),
    ("subscription_metrics", "since", {}),
    ("subscription_metrics", "until", {}),
    ("entitlement_history", "at", {"user_id": "user_42", "project_id": "1"}),
    ("entitlement_history", "since", {"user_id": "user_42", "project_id": "1"}),
    ("entitlement_history", "until", {"user_id": "user_42", "project_id": "1", "since": None}),
]


@pytest.fixture
def project(aws: dict[str, str]) -> Iterator[None]:
    tenancy.create_project(wiring.project_store(), name="space_journal", project_id=1, now=NOW)
    yield


def grant(valid_to: Any) -> dict[str, Any]:
    event = load_event("admin_grant.json")
    event["body"] = json.dumps({**json.loads(event["body"]), "valid_to": valid_to})
    response: dict[str, Any] = invoke("admin_grant", event)
    return response


def named(response: dict[str, Any]) -> list[str]:
    return [error["field"] for error in json_body(response)["errors"]]


@pytest.mark.parametrize("valid_to", NOT_ISO_8601, ids=repr)
def test_a_grant_ending_at_no_iso_8601_time_is_422_and_stores_nothing(
    project: None, valid_to: Any
) -> None:
    response = grant(valid_to)
    assert response["statusCode"] == 422, response["body"]
    assert named(response) == ["valid_to"]
    assert json_body(invoke_get("admin_audit", user_id="user_42", project_id="1"))["items"] == []


@pytest.mark.parametrize(
    "valid_to", [FUTURE.isoformat(), FUTURE.isoformat().replace("+00:00", "Z"), None], ids=repr
)
def test_a_grant_ending_at_an_iso_8601_time_or_never_is_stored(
    project: None, valid_to: str | None
) -> None:
    response = grant(valid_to)
    assert response["statusCode"] == 201, response["body"]
    expected = None if valid_to is None else FUTURE.isoformat().replace("+00:00", "Z")
    assert json_body(response)["valid_to"] == expected


@pytest.mark.parametrize("value", NOT_ISO_8601, ids=repr)
@pytest.mark.parametrize(("function", "name", "others"), QUERY_TIMES)
def test_a_query_time_that_is_no_iso_8601_is_422_naming_it(
    project: None, function: str, name: str, others: dict[str, str | None], value: Any
) -> None:
    iso = (NOW - timedelta(days=1)).replace(microsecond=0).isoformat()
    query = {k: iso if v is None else v for k, v in others.items()}
    response = invoke_get(function, **query, **{name: str(value)})
    assert response["statusCode"] == 422, response["body"]
    assert named(response) == [name]


@pytest.mark.parametrize(("function", "name", "others"), QUERY_TIMES)
def test_a_query_time_in_iso_8601_is_answered(
    project: None, function: str, name: str, others: dict[str, str | None]
) -> None:
    iso = (NOW - timedelta(days=1)).replace(microsecond=0).isoformat()
    query = {k: iso if v is None else v for k, v in others.items()}
    response = invoke_get(function, **query, **{name: iso})
    assert response["statusCode"] == 200, response["body"]
