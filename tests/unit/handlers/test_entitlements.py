from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing import wiring
from billing.adapters.dynamo.models import (
    EntitlementModel,
    EntitlementSourceAttribute,
    entitlement_key,
)
from tests.support.lambda_runtime import invoke, json_body, load_event

NOW = datetime.now(UTC)


def request(**query: str) -> dict[str, Any]:
    event = load_event("entitlements.json")
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    response: dict[str, Any] = invoke("entitlements", event)
    return response


def store(project_id: str, user_id: str, *sources: EntitlementSourceAttribute) -> None:
    wiring.bound_settings()
    EntitlementModel(
        entitlement_key(project_id, user_id),
        project_id=project_id,
        user_id=user_id,
        sources=list(sources),
    ).save()


def grant(feature: str, valid_to: datetime | None = None) -> EntitlementSourceAttribute:
    return EntitlementSourceAttribute(  # type: ignore[no-untyped-call]
        feature_code=feature,
        source="manual",
        source_id=f"grant_{feature}",
        valid_from=NOW - timedelta(days=1),
        valid_to=valid_to,
        in_force=True,
    )


def test_a_user_with_nothing_has_an_empty_list(aws: dict[str, str]) -> None:
    response = request(user_id="user_42", project_id="1")
    assert (response["statusCode"], json_body(response)) == (
        200,
        {"entitlements": [], "usage": []},
    )


def test_stored_sources_are_listed_with_expiry_decided_at_read_time(aws: dict[str, str]) -> None:
    store("1", "user_42", grant("pro"), grant("export", valid_to=NOW - timedelta(minutes=1)))
    body = json_body(request(user_id="user_42", project_id="1"))
    by_feature = {e["feature_code"]: e for e in body["entitlements"]}
    assert by_feature["pro"]["active"] is True
    assert by_feature["pro"]["valid_to"] is None
    assert (by_feature["export"]["active"], by_feature["export"]["reason"]) == (False, "expired")
    assert set(by_feature["pro"]) == {
        "feature_code",
        "active",
        "source",
        "source_id",
        "valid_from",
        "valid_to",
    }


def test_another_projects_user_is_not_visible(aws: dict[str, str]) -> None:
    store("2", "user_42", grant("pro"))
    response = request(user_id="user_42", project_id="2")
    assert response["statusCode"] == 403
    assert json_body(response) == {"message": "Project ID does not match"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"project_id": "1"}, "user_id"),
        ({"user_id": "user_42"}, "project_id"),
        ({"user_id": "user 42", "project_id": "1"}, "user_id"),
        ({"user_id": "user_42", "project_id": "one"}, "project_id"),
    ],
)
def test_bad_queries_get_422_naming_the_field(
    aws: dict[str, str], query: dict[str, str], field: str
) -> None:
    response = request(**query)
    assert response["statusCode"] == 422
    assert [e["field"] for e in json_body(response)["errors"]] == [field]


def test_without_an_authorizer_context_the_answer_is_401(aws: dict[str, str]) -> None:
    event = load_event("entitlements.json")
    del event["requestContext"]["authorizer"]
    response = invoke("entitlements", event)
    assert (response["statusCode"], json_body(response)) == (401, {"message": "Unauthorized"})
