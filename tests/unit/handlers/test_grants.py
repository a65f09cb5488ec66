"""Support overrides and the read path, through the handlers, on moto tables."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.client
import pytest

from billing import wiring
from billing.domain.tenancy import Price
from billing.services import engine, tenancy
from billing.services.entitlements import read_entitlements
from tests.support import stripe_events as se
from tests.support.lambda_runtime import invoke, json_body, load_event

NOW = datetime.now(UTC)


@pytest.fixture
def project(aws: dict[str, str]) -> Iterator[None]:
    tenancy.create_project(wiring.project_store(), name="space_journal", project_id=1, now=NOW)
    yield


def post(function: str, **body: Any) -> dict[str, Any]:
    event = load_event(f"{function}.json")
    event["body"] = json.dumps(body)
    response: dict[str, Any] = invoke(function, event)
    return response


def grant(**changes: Any) -> dict[str, Any]:
    body = {
        "user_id": "user_42",
        "project_id": 1,
        "feature_code": "pro",
        "granted_by": "support@example.com",
        "reason": "goodwill after the outage",
        **changes,
    }
    return post("admin_grant", **body)


def revoke(**changes: Any) -> dict[str, Any]:
    body = {
        "user_id": "user_42",
        "project_id": 1,
        "feature_code": "pro",
        "revoked_by": "support@example.com",
        "reason": "chargeback",
        **changes,
    }
    return post("admin_revoke", **body)


def read(headers: dict[str, str] | None = None) -> dict[str, Any]:
    event = load_event("entitlements.json")
    event["headers"].update(headers or {})
    response: dict[str, Any] = invoke("entitlements", event)
    return response


def audit(**query: str) -> dict[str, Any]:
    event = load_event("admin_audit.json")
    event["queryStringParameters"].update(query)
    event["multiValueQueryStringParameters"].update({k: [v] for k, v in query.items()})
    response: dict[str, Any] = invoke("admin_audit", event)
    return response


def test_a_grant_shows_as_manual_and_the_same_grant_twice_is_one(project: None) -> None:
    first = grant()
    assert first["statusCode"] == 201
    assert json_body(first)["source"] == "manual"
    (entitlement,) = json_body(read())["entitlements"]
    assert (entitlement["feature_code"], entitlement["source"], entitlement["active"]) == (
        "pro",
        "manual",
        True,
    )
    again = grant()
    assert (again["statusCode"], json_body(again)["created"]) == (200, False)
    assert len(json_body(audit())["items"]) == 1


def test_a_revoke_ends_the_grant_and_a_second_revoke_finds_nothing(project: None) -> None:
    grant()
    assert revoke()["statusCode"] == 200
    (entitlement,) = json_body(read())["entitlements"]
    assert (entitlement["active"], entitlement["reason"]) == (False, "revoked")
    second = revoke()
    assert second["statusCode"] == 404


def test_an_expired_grant_is_inactive_without_any_job(project: None) -> None:
    valid_to = NOW + timedelta(hours=1)
    grant(valid_to=valid_to.isoformat())
    later = read_entitlements(wiring.entitlement_store(), "1", "user_42", valid_to)
    assert [(v.active, v.reason) for v in later] == [(False, "expired")]


def test_a_subscription_and_a_grant_of_the_same_feature_are_both_listed(project: None) -> None:
    wiring.price_store().put(Price("price_pro", "1", ("pro",), 900, "usd", "month"))
    period_end = int((NOW + timedelta(days=30)).timestamp())
    raw = se.event(
        "customer.subscription.created",
        se.subscription(period_end=period_end),
        int(NOW.timestamp()),
    )
    engine.apply_event(raw, wiring.billing_ledger(), NOW)
    grant()
    sources = {(e["source"], e["active"]) for e in json_body(read())["entitlements"]}
    assert sources == {("subscription", True), ("manual", True)}
    # A billing event after the grant keeps it.
    engine.apply_event(
        se.event(
            "customer.subscription.updated",
            se.subscription(period_end=period_end),
            int(NOW.timestamp()) + 5,
        ),
        wiring.billing_ledger(),
        NOW,
    )
    assert {e["source"] for e in json_body(read())["entitlements"]} == {"subscription", "manual"}


def test_the_audit_lists_both_changes_newest_first_with_reasons(project: None) -> None:
    grant()
    revoke()
    items = json_body(audit())["items"]
    assert [(i["action"], i["reason"]) for i in items] == [
        ("revoke", "chargeback"),
        ("grant", "goodwill after the outage"),
    ]
    assert items[0]["before"]["in_force"] is True
    assert items[0]["after"]["in_force"] is False
    page = json_body(audit(limit="1"))
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = json_body(audit(limit="1", cursor=page["next_cursor"]))
    assert rest["items"][0]["action"] == "grant"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"valid_to": (NOW - timedelta(minutes=1)).isoformat()}, "valid_to"),
        ({"valid_to": "2030-01-01T00:00:00"}, "valid_to"),
        ({"reason": "  "}, "reason"),
        ({"granted_by": ""}, "granted_by"),
        ({"feature_code": "Pro!"}, "feature_code"),
        ({"granted_by": "ops\x1b[2J"}, "granted_by"),
        ({"reason": "ok\n2026-01-01 grant pro by root: fake"}, "reason"),
        ({"reason": "ok\u202etxt.exe"}, "reason"),
        ({"reason": "ok\x9b31m"}, "reason"),
        ({"valid_to": "9999-12-31T23:59:59-14:00"}, "valid_to"),
        ({"valid_to": "0001-01-01T00:00:00+14:00"}, "valid_to"),
    ],
)
def test_bad_grants_are_422_naming_the_field_and_store_nothing(
    project: None, changes: dict[str, Any], field: str
) -> None:
    response = grant(**changes)
    assert response["statusCode"] == 422, response["body"]
    assert field in [e["field"] for e in json_body(response)["errors"]]
    assert json_body(read())["entitlements"] == []
    assert json_body(audit())["items"] == []


@pytest.mark.parametrize("encoding", ["gzip", "GZip", "gzip, identity", "br"])
def test_a_grant_with_a_content_encoding_is_415_naming_it_and_stores_nothing(
    project: None, encoding: str
) -> None:
    """API Gateway passes the body as sent (no MinimumCompressionSize): an encoded body would
    be read as something it is not."""
    event = load_event("admin_grant.json")
    event["headers"]["Content-Encoding"] = encoding
    event["multiValueHeaders"]["Content-Encoding"] = [encoding]
    response = invoke("admin_grant", event)
    assert response["statusCode"] == 415, response["body"]
    assert [e["field"] for e in json_body(response)["errors"]] == ["Content-Encoding"]
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    assert headers["accept-encoding"] == "identity"
    assert json_body(read())["entitlements"] == []
    assert json_body(audit())["items"] == []


def test_a_grant_saying_identity_is_stored(project: None) -> None:
    event = load_event("admin_grant.json")
    event["headers"]["content-encoding"] = "Identity"
    event["multiValueHeaders"]["content-encoding"] = ["Identity"]
    assert invoke("admin_grant", event)["statusCode"] == 201


def test_forged_foreign_and_truncated_cursors_are_422_naming_the_cursor(project: None) -> None:
    """Never the 503 with Retry-After (a client would retry forever) or the 500 that the raw
    table key in base64 got: a 422 naming ``cursor``, whatever the cursor."""
    grant()
    revoke()
    cursor = json_body(audit(limit="1"))["next_cursor"]
    other_users = json_body(audit(limit="1", user_id="user_43"))["next_cursor"]
    assert other_users is None
    forged = [
        cursor[:-2],
        cursor[:10],
        cursor + "A",
        cursor[::-1],
        "eyJwcm9qZWN0X3VzZXIiOiB7IlMiOiAiMiN2aWN0aW0ifX0",  # {"project_user": {"S": "2#victim"}}
        "not base64 at all!",
        "AAAA",
    ]
    for bad in forged:
        response = audit(limit="1", cursor=bad)
        assert response["statusCode"] == 422, (bad, response["body"])
        assert json_body(response)["errors"] == [
            {
                "field": "cursor",
                "reason": "not a cursor this API returned for this project and user",
            }
        ]
    replayed = audit(limit="1", cursor=cursor, user_id="user_43")
    assert replayed["statusCode"] == 422


def test_a_grant_in_an_unknown_project_is_422(aws: dict[str, str]) -> None:
    response = grant()
    assert response["statusCode"] == 422
    assert json_body(response)["errors"][0]["field"] == "project_id"


def test_an_unchanged_answer_is_304_and_a_change_gets_a_new_etag(project: None) -> None:
    first = read()
    etag = first["multiValueHeaders"]["ETag"][0]
    unchanged = read({"If-None-Match": etag})
    assert (unchanged["statusCode"], unchanged["body"]) == (304, "")
    grant()
    changed = read({"If-None-Match": etag})
    assert changed["statusCode"] == 200
    assert changed["multiValueHeaders"]["ETag"][0] != etag


def test_one_entitlements_read_is_exactly_one_dynamodb_call_with_the_usage_counters(
    project: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant()
    read()  # warm: connections made, settings parsed
    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]

    def counting(self: Any, operation: str, params: Any) -> Any:
        calls.append(operation)
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    assert read()["statusCode"] == 200
    assert calls == ["BatchGetItem"]  # the record and the user's usage counters


def test_the_single_check_answers_one_feature(project: None) -> None:
    valid_to = NOW + timedelta(days=2)
    grant(valid_to=valid_to.isoformat())
    response = invoke("entitlement_check", load_event("entitlement_check.json"))
    body = json_body(response)
    assert body["feature_code"] == "pro" and body["active"] is True
    assert body["valid_to"].startswith(valid_to.strftime("%Y-%m-%dT%H:%M"))
    event = load_event("entitlement_check.json")
    event["queryStringParameters"]["feature_code"] = "export"
    event["multiValueQueryStringParameters"]["feature_code"] = ["export"]
    assert json_body(invoke("entitlement_check", event)) == {
        "feature_code": "export",
        "active": False,
        "valid_to": None,
    }


@pytest.mark.parametrize("feature_code", ["PRO", "pro#x", "<script>", "pro feature", "é"])
def test_a_check_of_something_that_cannot_be_a_feature_code_is_422(
    project: None, feature_code: str
) -> None:
    """Not echoed back as an inactive feature: the same alphabet as prices and grants."""
    event = load_event("entitlement_check.json")
    event["queryStringParameters"]["feature_code"] = feature_code
    event["multiValueQueryStringParameters"]["feature_code"] = [feature_code]
    response = invoke("entitlement_check", event)
    assert response["statusCode"] == 422, response
    assert [error["field"] for error in json_body(response)["errors"]] == ["feature_code"]
