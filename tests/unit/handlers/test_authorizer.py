import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing import wiring
from billing.adapters.dynamo.models import ApiKeyModel
from billing.domain.api_keys import hash_api_key, key_prefix
from tests.support.lambda_runtime import invoke, load_event

KEY = "sk_demo_space_journal"


def store_key(key: str = KEY, **fields: Any) -> None:
    wiring.bound_settings()
    values: dict[str, Any] = {
        "key_prefix": key_prefix(key),
        "project_id": "1",
        "app_id": "app_1",
        "active": True,
        "scopes": {"entitlements", "checkout"},
    }
    values.update(fields)
    ApiKeyModel(hash_api_key(key), **values).save()


def authorize(key: str | None) -> dict[str, Any]:
    event = load_event("api_key_authorizer.json")
    event["headers"].pop("X-API-Key")
    if key is not None:
        event["headers"]["x-api-key"] = key
    result: dict[str, Any] = invoke("api_key_authorizer", event)
    return result


def test_a_known_key_allows_the_whole_api_and_names_project_app_and_scopes(
    aws: dict[str, str],
) -> None:
    store_key()
    policy = authorize(KEY)
    assert policy["principalId"] == "app_1"
    (statement,) = policy["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    # One cached answer serves every route, so the policy must cover all of them.
    assert statement["Resource"] == ["arn:aws:execute-api:us-east-1:123456789012:abc123/v1/*/*"]
    assert policy["context"] == {
        "project_id": "1",
        "app_id": "app_1",
        "scopes": "checkout,entitlements",
    }


@pytest.mark.parametrize(
    "stored",
    [
        None,
        {"active": False},
        {"expires_at": datetime.now(UTC) - timedelta(seconds=1)},
    ],
    ids=["unknown", "inactive", "expired"],
)
def test_unknown_inactive_or_expired_keys_get_api_gateways_401(
    aws: dict[str, str], stored: dict[str, Any] | None
) -> None:
    if stored is not None:
        store_key(**stored)
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(KEY)


@pytest.mark.parametrize("key", [None, "", "k" * 257])
def test_missing_or_absurd_keys_are_refused_without_a_lookup(
    aws: dict[str, str], key: str | None
) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(key)


def test_the_key_is_stored_only_as_its_hash(aws: dict[str, str]) -> None:
    store_key()
    items = [item.attribute_values for item in ApiKeyModel.scan()]
    assert KEY not in repr(items)
    assert items[0]["key_hash"] == hash_api_key(KEY)


def test_a_key_never_reaches_the_logs(aws: dict[str, str], service_logs: io.StringIO) -> None:
    store_key()
    authorize(KEY)
    with pytest.raises(Exception, match="Unauthorized"):
        authorize("sk_wrong_key_value")
    logs = service_logs.getvalue()
    assert "request refused" in logs  # the logs were captured
    assert KEY not in logs
    assert "sk_wrong_key_value" not in logs
