"""template.yaml against the contract (API.md) and the house rules of issue #2."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from billing import errors
from billing.api.errors import error_body, error_headers
from billing.config import Settings
from billing.observability import MetricName
from billing_devstack.cfn import load_yaml
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


def test_an_authorizer_that_cannot_answer_is_a_503_like_any_dependency_outage() -> None:
    """When the authorizer raises (DynamoDB unavailable, the key's answer not cached yet),
    clients get what every route answers in an outage: the same status, body and Retry-After,
    not API Gateway's 500 ``{"message": null}``. A Lambda authorizer's error is reported as
    AUTHORIZER_CONFIGURATION_ERROR, so both authorizer types are set; 401/403 are untouched."""
    (api,) = resources("AWS::Serverless::Api").values()
    responses = api["Properties"]["GatewayResponses"]
    outage = errors.DependencyUnavailableError("DynamoDB GetItem failed")
    status, body = error_body(outage)
    assert set(responses) == {"AUTHORIZER_FAILURE", "AUTHORIZER_CONFIGURATION_ERROR"}
    for response in responses.values():
        assert int(response["StatusCode"]) == status == 503
        quoted = {name: f"'{value}'" for name, value in error_headers(outage).items()}
        assert response["ResponseParameters"] == {"Headers": quoted}  # static values, quoted
        assert json.loads(response["ResponseTemplates"]["application/json"]) == body


def test_the_webhook_receiver_has_a_function_url_without_iam_auth() -> None:
    receiver = functions()["WebhookReceiverFunction"]["Properties"]
    assert receiver["FunctionUrlConfig"] == {"AuthType": "NONE"}


def test_the_consumer_reads_the_queue_in_batches_of_10_with_partial_failures() -> None:
    ((function_id, props),) = [
        (fid, props)
        for fid, props in events("SQS")
        if props["Queue"] == {"Fn::GetAtt": ["WebhookQueue", "Arn"]}
    ]
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
    endpoints = {
        "ApiUrl",
        "WebhookFunctionUrl",
        "WebhookQueueUrl",
        "WebhookDeadLetterQueueUrl",
        "ReconciliationQueueUrl",
        "ReconciliationDeadLetterQueueUrl",
        "AlarmTopicArn",
    }
    assert endpoints <= outputs
    for table in resources("AWS::DynamoDB::Table"):
        assert f"{table}Name" in outputs


# ---------------------------------------------------------------- reconciliation


def statements(function_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in functions()[function_id]["Properties"]["Policies"]
        for statement in policy.get("Statement", [])
    ]


def test_reconciliation_continues_a_run_through_its_own_queue_one_message_at_a_time() -> None:
    reconciliation = functions()["ReconciliationFunction"]["Properties"]
    assert reconciliation["Timeout"] == 900
    continuation = reconciliation["Events"]["Continuation"]
    assert continuation == {
        "Type": "SQS",
        "Properties": {"Queue": {"Fn::GetAtt": ["ReconciliationQueue", "Arn"]}, "BatchSize": 1},
    }
    assert reconciliation["Events"]["NightlySchedule"]["Type"] == "Schedule"


def test_the_reconciliation_queue_outlives_6_timeouts_and_parks_a_run_after_3_tries() -> None:
    queue = template()["Resources"]["ReconciliationQueue"]["Properties"]
    timeout = functions()["ReconciliationFunction"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["ReconciliationDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 3,
    }
    dlq = template()["Resources"]["ReconciliationDeadLetterQueue"]["Properties"]
    webhook_dlq = template()["Resources"]["WebhookDeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] == webhook_dlq["MessageRetentionPeriod"]


def test_the_runs_table_lists_runs_by_start_and_expires_them() -> None:
    table = resources("AWS::DynamoDB::Table")["ReconciliationRunsTable"]["Properties"]
    assert table["KeySchema"] == [
        {"AttributeName": "run_id", "KeyType": "HASH"},
        {"AttributeName": "entry", "KeyType": "RANGE"},
    ]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index == {
        "IndexName": "by_started",
        "KeySchema": [
            {"AttributeName": "listing", "KeyType": "HASH"},
            {"AttributeName": "started_at", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    assert types == {"run_id": "S", "entry": "S", "listing": "S", "started_at": "S"}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_reconciliation_gets_exactly_the_access_it_uses() -> None:
    assert policy_tables("ReconciliationFunction") == {
        "DynamoDBReadPolicy": {"ProjectsTable", "PricesTable", "CustomersTable"},
        "DynamoDBCrudPolicy": {
            "EntitlementsTable",
            "StripeObjectsTable",
            "WebhookEventsTable",
            "ReconciliationRunsTable",
        },
        "SQSSendMessagePolicy": set(),
        "SSMParameterReadPolicy": set(),
    }
    policies = functions()["ReconciliationFunction"]["Properties"]["Policies"]
    assert {
        "SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["ReconciliationQueue", "QueueName"]}}
    } in policies
    assert {
        "SSMParameterReadPolicy": {"ParameterName": {"Ref": "StripeSecretKeyParameterName"}}
    } in policies
    # The audit trail only appended to; the webhook DLQ only measured (its depth is a metric).
    assert statements("ReconciliationFunction") == [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem"],
            "Resource": {"Fn::GetAtt": ["AuditTable", "Arn"]},
        },
        {
            "Effect": "Allow",
            "Action": ["sqs:GetQueueAttributes"],
            "Resource": {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]},
        },
    ]


def test_every_table_and_queue_in_use_reaches_the_functions_under_a_setting() -> None:
    env = template()["Globals"]["Function"]["Environment"]["Variables"]
    aliases = {field.validation_alias for field in Settings.model_fields.values()}
    named = {
        value["Ref"]: name
        for name, value in env.items()
        if isinstance(value, dict) and "Ref" in value
    }
    # Only the reconciliation DLQ is read by nobody (its alarm watches it).
    in_use = {*resources("AWS::DynamoDB::Table"), *resources("AWS::SQS::Queue")}
    for logical_id in in_use - {"ReconciliationDeadLetterQueue"}:
        assert logical_id in named, f"{logical_id} is not in Globals' environment"
        assert named[logical_id] in aliases, f"{named[logical_id]} is not a setting"
    assert env["RECONCILIATION_RUNS_TABLE_NAME"] == {"Ref": "ReconciliationRunsTable"}
    assert env["RECONCILIATION_QUEUE_URL"] == {"Ref": "ReconciliationQueue"}


def test_the_local_stack_serves_the_continuation_and_creates_the_runs_table() -> None:
    from tests.support.aws_tables import service_template

    local = service_template()
    sources = {(s.function_id, s.queue_id, s.batch_size) for s in local.sqs_sources}
    assert ("ReconciliationFunction", "ReconciliationQueue", 1) in sources
    (runs,) = [table for table in local.tables if table.logical_id == "ReconciliationRunsTable"]
    assert runs.ttl_attribute == "expires_at"
    assert local.queue("ReconciliationQueue").dlq_id == "ReconciliationDeadLetterQueue"
    env = local.functions["ReconciliationFunction"].environment
    assert env["RECONCILIATION_RUNS_TABLE_NAME"] == "ReconciliationRunsTable"
    assert env["RECONCILIATION_QUEUE_URL"].endswith("/ReconciliationQueue")


# ---------------------------------------------------------------- alarms


def alarms() -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in resources("AWS::CloudWatch::Alarm").items()}


def custom(metric: str) -> tuple[str, str, list[dict[str, Any]]]:
    """A custom metric as Powertools' EMF emits it: the namespace and the service dimension
    come from the functions' environment."""
    env = template()["Globals"]["Function"]["Environment"]["Variables"]
    dimension = {"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}
    return env["POWERTOOLS_METRICS_NAMESPACE"], metric, [dimension]


def lambda_errors(function_id: str) -> tuple[str, str, list[dict[str, Any]]]:
    return "AWS/Lambda", "Errors", [{"Name": "FunctionName", "Value": {"Ref": function_id}}]


def queue_not_empty(queue_id: str) -> tuple[str, str, list[dict[str, Any]]]:
    dimension = {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}
    return "AWS/SQS", "ApproximateNumberOfMessagesVisible", [dimension]


EXPECTED_ALARMS = {
    "ReconciliationFailureAlarm": custom(MetricName.RECONCILIATION_FAILURES),
    "ReconciliationErrorsAlarm": lambda_errors("ReconciliationFunction"),
    "ReconciliationDeadLetterAlarm": queue_not_empty("ReconciliationDeadLetterQueue"),
    "WebhookConsumerFailureAlarm": custom(MetricName.WEBHOOK_FAILED),
    "WebhookConsumerErrorsAlarm": lambda_errors("WebhookConsumerFunction"),
    "WebhookDeadLetterAlarm": queue_not_empty("WebhookDeadLetterQueue"),
}


def test_the_alarms_are_exactly_these() -> None:
    assert set(alarms()) == set(EXPECTED_ALARMS)


@pytest.mark.parametrize(("alarm_id", "watched"), EXPECTED_ALARMS.items())
def test_each_alarm_watches_its_metric_and_fires_on_one(
    alarm_id: str, watched: tuple[str, str, list[dict[str, Any]]]
) -> None:
    alarm = alarms()[alarm_id]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Dimensions"]) == watched
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Threshold"] == 1
    assert alarm["Statistic"] == ("Maximum" if watched[0] == "AWS/SQS" else "Sum")
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert alarm["OKActions"] == [{"Ref": "AlarmTopic"}]
    window = alarm["Period"] * alarm["EvaluationPeriods"]
    assert window <= 86_400  # CloudWatch's limit for an alarm's evaluation range


def test_a_failed_run_keeps_its_alarm_up_for_a_day() -> None:
    for alarm_id in ("ReconciliationFailureAlarm", "ReconciliationErrorsAlarm"):
        alarm = alarms()[alarm_id]
        assert alarm["Period"] * alarm["EvaluationPeriods"] == 86_400, alarm_id
        assert alarm.get("DatapointsToAlarm") == 1, alarm_id


def test_webhook_failures_alarm_within_5_minutes() -> None:
    for alarm_id in ("WebhookConsumerFailureAlarm", "WebhookConsumerErrorsAlarm"):
        alarm = alarms()[alarm_id]
        assert (alarm["Period"], alarm["EvaluationPeriods"]) == (300, 1), alarm_id


def test_the_alarm_topic_mails_alarm_email_only_when_it_is_set() -> None:
    assert resources("AWS::SNS::Topic").keys() == {"AlarmTopic"}
    email = template()["Parameters"]["AlarmEmail"]
    assert (email["Type"], email["Default"]) == ("String", "")
    assert template()["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    (subscription,) = resources("AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    assert template()["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}
