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

# The routes of the API contract (docs/api.md), which clients call: (method, path, authorized).
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
    (props,) = [p for fid, p in events("Schedule") if fid == "ReconciliationFunction"]
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


def test_globals_pin_runtime_architecture_tracing_and_the_loggers_settings() -> None:
    function_globals = template()["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Tracing"] == "Active"
    # Only what every function reads: the rest is per function (test_least_privilege.py).
    assert set(function_globals["Environment"]["Variables"]) == {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_LOG_LEVEL",
    }


def test_no_function_has_a_managed_policy_or_a_wildcard() -> None:
    for function_id in functions():
        for policy in functions()[function_id]["Properties"].get("Policies", []):
            assert isinstance(policy, dict), function_id
            for statement in policy.get("Statement", []):
                assert statement["Resource"] != "*", function_id
                assert all(not a.endswith("*") for a in statement["Action"]), function_id


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


def test_reconciliation_continues_a_run_through_its_own_queue_one_message_at_a_time() -> None:
    reconciliation = functions()["ReconciliationFunction"]["Properties"]
    assert reconciliation["Timeout"] == 900
    continuation = reconciliation["Events"]["Continuation"]
    assert continuation == {
        "Type": "SQS",
        "Properties": {
            "Queue": {"Fn::GetAtt": ["ReconciliationQueue", "Arn"]},
            "BatchSize": 1,
            "ScalingConfig": {"MaximumConcurrency": 2},  # one run at a time; SQS's least cap
        },
    }
    assert reconciliation["Events"]["NightlySchedule"]["Type"] == "Schedule"


def test_a_nightly_start_that_fails_is_parked_in_the_reconciliation_dlq() -> None:
    """The schedule invokes asynchronously: Lambda retries twice, then parks the event where
    the reconciliation DLQ's alarm sees it."""
    reconciliation = functions()["ReconciliationFunction"]["Properties"]
    assert reconciliation["DeadLetterQueue"] == {
        "Type": "SQS",
        "TargetArn": {"Fn::GetAtt": ["ReconciliationDeadLetterQueue", "Arn"]},
    }


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


def test_the_status_history_is_a_partition_per_project_only_appended_to() -> None:
    """Metrics Query one project's partition; the writers only put (conditionally on a new
    key, in the ledger's transaction): no function may update or delete an entry."""
    table = resources("AWS::DynamoDB::Table")["SubscriptionHistoryTable"]["Properties"]
    assert table["KeySchema"] == [
        {"AttributeName": "project_id", "KeyType": "HASH"},
        {"AttributeName": "entry", "KeyType": "RANGE"},
    ]
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    history = {"Fn::GetAtt": ["SubscriptionHistoryTable", "Arn"]}
    actions: dict[str, set[str]] = {}
    for function_id, fn in functions().items():
        for policy in fn["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []):
                named = statement["Resource"]
                if history == named or (isinstance(named, list) and history in named):
                    actions.setdefault(function_id, set()).update(statement["Action"])
    assert actions == {
        "WebhookConsumerFunction": {"dynamodb:PutItem"},
        "ReconciliationFunction": {"dynamodb:PutItem"},
        "SubscriptionMetricsFunction": {"dynamodb:Query"},
        "RevenueMetricsFunction": {"dynamodb:Query"},
    }


def test_every_table_and_queue_in_use_reaches_some_function_under_a_setting() -> None:
    aliases = {field.validation_alias for field in Settings.model_fields.values()}
    named = {
        value["Ref"]: name
        for fn in functions().values()
        for name, value in fn["Properties"].get("Environment", {}).get("Variables", {}).items()
        if isinstance(value, dict) and "Ref" in value
    }
    # Only the reconciliation and delivery DLQs are read by no function (their alarms watch
    # them; billing-admin reads the delivery DLQ through the stack's outputs); the meter
    # report DLQ is written by the reporter.
    in_use = {*resources("AWS::DynamoDB::Table"), *resources("AWS::SQS::Queue")}
    for logical_id in in_use - {"ReconciliationDeadLetterQueue", "WebhookDeliveryDeadLetterQueue"}:
        assert logical_id in named, f"{logical_id} reaches no function"
        assert named[logical_id] in aliases, f"{named[logical_id]} is not a setting"


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


def custom(metric: str, function_id: str) -> tuple[str, str, list[dict[str, Any]]]:
    """A custom metric as Powertools' EMF emits it from that function: the namespace and the
    service dimension come from its environment."""
    env = {
        **template()["Globals"]["Function"]["Environment"]["Variables"],
        **functions()[function_id]["Properties"]["Environment"]["Variables"],
    }
    dimension = {"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}
    return env["POWERTOOLS_METRICS_NAMESPACE"], metric, [dimension]


def lambda_errors(function_id: str) -> tuple[str, str, list[dict[str, Any]]]:
    return "AWS/Lambda", "Errors", [{"Name": "FunctionName", "Value": {"Ref": function_id}}]


def queue_not_empty(queue_id: str) -> tuple[str, str, list[dict[str, Any]]]:
    dimension = {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}
    return "AWS/SQS", "ApproximateNumberOfMessagesVisible", [dimension]


EXPECTED_ALARMS = {
    "ReconciliationFailureAlarm": custom(
        MetricName.RECONCILIATION_FAILURES, "ReconciliationFunction"
    ),
    "ReconciliationErrorsAlarm": lambda_errors("ReconciliationFunction"),
    "ReconciliationDeadLetterAlarm": queue_not_empty("ReconciliationDeadLetterQueue"),
    "WebhookConsumerFailureAlarm": custom(MetricName.WEBHOOK_FAILED, "WebhookConsumerFunction"),
    "WebhookConsumerErrorsAlarm": lambda_errors("WebhookConsumerFunction"),
    "WebhookDeadLetterAlarm": queue_not_empty("WebhookDeadLetterQueue"),
    "OutboundWebhookFailureAlarm": custom(
        MetricName.OUTBOUND_WEBHOOK_FAILED, "WebhookSenderFunction"
    ),
    "OutboundWebhookDeadLetterAlarm": queue_not_empty("WebhookDeliveryDeadLetterQueue"),
    "OutboundWebhookDispatchErrorsAlarm": lambda_errors("WebhookDispatcherFunction"),
    "MeterReportDeadLetterAlarm": queue_not_empty("MeterReportDeadLetterQueue"),
    "MeterReporterErrorsAlarm": lambda_errors("MeterReporterFunction"),
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


# ---------------------------------------------------------------- logs, encryption, caps


def test_every_function_logs_to_its_own_group_kept_for_the_retention_parameter() -> None:
    retention = template()["Parameters"]["LogRetentionDays"]
    assert (retention["Type"], retention["Default"]) == ("Number", 30)
    groups = resources("AWS::Logs::LogGroup")
    for function_id, function in functions().items():
        group_id = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        group = groups.pop(group_id)["Properties"]
        assert group["LogGroupName"] == {
            "Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{function_id}"
        }
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert group["KmsKeyId"] == {"Fn::GetAtt": ["ObservabilityKey", "Arn"]}
    assert set(groups) == {"ApiAccessLogs"}, "a log group no function writes"


def test_api_access_logs_are_json_lines_naming_the_keys_app_route_status_and_latency() -> None:
    (api,) = resources("AWS::Serverless::Api").values()
    setting = api["Properties"]["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    line = json.loads(setting["Format"])
    assert line == {
        "request_id": "$context.requestId",
        "app_id": "$context.authorizer.app_id",
        "project_id": "$context.authorizer.project_id",
        "method": "$context.httpMethod",
        "route": "$context.resourcePath",
        "status": "$context.status",
        "latency_ms": "$context.responseLatency",
        "integration_latency_ms": "$context.integrationLatency",
    }
    group = resources("AWS::Logs::LogGroup")["ApiAccessLogs"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_queues_and_the_alarm_topic_are_encrypted_at_rest() -> None:
    for name, queue in resources("AWS::SQS::Queue").items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name
    topic = resources("AWS::SNS::Topic")["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "ObservabilityKey"}
    key = resources("AWS::KMS::Key")["ObservabilityKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    # CloudWatch alarms publish to the encrypted topic only if the key lets them.
    (alarms_publish,) = [s for s in key["KeyPolicy"]["Statement"] if s["Sid"] == "AlarmsPublish"]
    assert alarms_publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(alarms_publish["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_the_functions_that_call_stripe_on_requests_are_capped_by_a_parameter() -> None:
    cap = {
        "Fn::If": ["CapStripeCallers", {"Ref": "StripeCallerConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    for function_id in ("CheckoutSessionFunction", "PortalSessionFunction"):
        assert functions()[function_id]["Properties"]["ReservedConcurrentExecutions"] == cap
    assert template()["Conditions"]["CapStripeCallers"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "StripeCallerConcurrency"}, 0]}]
    }
    consumer = functions()["WebhookConsumerFunction"]["Properties"]["Events"]
    scaling = consumer["WebhookQueueEvent"]["Properties"]["ScalingConfig"]
    assert scaling == {"MaximumConcurrency": {"Ref": "WebhookConsumerConcurrency"}}
    limits = template()["Parameters"]["WebhookConsumerConcurrency"]
    assert (limits["MinValue"], limits["MaxValue"]) == (2, 1000)  # what SQS accepts


# ---------------------------------------------------------------- usage and meters


def test_usage_counts_in_one_write_and_metered_usage_is_reported_off_the_request_path() -> None:
    """The usage route writes the counter and the record (one transaction) and calls no
    Stripe; a scheduled function reports metered usage, one pass at a time, and what Stripe
    will not take lands in a DLQ that alarms."""
    usage = functions()["UsageFunction"]["Properties"]
    assert not {name for name in usage["Environment"]["Variables"] if name.startswith("STRIPE")}
    ((function_id, schedule),) = [e for e in events("Schedule") if e[0] != "ReconciliationFunction"]
    assert (function_id, schedule["Schedule"]) == ("MeterReporterFunction", "rate(1 minute)")
    reporter = functions()["MeterReporterFunction"]["Properties"]
    assert reporter["ReservedConcurrentExecutions"] == 1
    assert reporter["Environment"]["Variables"]["METER_REPORT_DLQ_URL"] == {
        "Ref": "MeterReportDeadLetterQueue"
    }
    records = resources("AWS::DynamoDB::Table")["UsageRecordsTable"]["Properties"]
    assert {i["IndexName"] for i in records["GlobalSecondaryIndexes"]} == {
        "unreported",
        "by_meter",
    }
    assert records["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    counters = resources("AWS::DynamoDB::Table")["UsageCountersTable"]["Properties"]
    assert counters["KeySchema"] == [{"AttributeName": "project_user", "KeyType": "HASH"}]


def test_every_checkov_skip_names_a_check_and_gives_its_reason() -> None:
    skips = [
        (logical_id, skip)
        for logical_id, resource in template()["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for logical_id, skip in skips:
        assert set(skip) == {"id", "comment"}, logical_id
        assert skip["id"].startswith("CKV_"), logical_id
        assert len(skip["comment"].split()) >= 4, f"{logical_id} {skip['id']}: say why"


# ---------------------------------------------------------------- outbound webhooks (issue #22)


def test_the_change_log_streams_new_entries_to_the_dispatcher_retried_until_they_expire() -> None:
    table = resources("AWS::DynamoDB::Table")["EntitlementChangesTable"]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert table["KeySchema"] == [
        {"AttributeName": "project_user", "KeyType": "HASH"},
        {"AttributeName": "version", "KeyType": "RANGE"},
    ]
    ((function_id, props),) = events("DynamoDB")
    assert function_id == "WebhookDispatcherFunction"
    assert props["Stream"] == {"Fn::GetAtt": ["EntitlementChangesTable", "StreamArn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (props["StartingPosition"], props["MaximumRetryAttempts"]) == ("TRIM_HORIZON", -1)


def test_a_failed_delivery_is_retried_for_about_3_days_then_dead_lettered() -> None:
    """The queue's maxReceiveCount is the code's MAX_DELIVERY_ATTEMPTS; with the default wait
    the last attempt comes 3+ days after the first, and the queue keeps a message longer."""
    from billing.config import Settings
    from billing.domain.deliveries import (
        DELIVERY_WINDOW_SECONDS,
        MAX_DELIVERY_ATTEMPTS,
        MAX_VISIBILITY_SECONDS,
        retry_delay,
    )

    queue = template()["Resources"]["WebhookDeliveryQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["WebhookDeliveryDeadLetterQueue", "Arn"]},
        "maxReceiveCount": MAX_DELIVERY_ATTEMPTS,
    }
    base = Settings.model_fields["webhook_delivery_retry_base_seconds"].default
    waits = [retry_delay(attempt, base) for attempt in range(1, MAX_DELIVERY_ATTEMPTS)]
    assert max(waits) == MAX_VISIBILITY_SECONDS
    assert DELIVERY_WINDOW_SECONDS <= sum(waits) < DELIVERY_WINDOW_SECONDS + MAX_VISIBILITY_SECONDS
    # the last attempt's own wait ends before the queue would drop the message
    assert sum(waits) + MAX_VISIBILITY_SECONDS < queue["MessageRetentionPeriod"]
    sender = functions()["WebhookSenderFunction"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * sender["Timeout"]
    source = sender["Events"]["Deliveries"]["Properties"]
    assert source["Queue"] == {"Fn::GetAtt": ["WebhookDeliveryQueue", "Arn"]}
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_no_api_asks_api_gateway_to_decompress_requests() -> None:
    """The API refuses encoded bodies (415 naming Content-Encoding, billing.api.body) because
    API Gateway passes them on as sent; with MinimumCompressionSize it would decompress them,
    and that rule would refuse what API Gateway had already decoded."""
    apis = {**resources("AWS::Serverless::Api"), **resources("AWS::ApiGateway::RestApi")}
    assert apis
    for name, api in apis.items():
        assert "MinimumCompressionSize" not in api.get("Properties", {}), name
    assert "MinimumCompressionSize" not in template().get("Globals", {}).get("Api", {})
