"""template.yaml as the local stack reads it: short tags, intrinsics, Globals, resources."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import pytest

from billing_devstack.cfn import LocalNames, Resolver, TemplateError, load_yaml
from billing_devstack.template import LocalTemplate, parse_template

MOTO = "http://127.0.0.1:9101"


def resolver(text: str, **overrides: str) -> Resolver:
    return Resolver(load_yaml(dedent(text)), LocalNames(MOTO), overrides)


def parse(text: str, **environ: str) -> LocalTemplate:
    return parse_template(dedent(text), Path("/repo"), MOTO, environ)


BASE = """
Parameters:
  Stage: {Type: String, Default: dev}
  Hour: {Type: Number, Default: 3}
  Names: {Type: CommaDelimitedList, Default: "a,b"}
  Flag: {Type: String, Default: "true"}
Conditions:
  IsDev: !Equals [!Ref Stage, dev]
  FlagOn: !Equals [!Ref Flag, "true"]
  Both: !And [!Condition IsDev, !Condition FlagOn]
  Either: !Or [!Not [!Condition IsDev], !Condition FlagOn]
  NotDev: !Not [!Condition IsDev]
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Table:
    Type: AWS::DynamoDB::Table
    Properties: {KeySchema: [], AttributeDefinitions: []}
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: fn/}
"""


def test_short_tags_become_the_long_form_in_scalar_and_sequence_forms() -> None:
    data = load_yaml(
        dedent("""
        a: !Ref X
        b: !GetAtt Q.Arn
        c: !GetAtt [Q, QueueName]
        d: !Sub "x-${Y}"
        e: !Sub ["${A}", {A: !Ref B}]
        f: !If [Cond, 1, 2]
        g: !Join [",", [a, b]]
        h: !Select [0, !Split [",", "a,b"]]
        i: !Condition C
        j: !Base64 text
        """)
    )
    assert data == {
        "a": {"Ref": "X"},
        "b": {"Fn::GetAtt": ["Q", "Arn"]},
        "c": {"Fn::GetAtt": ["Q", "QueueName"]},
        "d": {"Fn::Sub": "x-${Y}"},
        "e": {"Fn::Sub": ["${A}", {"A": {"Ref": "B"}}]},
        "f": {"Fn::If": ["Cond", 1, 2]},
        "g": {"Fn::Join": [",", ["a", "b"]]},
        "h": {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]},
        "i": {"Condition": "C"},
        "j": {"Fn::Base64": "text"},
    }


def test_yaml_1_1_booleans_stay_strings_as_in_cloudformation() -> None:
    data = load_yaml("Conditions:\n  On: x\nflags: [yes, no, off, true, false]\n")
    assert data == {"Conditions": {"On": "x"}, "flags": ["yes", "no", "off", True, False]}


def test_refs_resolve_to_parameters_pseudo_parameters_and_local_resource_names() -> None:
    r = resolver(BASE)
    assert r.resolve(load_yaml("x: !Ref Stage")["x"]) == "dev"
    assert r.resolve({"Ref": "Hour"}) == "3"  # CloudFormation passes parameters as strings
    assert r.resolve({"Ref": "Names"}) == ["a", "b"]
    assert r.resolve({"Ref": "AWS::Region"}) == "us-east-1"
    assert r.resolve({"Ref": "AWS::StackName"}) == "billing-local"
    assert r.resolve({"Ref": "Table"}) == "Table"
    assert r.resolve({"Ref": "Queue"}) == f"{MOTO}/123456789012/Queue"
    assert r.resolve({"Ref": "Fn"}) == "Fn"


def test_a_parameter_is_overridden_by_local_param_variables() -> None:
    template = parse(
        BASE.replace("CodeUri: fn/}", "CodeUri: fn/, Environment: {Variables: {S: !Ref Stage}}}"),
        LOCAL_PARAM_Stage="prod",
    )
    assert template.functions["Fn"].environment == {"S": "prod"}


def test_get_att_of_queues_tables_and_functions() -> None:
    r = resolver(BASE)
    assert r.resolve({"Fn::GetAtt": ["Queue", "Arn"]}) == "arn:aws:sqs:us-east-1:123456789012:Queue"
    assert r.resolve({"Fn::GetAtt": "Queue.QueueName"}) == "Queue"
    assert r.resolve({"Fn::GetAtt": ["Queue", "QueueUrl"]}) == f"{MOTO}/123456789012/Queue"
    assert r.resolve({"Fn::GetAtt": ["Table", "Arn"]}).endswith(":table/Table")
    assert r.resolve({"Fn::GetAtt": ["Fn", "Arn"]}) == (
        "arn:aws:lambda:us-east-1:123456789012:function:Fn"
    )
    with pytest.raises(TemplateError, match=r"Queue\.Nope"):
        r.resolve({"Fn::GetAtt": ["Queue", "Nope"]})
    with pytest.raises(TemplateError, match="Missing"):
        r.resolve({"Ref": "Missing"})


def test_sub_replaces_parameters_resources_attributes_and_pseudo_parameters() -> None:
    r = resolver(BASE)
    text = "${Stage}/${Table}/${Queue.QueueName}/${AWS::Region}/${!Literal}/${Hour}"
    assert r.resolve({"Fn::Sub": text}) == "dev/Table/Queue/us-east-1/${Literal}/3"
    assert r.resolve({"Fn::Sub": ["${A}-${Stage}", {"A": {"Ref": "Table"}}]}) == "Table-dev"


def test_conditions_equals_not_and_or_drive_if() -> None:
    r = resolver(BASE)
    assert r.resolve({"Fn::If": ["IsDev", "yes", "no"]}) == "yes"
    assert r.resolve({"Fn::If": ["NotDev", "yes", "no"]}) == "no"
    assert r.resolve({"Fn::If": ["Both", "yes", "no"]}) == "yes"
    assert r.resolve({"Fn::If": ["Either", "yes", "no"]}) == "yes"
    flag_off = resolver(BASE, Flag="false")
    assert flag_off.resolve({"Fn::If": ["Both", "yes", "no"]}) == "no"
    assert flag_off.resolve({"Fn::If": ["Either", "yes", "no"]}) == "no"


def test_no_value_removes_the_key_or_item() -> None:
    r = resolver(BASE)
    value = {
        "a": {"Fn::If": ["NotDev", 1, {"Ref": "AWS::NoValue"}]},
        "b": [{"Ref": "AWS::NoValue"}, 2],
    }
    assert r.resolve(value) == {"b": [2]}


def test_join_select_split() -> None:
    r = resolver(BASE)
    assert r.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]}) == "a-dev"
    assert r.resolve({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}) == "y"


FUNCTIONS = """
Parameters:
  Level: {Type: String, Default: INFO}
  Enabled: {Type: String, Default: "true"}
Conditions:
  On: !Equals [!Ref Enabled, "true"]
Globals:
  Function:
    Handler: app.lambda_handler
    Timeout: 10
    MemorySize: 512
    Layers: [!Ref Shared]
    Environment:
      Variables:
        LOG_LEVEL: !Ref Level
        TABLE: !Ref Things
        SHARED: global
Resources:
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layers/shared/}
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v1
      Auth:
        DefaultAuthorizer: KeyAuth
        Authorizers:
          KeyAuth:
            FunctionArn: !GetAtt AuthFn.Arn
            FunctionPayloadType: REQUEST
            Identity: {Headers: [X-API-Key], ReauthorizeEvery: 60}
  AuthFn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/auth/}
  Open:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/open/
      Timeout: 5
      Environment: {Variables: {SHARED: own, EXTRA: !Sub "${Things}-x"}}
      Events:
        Get:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /open, Method: get, Auth: {Authorizer: NONE}}
  Closed:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/closed/
      Events:
        Post:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: "/things/{thing_id}", Method: POST}
        Queue:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
        Nightly:
          Type: Schedule
          Properties:
            Schedule: cron(30 2 * * ? *)
            State: !If [On, ENABLED, DISABLED]
  Work:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Dead.Arn, maxReceiveCount: 3}
  Dead:
    Type: AWS::SQS::Queue
  Things:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: gk, AttributeType: S}
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: by_gk
          KeySchema: [{AttributeName: gk, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
"""


def test_functions_merge_globals_with_their_own_properties() -> None:
    template = parse(FUNCTIONS)
    open_fn = template.functions["Open"]
    assert open_fn.code_dir == Path("/repo/functions/open")
    assert open_fn.handler == "app.lambda_handler"
    assert (open_fn.timeout, open_fn.memory_size) == (5, 512)
    assert open_fn.environment == {
        "LOG_LEVEL": "INFO",
        "TABLE": "Things",
        "SHARED": "own",
        "EXTRA": "Things-x",
    }
    assert open_fn.layer_dirs == (Path("/repo/layers/shared"),)
    assert template.functions["Closed"].timeout == 10


def test_routes_carry_the_default_authorizer_unless_auth_is_none() -> None:
    routes = {(route.method, route.path): route for route in parse(FUNCTIONS).routes}
    assert set(routes) == {("GET", "/open"), ("POST", "/things/{thing_id}")}
    assert not routes["GET", "/open"].uses_authorizer
    closed = routes["POST", "/things/{thing_id}"]
    assert closed.function_id == "Closed"
    assert closed.stage == "v1"
    assert closed.authorizer is not None
    assert closed.authorizer.function_id == "AuthFn"
    assert closed.authorizer.identity_headers == ("X-API-Key",)
    assert closed.authorizer.reauthorize_every == 60


def test_sqs_and_schedule_events() -> None:
    template = parse(FUNCTIONS)
    (source,) = template.sqs_sources
    assert (source.function_id, source.queue_id, source.batch_size) == ("Closed", "Work", 5)
    assert source.report_batch_item_failures
    (schedule,) = template.schedules
    assert (schedule.expression, schedule.enabled) == ("cron(30 2 * * ? *)", True)
    disabled = parse(FUNCTIONS, LOCAL_PARAM_Enabled="false")
    assert not disabled.schedules[0].enabled


def test_tables_keep_what_create_table_takes_and_their_ttl() -> None:
    (table,) = parse(FUNCTIONS).tables
    assert table.name == "Things"
    assert table.ttl_attribute == "expires_at"
    assert table.create_params == {
        "TableName": "Things",
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "gk", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "by_gk",
                "KeySchema": [{"AttributeName": "gk", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }


def test_queues_carry_their_attributes_and_redrive_target() -> None:
    template = parse(FUNCTIONS)
    work = template.queue("Work")
    assert (work.dlq_id, work.max_receive_count) == ("Dead", 3)
    assert work.attributes["VisibilityTimeout"] == "60"
    assert json.loads(work.attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:Dead",
        "maxReceiveCount": 3,
    }
    assert template.queue("Dead").dlq_id is None


GATEWAY_RESPONSES = """
Parameters:
  Wait: {Type: String, Default: "2"}
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v1
      GatewayResponses:
        AUTHORIZER_CONFIGURATION_ERROR:
          StatusCode: 503
          ResponseParameters:
            Headers: {Retry-After: !Sub "'${Wait}'", X-Kind: "'auth'"}
          ResponseTemplates:
            application/json: '{"message":"retry later"}'
            text/plain: retry later
        DEFAULT_4XX:
          ResponseParameters: {Headers: {Access-Control-Allow-Origin: "'*'"}}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Events:
        Get:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /a, Method: GET}
"""


def test_routes_carry_their_apis_gateway_responses() -> None:
    (route,) = parse(GATEWAY_RESPONSES).routes
    failure = route.gateway_response("AUTHORIZER_CONFIGURATION_ERROR", 500)
    assert failure is not None
    assert failure.status == 503
    assert failure.headers == (("Retry-After", "2"), ("X-Kind", "auth"))  # quotes stripped
    assert failure.body == '{"message":"retry later"}'  # the application/json template
    # API Gateway falls back to DEFAULT_4XX / DEFAULT_5XX for a type not customized.
    denied = route.gateway_response("ACCESS_DENIED", 403)
    assert denied is not None
    assert (denied.response_type, denied.status, denied.body) == ("DEFAULT_4XX", None, None)
    assert route.gateway_response("AUTHORIZER_FAILURE", 500) is None


def test_an_api_without_gateway_responses_keeps_api_gateways_own() -> None:
    routes = parse(FUNCTIONS).routes
    assert all(route.gateway_responses == () for route in routes)
    assert routes[0].gateway_response("AUTHORIZER_CONFIGURATION_ERROR", 500) is None


@pytest.mark.parametrize(
    "parameters",
    [
        "{Headers: {X-Key: method.request.header.X-API-Key}}",  # a mapping, not a static value
        '{Headers: {X-Key: "\'half"}}',
        "{Paths: {p: \"'x'\"}}",
    ],
)
def test_gateway_responses_the_local_gateway_cannot_serve_are_refused(parameters: str) -> None:
    text = GATEWAY_RESPONSES.replace(
        "ResponseParameters: {Headers: {Access-Control-Allow-Origin: \"'*'\"}}",
        f"ResponseParameters: {parameters}",
    )
    with pytest.raises(TemplateError, match=r"Api\.GatewayResponses\.DEFAULT_4XX"):
        parse(text)
