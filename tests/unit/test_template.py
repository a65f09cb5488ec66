"""template.yaml against the contract (API.md) and the house rules of issue #2."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from local.cfn import load_yaml
from tests.support.lambda_runtime import REPO_ROOT

# The routes of ../shared/API.md, which existing clients call: (method, path, authorized).
CONTRACT_ROUTES = {
    ("GET", "/health", False),
    ("GET", "/ready", False),
    ("GET", "/live", False),
    ("POST", "/api/v1/checkout/session", True),
    ("POST", "/api/v1/portal/session", True),
    ("GET", "/api/v1/entitlements", True),
    ("POST", "/api/v1/admin/grant", True),
    ("POST", "/api/v1/admin/revoke", True),
    ("GET", "/api/v1/metrics/project/{project_id}/subscriptions", True),
    ("GET", "/api/v1/metrics/project/{project_id}/revenue", True),
    ("POST", "/api/v1/webhooks/stripe", False),
}


@cache
def template() -> dict[str, Any]:
    return load_yaml((REPO_ROOT / "template.yaml").read_text())


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template()["Resources"].items() if v["Type"] == kind}


def functions() -> dict[str, dict[str, Any]]:
    return resources("AWS::Serverless::Function")


def events(kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (fid, event["Properties"])
        for fid, fn in functions().items()
        for event in fn["Properties"].get("Events", {}).values()
        if event["Type"] == kind
    ]


def test_every_contract_route_has_its_own_function_and_auth() -> None:
    served = {
        (props["Method"].upper(), props["Path"], props.get("Auth") != {"Authorizer": "NONE"})
        for _, props in events("Api")
    }
    assert served >= CONTRACT_ROUTES
    routed_functions = [fid for fid, _ in events("Api")]
    assert len(routed_functions) == len(set(routed_functions)), "one function per route"


def test_the_api_uses_a_cached_request_authorizer_on_x_api_key() -> None:
    (api,) = resources("AWS::Serverless::Api").values()
    auth = api["Properties"]["Auth"]
    authorizer = auth["Authorizers"][auth["DefaultAuthorizer"]]
    assert authorizer["FunctionPayloadType"] == "REQUEST"
    assert authorizer["Identity"] == {"Headers": ["X-API-Key"], "ReauthorizeEvery": 300}


def test_the_webhook_receiver_has_a_function_url_without_iam_auth() -> None:
    receiver = functions()["WebhookReceiverFunction"]["Properties"]
    assert receiver["FunctionUrlConfig"] == {"AuthType": "NONE"}


def test_the_consumer_reads_the_queue_in_batches_of_10_with_partial_failures() -> None:
    ((function_id, props),) = events("SQS")
    assert function_id == "WebhookConsumerFunction"
    assert props["BatchSize"] == 10
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["Queue"] == {"Fn::GetAtt": ["WebhookQueue", "Arn"]}


def test_the_queue_redrives_to_a_dlq_after_5_and_outlives_6_consumer_timeouts() -> None:
    queue = template()["Resources"]["WebhookQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    consumer_timeout = functions()["WebhookConsumerFunction"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * consumer_timeout


def test_reconciliation_runs_on_the_configured_hour_and_switch() -> None:
    ((function_id, props),) = events("Schedule")
    assert function_id == "ReconciliationFunction"
    assert props["Schedule"] == {"Fn::Sub": "cron(0 ${ReconciliationScheduleHour} * * ? *)"}
    assert props["State"] == {"Fn::If": ["ReconciliationOn", "ENABLED", "DISABLED"]}
    assert template()["Conditions"]["ReconciliationOn"] == {
        "Fn::Equals": [{"Ref": "ReconciliationEnabled"}, "true"]
    }


@pytest.mark.parametrize("table", ["ProjectsTable", "PricesTable", "EntitlementsTable"])
def test_the_core_tables_exist(table: str) -> None:
    assert table in resources("AWS::DynamoDB::Table")


def test_tables_are_on_demand_recoverable_and_retained() -> None:
    for name, table in resources("AWS::DynamoDB::Table").items():
        assert table["DeletionPolicy"] == "Retain", name
        assert table["UpdateReplacePolicy"] == "Retain", name
        assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST", name
        pitr = table["Properties"]["PointInTimeRecoverySpecification"]
        assert pitr == {"PointInTimeRecoveryEnabled": True}, name


def test_globals_pin_runtime_architecture_tracing_and_powertools() -> None:
    function_globals = template()["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Tracing"] == "Active"
    env = function_globals["Environment"]["Variables"]
    for name in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL", "POWERTOOLS_METRICS_NAMESPACE"):
        assert name in env


def policy_tables(function_id: str) -> dict[str, set[str]]:
    """Policy template name -> the tables it names, for one function."""
    found: dict[str, set[str]] = {}
    for policy in functions()[function_id]["Properties"].get("Policies", []):
        assert isinstance(policy, dict), f"{function_id}: managed policy {policy!r}"
        ((name, args),) = policy.items()
        if name == "Statement":
            continue
        if "TableName" in args:
            found.setdefault(name, set()).add(args["TableName"]["Ref"])
        else:
            found.setdefault(name, set())
    return found


@pytest.mark.parametrize(
    ("function_id", "expected"),
    [
        ("ApiKeyAuthorizerFunction", {"DynamoDBReadPolicy": {"ApiKeysTable"}}),
        ("EntitlementsFunction", {"DynamoDBReadPolicy": {"EntitlementsTable"}}),
        ("ReadyFunction", {"DynamoDBReadPolicy": {"ProjectsTable"}}),
        ("HealthFunction", {}),
        ("LiveFunction", {}),
        (
            "WebhookReceiverFunction",
            {"SQSSendMessagePolicy": set(), "SSMParameterReadPolicy": set()},
        ),
    ],
)
def test_hot_path_functions_get_only_the_access_they_use(
    function_id: str, expected: dict[str, set[str]]
) -> None:
    assert policy_tables(function_id) == expected


def test_no_function_has_a_managed_policy_or_a_wildcard() -> None:
    for function_id in functions():
        for policy in functions()[function_id]["Properties"].get("Policies", []):
            assert isinstance(policy, dict), function_id
            for statement in policy.get("Statement", []):
                assert statement["Resource"] != "*", function_id
                assert all(not a.endswith("*") for a in statement["Action"]), function_id


@pytest.mark.parametrize("function_id", ["AdminGrantFunction", "AdminRevokeFunction"])
def test_the_audit_trail_can_only_be_appended_to(function_id: str) -> None:
    statements = [
        statement
        for policy in functions()[function_id]["Properties"]["Policies"]
        for statement in policy.get("Statement", [])
    ]
    assert statements == [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem"],
            "Resource": {"Fn::GetAtt": ["AuditTable", "Arn"]},
        }
    ]


def test_secrets_are_ssm_parameter_names_not_values() -> None:
    text = (REPO_ROOT / "template.yaml").read_text()
    for marker in ("sk_live", "sk_test", "whsec_", "rk_live"):
        assert marker not in text
    params = template()["Parameters"]
    assert "StripeSecretKeyParameterName" in params
    assert "StripeWebhookSecretParameterName" in params


def test_outputs_name_the_endpoints_tables_and_queues() -> None:
    outputs = set(template()["Outputs"])
    endpoints = {"ApiUrl", "WebhookFunctionUrl", "WebhookQueueUrl", "WebhookDeadLetterQueueUrl"}
    assert endpoints <= outputs
    for table in resources("AWS::DynamoDB::Table"):
        assert f"{table}Name" in outputs
