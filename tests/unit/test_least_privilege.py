"""Each function's policy and environment in template.yaml are exactly what its code uses.

How: tests/support/reach.py follows each function's code statically (mypy's types resolve every
call, a Protocol's to the classes implementing it) down to the entry points of the modules that
call AWS; tests/support/aws_calls.py declares what each entry point calls, and the first tests
here check that declaration on moto, call by call. A function's needs are the union over the
entry points it reaches; its policy must grant exactly that, so the tests fail when code gains
a call its policy lacks, and when a policy keeps an action the code no longer makes.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from billing import wiring
from billing.config import Settings, get_settings
from billing.domain.allowances import FeatureLimit
from billing.domain.billing_facts import Owner
from billing.domain.grants import AuditEntry, GrantRequest
from billing.domain.ledger import FactChange, LedgerChange
from billing.domain.metering import MeterDrift
from billing.domain.reconciliation import Checkpoint, PageOutcome, RepairRecord, RunSummary
from billing.domain.stripe_events import parse_event
from billing.domain.tenancy import Price
from billing.domain.usage import UsageRequest
from billing.errors import DependencyUnavailableError
from billing.secrets import audit_cursor_keys, stripe_secret_key, webhook_signing_secrets
from billing.services import engine, grants, history, tenancy, usage
from billing_devstack.cfn import load_yaml
from tests.support import stripe_events as se
from tests.support.aws_calls import (
    ENTRY_POINT_CALLS,
    SSM_PARAMETERS,
    TOKEN_KEYS,
    Call,
    Recording,
    Resource,
    parameter,
    queue,
    recording,
    table,
)
from tests.support.lambda_runtime import (
    EVENTS_DIR,
    REPO_ROOT,
    FakeLambdaContext,
    import_function,
    load_event,
)
from tests.support.reach import Reach, function_directories, reach_of

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


@cache
def template() -> dict[str, Any]:
    return load_yaml((REPO_ROOT / "template.yaml").read_text())


def resource_type(logical_id: str) -> str:
    return str(template()["Resources"][logical_id]["Type"])


def function_ids() -> dict[str, str]:
    """Function directory -> logical id, from each function's CodeUri."""
    return {
        props["Properties"]["CodeUri"].strip("/").rsplit("/", 1)[-1]: logical_id
        for logical_id, props in template()["Resources"].items()
        if props["Type"] == "AWS::Serverless::Function"
    }


def needs(directory: str) -> set[Call]:
    """The AWS calls a function's code can make: the union over the entry points it reaches."""
    return {
        call for entry in reach_of(directory).aws_entry_points for call in ENTRY_POINT_CALLS[entry]
    }


# ---------------------------------------------------------------------- the declared calls
def test_every_entry_point_some_function_reaches_is_declared_and_no_other() -> None:
    reached = {entry for d in function_directories() for entry in reach_of(d).aws_entry_points}
    assert reached - set(ENTRY_POINT_CALLS) == set(), "declare them in tests/support/aws_calls.py"
    assert set(ENTRY_POINT_CALLS) - reached == set(), "no function reaches these any more"


def test_the_ssm_parameters_are_the_templates_secret_parameters() -> None:
    parameters_ = template()["Parameters"]
    assert {
        "/" + parameters_[name]["Default"]: name
        for name in parameters_
        if name.endswith("ParameterName")
    } == SSM_PARAMETERS


@pytest.fixture
def world(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto with the template's tables and queues, the secrets in SSM (no plain values), a
    project with a price: what the entry points read."""
    monkeypatch.setenv("RECONCILIATION_QUEUE_URL", aws["ReconciliationQueue"])
    monkeypatch.setenv("WEBHOOK_DELIVERY_QUEUE_URL", aws["WebhookDeliveryQueue"])
    monkeypatch.setenv("METER_REPORT_DLQ_URL", aws["MeterReportDeadLetterQueue"])
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    monkeypatch.delenv("AUDIT_CURSOR_KEY", raising=False)
    ssm = boto3.client("ssm", region_name="us-east-1")
    for name, template_parameter in SSM_PARAMETERS.items():
        value = "sk_test_or_whsec_or_a_cursor_key_of_32_characters"
        ssm.put_parameter(Name=name, Value=value, Type="SecureString")
        setting = {
            "StripeSecretKeyParameterName": "STRIPE_SECRET_KEY_PARAMETER",
            "StripeWebhookSecretParameterName": "STRIPE_WEBHOOK_SECRET_PARAMETER",
            "AuditCursorKeyParameterName": "AUDIT_CURSOR_KEY_PARAMETER",
        }[template_parameter]
        monkeypatch.setenv(setting, name)
    key = boto3.client("kms", region_name="us-east-1").create_key(
        KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY"
    )
    monkeypatch.setenv("TOKEN_SIGNING_KEYS", key["KeyMetadata"]["Arn"])
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    wiring.reset()
    tenancy.create_project(wiring.project_store(), name="p", project_id=1, now=NOW)
    wiring.price_store().put(Price("price_pro", "1", ("pro",), 900, "usd", "month"))
    metered = FeatureLimit("calls", 10, "billing_period", "api_requests")
    wiring.price_store().put(
        Price("price_metered", "1", ("calls",), 900, "usd", "month", limits=(metered,))
    )
    wiring.reset()  # the scenarios bind the models again
    yield aws
    parameters.clear_caches()  # type: ignore[no-untyped-call]


def _single_items() -> None:
    wiring.api_key_store().find("0" * 64)
    wiring.entitlement_store().usage_of("1", "user_42")
    wiring.dynamo_health_probe().check()
    wiring.project_store().get("1")
    wiring.price_store().get("price_pro")
    wiring.price_store().list("1")
    wiring.metrics_store().facts_of_project("1")
    wiring.metrics_store().history_of_project("1")
    wiring.metrics_store().grace_period_days("1")
    customers = wiring.customer_store()
    customers.customer_of("1", "user_42", "usd")
    customers.any_customer_of("1", "user_42")
    customers.remember("1", "user_42", "usd", "cus_1", NOW)
    customers.remember("1", "user_42", "usd", "cus_2", NOW)  # taken: reads the first


def _grants() -> None:
    request = GrantRequest("1", "user_42", "pro", actor="support", reason="goodwill")
    grants.grant(wiring.project_store(), wiring.grant_store(), request, app_id="app", now=NOW)
    grants.audit_trail(
        wiring.grant_store(), "1", "user_42", limit=10, cursor=None, seal=wiring.audit_cursor_seal()
    )


def _usage() -> None:
    """A usage counted, the same key again, and an enforced one over the limit."""
    request = GrantRequest("1", "user_42", "credits", "support", "trial", quantity=5)
    grants.grant(wiring.project_store(), wiring.grant_store(), request, app_id="app", now=NOW)
    for quantity, key in ((3, "k1"), (3, "k1"), (3, "k2")):
        usage.record_usage(
            wiring.usage_store(),
            UsageRequest("1", "user_42", "credits", quantity, key, enforce=True),
            now=NOW,
        )


def _metering() -> None:
    """A metered usage waiting, its customer found, marked each way, read by meter; parked."""
    subscription = se.subscription("sub_m", prices=("price_metered",), start=1_795_000_000)
    raw = se.event("customer.subscription.created", subscription, 1_795_000_000)
    engine.apply_event(raw, wiring.billing_ledger(), NOW)
    request = UsageRequest("1", "user_42", "calls", 2, "m1")
    usage.record_usage(wiring.usage_store(), request, now=NOW)
    store = wiring.metered_usage_store()
    (waiting,) = store.unreported(10)
    store.customers_of(["sub_m"])
    store.mark_retry(waiting, "Stripe down", NOW)
    store.mark_reported(waiting, "cus_1", NOW)
    store.mark_dead_lettered(waiting, "refused", NOW)
    store.of_meter("api_requests", NOW - timedelta(days=1), NOW + timedelta(days=1))
    wiring.meter_dead_letters().park(waiting, "refused")
    run = RunSummary("run_m", "test", NOW, 0, "completed", Checkpoint(), {})
    drift = MeterDrift("api_requests", "cus_1", NOW, 2, 0)
    wiring.reconciliation_runs().save_meter_drift(run, [drift])


def _ledger() -> None:
    ledger = wiring.billing_ledger()
    sent = int(NOW.timestamp()) - 60  # events are applied after Stripe sent them
    engine.apply_event(
        se.event("customer.subscription.created", se.subscription(), sent), ledger, NOW
    )
    engine.apply_event(se.event("customer.created", {"id": "cus_1"}, 2), ledger, NOW)  # recorded
    ledger.owner_of_customer("cus_1")
    ledger.facts_of(Owner("1", "user_42"))


def _repair_with_audit() -> None:
    """A repair's commit carries audit entries (reconciliation's); webhooks' never do."""
    ledger = wiring.billing_ledger()
    state = ledger.read(fact_ids=["sub_1"], owner=Owner("1", "user_42"))
    fact = state.facts["sub_1"]
    repaired = dataclasses.replace(fact, version=fact.version + 1)
    assert state.record is not None
    version = state.record[1]
    audit = AuditEntry(
        "1", "user_42", "reconcile", "pro", "reconciliation", "drift", NOW, "r", None, None
    )
    event = parse_event(se.event("customer.subscription.updated", se.subscription(), 3))
    change = LedgerChange(event, (FactChange(repaired, fact.version),), [], version, (audit,))
    assert ledger.commit(change, NOW)


def _runs() -> None:
    runs = wiring.reconciliation_runs()
    run = RunSummary("run_1", "test", NOW, 0, "running", Checkpoint(), {})
    runs.start(run)
    runs.get("run_1")
    runs.count_invocation("run_1")
    fact = wiring.billing_ledger().read(fact_ids=["sub_1"]).facts["sub_1"]
    repair = RepairRecord(
        "subscription", "sub_1", "sub_1", "1", "user_42", ("status",), None, fact, NOW
    )
    runs.save_page(run, Checkpoint(1, None, 1), PageOutcome(repairs=[repair]), "completed", NOW)
    runs.last_completed()


def _queues_and_secrets() -> None:
    wiring.webhook_queue().enqueue("{}", "evt_1", "customer.created")
    wiring.run_queue().continue_run("run_1")
    wiring.dead_letter_queue().approximate_count()
    stripe_secret_key(get_settings())
    webhook_signing_secrets(get_settings())
    audit_cursor_keys(get_settings())


def _history() -> None:
    log = wiring.change_log()
    history.state_at(log, "1", "user_42", NOW)
    history.changes_between(
        log,
        "1",
        "user_42",
        since=NOW - timedelta(days=1),
        until=NOW,
        limit=10,
        cursor=None,
        seal=wiring.audit_cursor_seal(),
    )


def _outbound_webhooks() -> None:
    from billing.domain.deliveries import Delivery
    from billing.services.outbound_webhooks import LoggedChange, dispatch

    endpoints = wiring.webhook_endpoints()
    queue_ = wiring.delivery_queue()
    dispatch([LoggedChange("1", "user_42", 1)], endpoints, queue_)
    queue_.enqueue([Delivery("1", "user_42", 1, "we_1")])
    endpoints.get("1", "we_1")
    wiring.change_log().entry("1", "user_42", 1)
    with contextlib.suppress(DependencyUnavailableError):  # a made-up receipt: the call counts
        queue_.retry_after("made-up-receipt-handle", 30)


def _tokens() -> None:
    from billing.services.tokens import issue_token, public_keys

    keys = wiring.bound_settings().token_signing_keys
    issue_token(
        wiring.entitlement_store(),
        wiring.token_signer(),
        signing_keys=keys,
        issuer="billing",
        project_id="1",
        user_id="user_42",
        audience="api",
        ttl_seconds=300,
        now=NOW,
    )
    public_keys(wiring.token_signer(), signing_keys=keys)


SCENARIOS: list[Callable[[], None]] = [
    _single_items,
    _grants,
    _usage,
    _metering,
    _ledger,
    _repair_with_audit,
    _runs,
    _queues_and_secrets,
    _history,
    _outbound_webhooks,
    _tokens,
]


def test_each_entry_point_makes_exactly_the_calls_declared(world: dict[str, str]) -> None:
    seen = Recording()
    for scenario in SCENARIOS:
        with recording() as one:
            scenario()
        seen.entered |= one.entered
        seen.unattributed += one.unattributed
        for entry, found in one.by_entry_point.items():
            seen.by_entry_point.setdefault(entry, set()).update(found)
    assert seen.unattributed == [], "AWS called outside the declared entry points"
    assert set(ENTRY_POINT_CALLS) - seen.entered == set(), "no scenario runs these"
    wrong = {
        entry: (sorted(map(str, declared)), sorted(map(str, seen.by_entry_point.get(entry, ()))))
        for entry, declared in ENTRY_POINT_CALLS.items()
        if seen.by_entry_point.get(entry, set()) != declared
    }
    assert wrong == {}, "entry point: (declared, made)"


# Every function on its sample events, recorded: what it reaches at run time must be among what
# the static analysis says it can reach (a check on the analysis itself).
def _events_of(directory: str) -> list[str]:
    return sorted(
        path.name
        for path in EVENTS_DIR.glob("*.json")
        if path.stem == directory or path.stem.startswith(directory + "_")
    )


@pytest.mark.parametrize("directory", list(function_directories()))
def test_a_function_run_on_its_events_reaches_only_what_the_analysis_found(
    directory: str, world: dict[str, str]
) -> None:
    names = _events_of(directory)
    assert names, f"events/{directory}.json is missing"
    handler = import_function(directory).lambda_handler
    for name in names:
        # What it reached before failing (no Stripe here, no data) still counts.
        with recording() as seen, contextlib.suppress(Exception):
            handler(load_event(name), FakeLambdaContext())
        assert seen.unattributed == [], name
        assert seen.entered <= reach_of(directory).aws_entry_points, name


# ---------------------------------------------------------------------- policies
# SAM policy templates, as samtranslator's policy_templates.json writes them; a template whose
# actions are wider than the code's calls makes the comparison fail, as it should.
_TABLE_READ = ("GetItem", "Scan", "Query", "BatchGetItem", "DescribeTable")
_TABLE_WRITE = ("DeleteItem", "PutItem", "UpdateItem", "BatchWriteItem", "ConditionCheckItem")
_TABLE_CRUD = _TABLE_READ + _TABLE_WRITE
SAM_DYNAMODB_TEMPLATES = {
    "DynamoDBReadPolicy": _TABLE_READ,
    "DynamoDBCrudPolicy": _TABLE_CRUD,
    "DynamoDBWritePolicy": ("PutItem", "UpdateItem", "BatchWriteItem"),
}
ANY = Resource("any", "*")


def _sam_template(name: str, args: dict[str, Any]) -> set[Call]:
    if name in SAM_DYNAMODB_TEMPLATES:
        tables = [table(args["TableName"]["Ref"]), table(args["TableName"]["Ref"], "*")]
        return {Call(f"dynamodb:{a}", t) for a in SAM_DYNAMODB_TEMPLATES[name] for t in tables}
    if name == "SQSSendMessagePolicy":
        return {Call("sqs:SendMessage*", queue(args["QueueName"]["Fn::GetAtt"][0]))}
    if name == "SSMParameterReadPolicy":
        named = parameter(args["ParameterName"]["Ref"])
        reads = ("GetParameters", "GetParameter", "GetParametersByPath")
        return {Call("ssm:DescribeParameters", ANY)} | {Call(f"ssm:{a}", named) for a in reads}
    raise AssertionError(f"policy template {name} is not known here: add its expansion")


SSM_ARN = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${%s}"


# How the template names the entitlement tokens' keys, in a statement and in a variable.
TOKEN_KEYS_IN_POLICY = {
    "Fn::If": [
        "TokenKeysGiven",
        {"Ref": "TokenSigningKeyArns"},
        [{"Fn::GetAtt": ["EntitlementTokenKey", "Arn"]}],
    ]
}
TOKEN_KEYS_IN_ENVIRONMENT = {
    "Fn::If": [
        "TokenKeysGiven",
        {"Fn::Join": [",", {"Ref": "TokenSigningKeyArns"}]},
        {"Fn::GetAtt": ["EntitlementTokenKey", "Arn"]},
    ]
}


def statement_resource(value: Any) -> Resource:
    """A statement's Resource, in the few forms the template uses."""
    if value == "*":
        return ANY
    if value == TOKEN_KEYS_IN_POLICY:
        return TOKEN_KEYS
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        assert attribute == "Arn", value
        kind = resource_type(logical_id)
        return table(logical_id) if kind == "AWS::DynamoDB::Table" else queue(logical_id)
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        text = value["Fn::Sub"]
        if text.startswith("${") and ".Arn}/index/" in text:
            logical_id, index = text[2:].split(".Arn}/index/")
            return table(logical_id, index)
        for name in template()["Parameters"]:
            if text == SSM_ARN % name:
                return parameter(name)
    raise AssertionError(f"a Resource this test cannot read: {value!r}")


def granted(logical_id: str) -> set[Call]:
    found: set[Call] = set()
    for policy in template()["Resources"][logical_id]["Properties"].get("Policies", []):
        assert isinstance(policy, dict), f"{logical_id}: a managed policy ({policy}) is too wide"
        ((name, args),) = policy.items()
        if name != "Statement":
            found |= _sam_template(name, args)
            continue
        for statement in args:
            assert statement["Effect"] == "Allow" and set(statement) == {
                "Effect",
                "Action",
                "Resource",
            }
            resources = statement["Resource"]
            if resources == TOKEN_KEYS_IN_POLICY:
                resources = [resources]
            for resource in resources if isinstance(resources, list) else [resources]:
                found |= {
                    Call(action, statement_resource(resource)) for action in statement["Action"]
                }
    return found


@pytest.mark.parametrize("directory", list(function_directories()))
def test_each_function_is_granted_exactly_the_calls_its_code_can_make(directory: str) -> None:
    logical_id = function_ids()[directory]
    policy, code = granted(logical_id), needs(directory)
    assert sorted(map(str, code - policy)) == [], f"{logical_id} lacks these"
    assert sorted(map(str, policy - code)) == [], f"{logical_id} is granted calls it never makes"


def test_the_webhook_consumer_reads_five_tables_at_once_and_writes_by_transaction() -> None:
    """The example of issue #20: it had CRUD on tables it only reads."""
    consumer = needs("webhook_consumer")
    read_together = {c.resource.name for c in consumer if c.action == "dynamodb:BatchGetItem"}
    assert read_together == {
        "WebhookEventsTable", "StripeObjectsTable", "EntitlementsTable", "ProjectsTable",
        "PricesTable",
    }  # fmt: skip
    assert not {c for c in consumer if c.resource.name in ("PricesTable", "ProjectsTable")} - {
        Call("dynamodb:BatchGetItem", table("PricesTable")),
        Call("dynamodb:BatchGetItem", table("ProjectsTable")),
    }
    assert Call("ssm:GetParameter", parameter("StripeSecretKeyParameterName")) in consumer


@pytest.mark.parametrize("directory", ["health", "live", "openapi_document", "api_docs"])
def test_functions_that_touch_nothing_get_no_policy(directory: str) -> None:
    assert needs(directory) == set()
    assert "Policies" not in template()["Resources"][function_ids()[directory]]["Properties"]


# ---------------------------------------------------------------------- environment
# Powertools reads these itself: the logger (every function), metrics and the tracer.
OBSERVABILITY_VARIABLES = {
    "billing.observability.logger": {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL"},
    "billing.observability.metrics": {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"},
    "billing.observability.get_tracer": {"POWERTOOLS_SERVICE_NAME"},
}
# The variable naming each resource a function can touch, and how the template fills it.
RESOURCE_VARIABLES = {
    **{
        table(str(field.default)): str(field.validation_alias)
        for name, field in Settings.model_fields.items()
        if name.endswith("_table_name")
    },
    queue("WebhookQueue"): "WEBHOOK_QUEUE_URL",
    queue("WebhookDeadLetterQueue"): "WEBHOOK_DLQ_URL",
    queue("ReconciliationQueue"): "RECONCILIATION_QUEUE_URL",
    queue("WebhookDeliveryQueue"): "WEBHOOK_DELIVERY_QUEUE_URL",
    queue("WebhookDeliveryDeadLetterQueue"): "WEBHOOK_DELIVERY_DLQ_URL",
    queue("MeterReportDeadLetterQueue"): "METER_REPORT_DLQ_URL",
    parameter("StripeSecretKeyParameterName"): "STRIPE_SECRET_KEY_PARAMETER",
    parameter("StripeWebhookSecretParameterName"): "STRIPE_WEBHOOK_SECRET_PARAMETER",
    parameter("AuditCursorKeyParameterName"): "AUDIT_CURSOR_KEY_PARAMETER",
    TOKEN_KEYS: "TOKEN_SIGNING_KEYS",
}


def _resource_value(resource: Resource) -> Any:
    if resource == TOKEN_KEYS:
        return TOKEN_KEYS_IN_ENVIRONMENT
    if resource.kind == "parameter":
        return {"Fn::Sub": f"/${{{resource.name}}}"}
    return {"Ref": resource.name}


def environment(logical_id: str) -> dict[str, Any]:
    """Globals' variables and the function's own, as SAM merges them."""
    merged = dict(template()["Globals"]["Function"].get("Environment", {}).get("Variables", {}))
    own = template()["Resources"][logical_id]["Properties"].get("Environment", {})
    merged.update(own.get("Variables", {}))
    return merged


def deployed_variables() -> set[str]:
    return {name for logical_id in function_ids().values() for name in environment(logical_id)}


def used_variables(reach: Reach) -> set[str]:
    aliases = {name: str(field.validation_alias) for name, field in Settings.model_fields.items()}
    used = {aliases[name] for name in reach.settings} | reach.environ
    for name, variables in OBSERVABILITY_VARIABLES.items():
        if name in reach.names or name in reach.functions:
            used |= variables
    return used


@pytest.mark.parametrize("directory", list(function_directories()))
def test_each_function_gets_exactly_the_variables_its_code_reads(directory: str) -> None:
    """Resources it touches always (their names differ in AWS); any other deployed setting
    it reads; nothing else. A setting no function gets keeps its default."""
    logical_id = function_ids()[directory]
    env = environment(logical_id)
    resources = {
        table(r.name) if r.kind == "index" else r for r in (c.resource for c in needs(directory))
    }
    required = {RESOURCE_VARIABLES[r]: _resource_value(r) for r in resources}
    used = used_variables(reach_of(directory)) | set(required)
    assert set(env) == (used & deployed_variables()) | set(required)
    assert {name: env[name] for name in required} == required


def test_health_gets_only_the_loggers_variables() -> None:
    assert set(environment(function_ids()["health"])) == {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_LOG_LEVEL",
    }
