"""What the local stack serves, read from template.yaml (the single source of truth).

Nothing here lists functions, routes, tables or queues by name: a function added to the
template with an Api, SQS or Schedule event is served locally with no other edit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from billing_devstack.cfn import (
    LocalNames,
    Resolver,
    TemplateError,
    cfn_string,
    dumps_policy,
    load_yaml,
)

__all__ = [
    "ApiRoute",
    "FunctionSpec",
    "GatewayResponse",
    "LocalTemplate",
    "QueueSpec",
    "RequestAuthorizer",
    "ScheduleEvent",
    "SqsEventSource",
    "StreamEventSource",
    "TableSpec",
    "TemplateError",
    "load_template",
    "parse_template",
]

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
SERVERLESS_API = "AWS::Serverless::Api"
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
DEFAULT_STAGE = "v1"
_SERVED_API_PROPERTIES = ("Auth", "StageName", "GatewayResponses")


@dataclass(frozen=True)
class FunctionSpec:
    """One function as Lambda would run it: code, handler, limits and environment."""

    logical_id: str
    code_dir: Path
    handler: str = "app.lambda_handler"
    timeout: int = 3
    memory_size: int = 128
    environment: Mapping[str, str] = field(default_factory=dict)
    layer_dirs: tuple[Path, ...] = ()


@dataclass(frozen=True)
class RequestAuthorizer:
    """A Lambda authorizer of the API (REQUEST or TOKEN payload)."""

    name: str
    function_id: str
    identity_headers: tuple[str, ...] = ()
    identity_query_strings: tuple[str, ...] = ()
    reauthorize_every: int = 300
    payload_type: str = "REQUEST"


@dataclass(frozen=True)
class GatewayResponse:
    """One of the API's ``GatewayResponses``: what replaces API Gateway's own answer of a type.

    ``status`` None keeps the answer's status; ``body`` (the ``application/json`` template) None
    keeps API Gateway's ``{"message": ...}``; ``headers`` are static values, quotes stripped.
    """

    response_type: str
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None


@dataclass(frozen=True)
class ApiRoute:
    """One Api event: method + path (with ``{params}``) -> function, maybe behind an authorizer."""

    method: str
    path: str
    function_id: str
    authorizer: RequestAuthorizer | None = None
    api_id: str = "ServerlessRestApi"
    stage: str = DEFAULT_STAGE
    gateway_responses: tuple[GatewayResponse, ...] = ()

    @property
    def uses_authorizer(self) -> bool:
        """``Auth: {Authorizer: NONE}`` turns the API's DefaultAuthorizer off."""
        return self.authorizer is not None

    def gateway_response(self, response_type: str, status: int) -> GatewayResponse | None:
        """The API's own response of that type, else its DEFAULT_4XX or DEFAULT_5XX (by the
        status API Gateway would answer), as API Gateway falls back; None: not customized."""
        fallback = "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"  # noqa: PLR2004 - HTTP 5xx
        by_type = {response.response_type: response for response in self.gateway_responses}
        return by_type.get(response_type) or by_type.get(fallback)


@dataclass(frozen=True)
class SqsEventSource:
    """An SQS event source mapping: which queue feeds which function, how.

    ``manages_visibility``: the function may change its messages' visibility itself (its
    policy grants sqs:ChangeMessageVisibility on the queue), so a failed message keeps the
    wait the function gave it, as in AWS, instead of the poller's retry delay."""

    function_id: str
    queue_id: str
    batch_size: int = 10
    report_batch_item_failures: bool = False
    enabled: bool = True
    manages_visibility: bool = False


@dataclass(frozen=True)
class StreamEventSource:
    """A DynamoDB stream event source mapping: which table's stream feeds which function."""

    function_id: str
    table_id: str
    table_name: str
    batch_size: int = 100
    starting_position: str = "TRIM_HORIZON"
    report_batch_item_failures: bool = False
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleEvent:
    """An EventBridge schedule of a function."""

    function_id: str
    event_name: str
    expression: str
    enabled: bool = True
    input: str | None = None


@dataclass(frozen=True)
class TableSpec:
    """A DynamoDB table: CreateTable's arguments plus the TTL attribute, if any."""

    logical_id: str
    name: str
    create_params: Mapping[str, Any]
    ttl_attribute: str | None = None


@dataclass(frozen=True)
class QueueSpec:
    """An SQS queue: CreateQueue attributes (strings) and where its redrive goes."""

    logical_id: str
    name: str
    attributes: Mapping[str, str]
    dlq_id: str | None = None
    max_receive_count: int | None = None


@dataclass(frozen=True)
class LocalTemplate:
    """Everything the local stack serves, resolved for local use."""

    functions: Mapping[str, FunctionSpec]
    routes: tuple[ApiRoute, ...]
    sqs_sources: tuple[SqsEventSource, ...]
    schedules: tuple[ScheduleEvent, ...]
    tables: tuple[TableSpec, ...]
    queues: tuple[QueueSpec, ...]
    stream_sources: tuple[StreamEventSource, ...] = ()

    @property
    def authorizers(self) -> tuple[RequestAuthorizer, ...]:
        """The authorizers some route uses."""
        found = {
            route.authorizer.name: route.authorizer for route in self.routes if route.authorizer
        }
        return tuple(found.values())

    def queue(self, logical_id: str) -> QueueSpec:
        """The queue with that logical id."""
        for queue in self.queues:
            if queue.logical_id == logical_id:
                return queue
        raise TemplateError(f"no queue {logical_id!r}")


def load_template(
    path: Path, moto_endpoint: str, environ: Mapping[str, str] | None = None
) -> LocalTemplate:
    """Read and resolve a template file; ``LOCAL_PARAM_<Name>`` in environ overrides Defaults."""
    return parse_template(path.read_text(), path.parent, moto_endpoint, environ or {})


def parse_template(
    text: str, base_dir: Path, moto_endpoint: str, environ: Mapping[str, str] | None = None
) -> LocalTemplate:
    """Resolve a template held in a string; CodeUri/ContentUri are relative to ``base_dir``."""
    overrides = {
        key.removeprefix("LOCAL_PARAM_"): value
        for key, value in (environ or {}).items()
        if key.startswith("LOCAL_PARAM_")
    }
    resolver = Resolver(load_yaml(text), LocalNames(moto_endpoint), overrides)
    return _Reader(resolver, base_dir).read()


@dataclass
class _Reader:
    resolver: Resolver
    base_dir: Path

    def read(self) -> LocalTemplate:
        functions = {fid: self._function(fid) for fid in self._ids(SERVERLESS_FUNCTION)}
        queues = tuple(self._queue(qid) for qid in self._ids("AWS::SQS::Queue"))
        return LocalTemplate(
            functions=functions,
            routes=tuple(self._routes(functions)),
            sqs_sources=tuple(self._sqs_sources(queues)),
            schedules=tuple(self._schedules()),
            tables=tuple(self._table(tid) for tid in self._ids("AWS::DynamoDB::Table")),
            queues=queues,
            stream_sources=tuple(self._stream_sources()),
        )

    def _ids(self, kind: str) -> list[str]:
        return [
            logical_id
            for logical_id, resource in self.resolver.resources.items()
            if isinstance(resource, Mapping) and resource.get("Type") == kind
        ]

    # ------------------------------------------------------------------ functions
    def _globals(self, section: str) -> Mapping[str, Any]:
        value = (self.resolver.template.get("Globals") or {}).get(section) or {}
        return value if isinstance(value, Mapping) else {}

    def _function_property(self, logical_id: str, name: str, default: Any = None) -> Any:
        own = self.resolver.properties(logical_id)
        value = own[name] if name in own else self._globals("Function").get(name, default)
        return self.resolver.resolve(value)

    def _function(self, logical_id: str) -> FunctionSpec:
        code_uri = self._function_property(logical_id, "CodeUri")
        if not isinstance(code_uri, str):
            raise TemplateError(f"{logical_id}: a local CodeUri (a directory) is required")
        return FunctionSpec(
            logical_id=logical_id,
            code_dir=(self.base_dir / code_uri).resolve(),
            handler=cfn_string(
                self._function_property(logical_id, "Handler", "app.lambda_handler")
            ),
            timeout=int(cfn_string(self._function_property(logical_id, "Timeout", 3))),
            memory_size=int(cfn_string(self._function_property(logical_id, "MemorySize", 128))),
            environment=self._environment(logical_id),
            layer_dirs=self._layer_dirs(logical_id),
        )

    def _environment(self, logical_id: str) -> dict[str, str]:
        """Globals variables, then the function's own (which win), as strings."""
        merged: dict[str, Any] = {}
        for source in (self._globals("Function"), self.resolver.properties(logical_id)):
            variables = (source.get("Environment") or {}).get("Variables") or {}
            merged.update(self.resolver.resolve(variables))
        return {key: cfn_string(value) for key, value in merged.items()}

    def _layer_dirs(self, logical_id: str) -> tuple[Path, ...]:
        """Local layers (Globals first, then the function's), as directories for sys.path."""
        layers = list(self._globals("Function").get("Layers") or [])
        layers += list(self.resolver.properties(logical_id).get("Layers") or [])
        dirs: list[Path] = []
        for layer in self.resolver.resolve(layers):
            if (
                layer in self.resolver.resources
                and self.resolver.resource_type(layer) in LAYER_TYPES
            ):
                props = self.resolver.properties(layer)
                content = self.resolver.resolve(props.get("ContentUri") or props.get("Content"))
                if isinstance(content, str):
                    dirs.append((self.base_dir / content).resolve())
        return tuple(dirs)

    def _events(self, logical_id: str, kind: str) -> list[tuple[str, Mapping[str, Any]]]:
        events = self.resolver.properties(logical_id).get("Events") or {}
        return [
            (name, event.get("Properties") or {})
            for name, event in events.items()
            if isinstance(event, Mapping) and event.get("Type") == kind
        ]

    # ------------------------------------------------------------------ API
    def _routes(self, functions: Mapping[str, FunctionSpec]) -> list[ApiRoute]:
        routes: dict[tuple[str, str], ApiRoute] = {}
        for function_id in functions:
            for _name, props in self._events(function_id, "Api"):
                route = self._route(function_id, props)
                key = (route.method, route.path)
                if key in routes:
                    raise TemplateError(f"two functions serve {route.method} {route.path}")
                routes[key] = route
        return list(routes.values())

    def _route(self, function_id: str, props: Mapping[str, Any]) -> ApiRoute:
        api_id = "ServerlessRestApi"
        if "RestApiId" in props:
            api_id = cfn_string(self.resolver.resolve(props["RestApiId"]))
        api = self._api_properties(api_id)
        auth = api.get("Auth") or {}
        event_auth = self.resolver.resolve(props.get("Auth") or {})
        name = event_auth.get("Authorizer", auth.get("DefaultAuthorizer"))
        authorizer = None
        if name is not None and name != "NONE":
            authorizer = self._authorizer(cfn_string(name), auth.get("Authorizers") or {})
        return ApiRoute(
            method=cfn_string(self.resolver.resolve(props["Method"])).upper(),
            path=cfn_string(self.resolver.resolve(props["Path"])),
            function_id=function_id,
            authorizer=authorizer,
            api_id=api_id,
            stage=cfn_string(api.get("StageName", DEFAULT_STAGE)),
            gateway_responses=_gateway_responses(api_id, api.get("GatewayResponses") or {}),
        )

    def _api_properties(self, api_id: str) -> Mapping[str, Any]:
        """What the gateway serves of an explicit AWS::Serverless::Api, or of Globals.Api for
        SAM's implicit API (the rest, such as access logs, has no local meaning)."""
        if api_id in self.resolver.resources:
            if self.resolver.resource_type(api_id) != SERVERLESS_API:
                raise TemplateError(f"RestApiId {api_id} is not an {SERVERLESS_API}")
            props = self.resolver.properties(api_id)
        else:
            props = self._globals("Api")
        served = {key: value for key, value in props.items() if key in _SERVED_API_PROPERTIES}
        return self.resolver.resolve(served)  # type: ignore[no-any-return]

    def _authorizer(self, name: str, authorizers: Mapping[str, Any]) -> RequestAuthorizer:
        spec = authorizers.get(name)
        if not isinstance(spec, Mapping) or "FunctionArn" not in spec:
            raise TemplateError(f"authorizer {name!r}: only Lambda authorizers run locally")
        function_id = cfn_string(spec["FunctionArn"]).rsplit(":", 1)[-1]
        if self.resolver.resources.get(function_id) is None:
            raise TemplateError(f"authorizer {name!r}: function {function_id!r} not in template")
        identity = spec.get("Identity") or {}
        payload = cfn_string(spec.get("FunctionPayloadType", "TOKEN")).upper()
        headers = identity.get("Headers") or (
            [] if payload == "REQUEST" else [identity.get("Header", "Authorization")]
        )
        return RequestAuthorizer(
            name=name,
            function_id=function_id,
            identity_headers=tuple(cfn_string(header) for header in headers),
            identity_query_strings=tuple(cfn_string(q) for q in identity.get("QueryStrings") or []),
            reauthorize_every=int(cfn_string(identity.get("ReauthorizeEvery", 300))),
            payload_type=payload,
        )

    # ------------------------------------------------------------------ SQS + Schedule
    def _sqs_sources(self, queues: tuple[QueueSpec, ...]) -> list[SqsEventSource]:
        by_arn = {self.resolver.get_att(queue.logical_id, "Arn"): queue for queue in queues}
        sources = []
        for function_id in self._ids(SERVERLESS_FUNCTION):
            for name, raw in self._events(function_id, "SQS"):
                props = self.resolver.resolve(raw)
                queue = by_arn.get(cfn_string(props.get("Queue")))
                if queue is None:
                    raise TemplateError(
                        f"{function_id}.{name}: Queue is not a queue of the template"
                    )
                sources.append(
                    SqsEventSource(
                        function_id=function_id,
                        queue_id=queue.logical_id,
                        batch_size=int(cfn_string(props.get("BatchSize", 10))),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in (props.get("FunctionResponseTypes") or []),
                        enabled=cfn_string(props.get("Enabled", True)) == "true",
                        manages_visibility=self._may_change_visibility(function_id, queue),
                    )
                )
        return sources

    def _may_change_visibility(self, function_id: str, queue: QueueSpec) -> bool:
        """Whether the function's own policy statements grant sqs:ChangeMessageVisibility on
        the queue."""
        arn = self.resolver.get_att(queue.logical_id, "Arn")
        for policy in self.resolver.properties(function_id).get("Policies") or []:
            statements = policy.get("Statement") if isinstance(policy, Mapping) else None
            for statement in self.resolver.resolve(statements or []):
                actions = statement.get("Action") or []
                resources = statement.get("Resource") or []
                actions = actions if isinstance(actions, list) else [actions]
                resources = resources if isinstance(resources, list) else [resources]
                if "sqs:ChangeMessageVisibility" in actions and arn in resources:
                    return True
        return False

    def _stream_sources(self) -> list[StreamEventSource]:
        by_arn = {
            self.resolver.get_att(table_id, "StreamArn"): table_id
            for table_id in self._ids("AWS::DynamoDB::Table")
            if self.resolver.properties(table_id).get("StreamSpecification")
        }
        sources = []
        for function_id in self._ids(SERVERLESS_FUNCTION):
            for name, raw in self._events(function_id, "DynamoDB"):
                props = self.resolver.resolve(raw)
                table_id = by_arn.get(cfn_string(props.get("Stream")))
                if table_id is None:
                    raise TemplateError(
                        f"{function_id}.{name}: Stream is not a table stream of the template"
                    )
                sources.append(
                    StreamEventSource(
                        function_id=function_id,
                        table_id=table_id,
                        table_name=self.resolver.table_name(table_id),
                        batch_size=int(cfn_string(props.get("BatchSize", 100))),
                        starting_position=cfn_string(props.get("StartingPosition", "LATEST")),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in (props.get("FunctionResponseTypes") or []),
                        enabled=cfn_string(props.get("Enabled", True)) == "true",
                    )
                )
        return sources

    def _schedules(self) -> list[ScheduleEvent]:
        schedules = []
        for function_id in self._ids(SERVERLESS_FUNCTION):
            for name, raw in self._events(function_id, "Schedule"):
                props = self.resolver.resolve(raw)
                state = cfn_string(props.get("State", "ENABLED")).upper()
                enabled = cfn_string(props.get("Enabled", True)) == "true" and state == "ENABLED"
                schedules.append(
                    ScheduleEvent(
                        function_id=function_id,
                        event_name=name,
                        expression=cfn_string(props["Schedule"]),
                        enabled=enabled,
                        input=None if props.get("Input") is None else cfn_string(props["Input"]),
                    )
                )
        return schedules

    # ------------------------------------------------------------------ tables + queues
    def _table(self, logical_id: str) -> TableSpec:
        props = self.resolver.resolve(self.resolver.properties(logical_id))
        name = self.resolver.table_name(logical_id)
        ttl = props.get("TimeToLiveSpecification") or {}
        ttl_on = cfn_string(ttl.get("Enabled", False)) == "true"
        return TableSpec(
            logical_id=logical_id,
            name=name,
            create_params=_create_table_params(name, props),
            ttl_attribute=ttl.get("AttributeName") if ttl_on else None,
        )

    def _queue(self, logical_id: str) -> QueueSpec:
        props = self.resolver.resolve(self.resolver.properties(logical_id))
        attributes = {
            key: cfn_string(props[key]) for key in _QUEUE_ATTRIBUTES if props.get(key) is not None
        }
        dlq_id, max_receive = None, None
        redrive = props.get("RedrivePolicy")
        if redrive:
            policy = redrive if isinstance(redrive, Mapping) else _json_object(redrive)
            dlq_id = self._queue_by_arn(cfn_string(policy["deadLetterTargetArn"]))
            max_receive = int(cfn_string(policy["maxReceiveCount"]))
            attributes["RedrivePolicy"] = dumps_policy(
                {
                    "deadLetterTargetArn": policy["deadLetterTargetArn"],
                    "maxReceiveCount": max_receive,
                }
            )
        return QueueSpec(
            logical_id=logical_id,
            name=self.resolver.queue_name(logical_id),
            attributes=attributes,
            dlq_id=dlq_id,
            max_receive_count=max_receive,
        )

    def _queue_by_arn(self, arn: str) -> str:
        for queue_id in self._ids("AWS::SQS::Queue"):
            if self.resolver.get_att(queue_id, "Arn") == arn:
                return queue_id
        raise TemplateError(f"dead-letter target {arn} is not a queue of the template")


def _gateway_responses(api_id: str, spec: Any) -> tuple[GatewayResponse, ...]:
    """SAM's ``GatewayResponses`` (``StatusCode``, ``ResponseParameters.Headers`` with quoted
    static values, ``ResponseTemplates``), as the local gateway answers them."""
    if not isinstance(spec, Mapping):
        raise TemplateError(f"{api_id}: GatewayResponses must be a map")
    return tuple(
        _gateway_response(f"{api_id}.GatewayResponses.{kind}", cfn_string(kind), props or {})
        for kind, props in spec.items()
    )


def _gateway_response(where: str, kind: str, props: Mapping[str, Any]) -> GatewayResponse:
    parameters = props.get("ResponseParameters") or {}
    unsupported = set(parameters) - {"Headers"}
    if unsupported:
        raise TemplateError(f"{where}: only ResponseParameters.Headers is served locally")
    headers = []
    for name, value in (parameters.get("Headers") or {}).items():
        text = cfn_string(value)
        static = text.removeprefix("'").removesuffix("'")
        if f"'{static}'" != text:  # a mapping such as method.request.header.X
            raise TemplateError(f"{where}: header {name} is not a quoted static value: {text!r}")
        headers.append((cfn_string(name), static))
    status = props.get("StatusCode")
    body = (props.get("ResponseTemplates") or {}).get("application/json")
    return GatewayResponse(
        response_type=kind,
        status=None if status is None else int(cfn_string(status)),
        headers=tuple(headers),
        body=None if body is None else cfn_string(body),
    )


_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "SqsManagedSseEnabled",
)
_INDEX_KEYS = ("IndexName", "KeySchema", "Projection")


def _json_object(text: str) -> Mapping[str, Any]:
    value = json.loads(text)
    if not isinstance(value, Mapping):
        raise TemplateError(f"RedrivePolicy is not a JSON object: {text!r}")
    return value


def _create_table_params(name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """CreateTable's arguments from a table's properties (CloudFormation-only keys dropped)."""
    on_demand = (
        "ProvisionedThroughput" not in props or props.get("BillingMode") == "PAY_PER_REQUEST"
    )
    params: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": "PAY_PER_REQUEST" if on_demand else "PROVISIONED",
    }
    if not on_demand:
        params["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            params[key] = [_index(index, on_demand) for index in props[key]]
    stream = props.get("StreamSpecification")
    if stream:
        params["StreamSpecification"] = {"StreamEnabled": True, **stream}
    return params


def _index(index: Mapping[str, Any], on_demand: bool) -> dict[str, Any]:
    kept = {key: index[key] for key in _INDEX_KEYS if key in index}
    if not on_demand and "ProvisionedThroughput" in index:
        kept["ProvisionedThroughput"] = index["ProvisionedThroughput"]
    return kept
