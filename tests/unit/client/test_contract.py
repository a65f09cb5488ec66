"""The Python client against the OpenAPI document, so that a changed answer breaks its tests.

The document (functions/openapi_document/openapi.json, built from the handlers' models and kept
current by tests/unit/api) is the contract, and nothing here restates it. Every operation that
answers JSON needs a client method. Each method must send the documented method, path,
parameters and body fields, with values the schemas accept, and can send every one of them.
Its result type must declare exactly the fields of the success schema, with the same types and
nullability, and read each field from its documented key.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import json
import re
import types
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

import pytest

from billing_client import BillingClient, HttpRequest
from billing_client.models import format_time, parse_time
from tests.unit.client.document import document
from tests.unit.client.fakes import BASE_URL, answer, harness, json_of, path_of, query_of

BASE = urlsplit(BASE_URL).path  # the fake service's path prefix, before each route

# The client's method for each operation that answers JSON (a new operation fails
# test_every_operation_that_answers_json_has_a_client_method until it has one).
METHODS = {
    "getHealth": "health",
    "getLive": "live",
    "getReady": "ready",
    "getOpenApiDocument": "openapi",
    "createCheckoutSession": "create_checkout_session",
    "createPortalSession": "create_portal_session",
    "getPortalEligibility": "portal_eligibility",
    "listEntitlements": "entitlements",
    "entitlementHistory": "history",
    "checkEntitlement": "check_entitlement",
    "grantFeature": "grant",
    "revokeFeature": "revoke",
    "listAudit": "audit",
    "getSubscriptionMetrics": "subscription_metrics",
    "getRevenueMetrics": "revenue_metrics",
    "receiveStripeWebhook": "post_stripe_webhook",
    "issueEntitlementToken": "issue_token",
    "getJwks": "jwks",
    "recordUsage": "record_usage",
}
# Methods that return one property of the answer rather than the whole answer.
UNWRAPPED = {"listEntitlements": "entitlements"}
# Further methods of an operation, each returning another property of its answer.
MORE_READERS = {"entitlement_usage": ("listEntitlements", "usage")}
# Every (operation, method, property it returns or None: the whole answer).
BINDINGS = [
    *((op, method, UNWRAPPED.get(op)) for op, method in sorted(METHODS.items())),
    *((op, method, key) for method, (op, key) in sorted(MORE_READERS.items())),
]
BINDING_IDS = [method for _, method, _ in BINDINGS]
# The body is Stripe's signed event, relayed as bytes: its shape is not the client's to choose.
RAW_BODY = {"receiveStripeWebhook"}
# Fields the client adds to an answer, and where they come from.
CLIENT_ONLY = {("Readiness", "ready"): "the status code: 200 or 503"}
# A value for each argument of the methods (a new argument fails until it has one here).
ARGUMENTS: dict[str, object] = {
    "user_id": "user_1",
    "project_id": 7,
    "price_id": "price_1",
    "mode": "subscription",
    "success_url": "https://app.test/ok",
    "cancel_url": "https://app.test/cancel",
    "return_url": "https://app.test/account",
    "quantity": 2,
    "trial_days": 14,
    "allow_promotion_codes": True,
    "currency": "eur",
    "feature_code": "pro",
    "granted_by": "support@app.test",
    "revoked_by": "support@app.test",
    "reason": "goodwill",
    "valid_to": datetime(2026, 3, 1, tzinfo=UTC),
    "limit": 10,
    "at": datetime(2026, 1, 15, tzinfo=UTC),
    "cursor": "cursor_1",
    "idempotency_key": "req_1",
    "enforce": True,
    "since": datetime(2026, 1, 1, tzinfo=UTC),
    "until": datetime(2026, 2, 1, tzinfo=UTC),
    "payload": b'{"id":"evt_1","type":"invoice.paid","created":1,"data":{}}',
    "signature": "t=1,v1=00",
    "audience": "https://api.app.test",
    "ttl_seconds": 600,
}
# JSON Schema words that only annotate: any other word is a rule `violations` must know.
ANNOTATIONS = {"title", "description", "default", "examples"}
SCALARS: dict[str, tuple[type, ...]] = {
    "string": (str, datetime),  # a time is a string on the wire; the client may parse it
    "integer": (int,),
    "number": (float,),
    "boolean": (bool,),
}


def resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = document()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def success(operation: Mapping[str, Any]) -> Mapping[str, Any]:
    return next(v for status, v in sorted(operation["responses"].items()) if status < "300")


@cache
def operations() -> dict[str, tuple[str, str, Mapping[str, Any]]]:
    """operationId -> (method, path, operation) for each operation whose success is JSON."""
    return {
        operation["operationId"]: (method.upper(), path, operation)
        for path, item in document()["paths"].items()
        for method, operation in item.items()
        if "application/json" in success(operation).get("content", {})
    }


def answer_schema(operation_id: str, key: str | None) -> Mapping[str, Any]:
    """The schema of what a method of the operation returns: the answer, or its ``key``."""
    operation = operations()[operation_id][2]
    schema = resolve(success(operation)["content"]["application/json"]["schema"])
    return schema["properties"][key] if key else schema


def result_type(method: str) -> Any:
    return get_type_hints(getattr(BillingClient, method))["return"]


# ---------------------------------------------------------------------- types vs schemas
def without_null(schema: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    """The schema less its ``null`` branch, and whether it had one."""
    schema = resolve(schema)
    branches = [resolve(b) for b in schema.get("anyOf", ()) if b.get("type") != "null"]
    if len(branches) == len(schema.get("anyOf", ())):
        return schema, schema.get("type") == "null"
    return (branches[0] if len(branches) == 1 else {"anyOf": branches}), True


def members(hint: Any) -> tuple[list[Any], bool]:
    """A type's members less None, and whether it allows None."""
    if get_origin(hint) in (Union, types.UnionType):
        args = get_args(hint)
        return [a for a in args if a is not type(None)], type(None) in args
    return [hint], False


def is_model(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def model_fields(model: Any) -> dict[str, Any]:
    """A result dataclass's fields and their types, less those the client adds itself."""
    hints = get_type_hints(model)
    return {
        f.name: hints[f.name]
        for f in dataclasses.fields(model)
        if (model.__name__, f.name) not in CLIENT_ONLY
    }


def type_problems(hint: Any, schema: Mapping[str, Any], where: str, required: bool) -> list[str]:
    """How a declared type differs from the schema of the JSON it is read from."""
    schema, nullable = without_null(schema)
    bare, optional = members(hint)
    if optional != (nullable or not required):
        says = "may be null or absent" if nullable or not required else "is never null"
        return [f"{where}: the document says it {says}; the client declares {hint}"]
    branches = schema.get("anyOf", [schema])
    if len(bare) != len(branches):
        return [f"{where}: the document says {branches}; the client declares {hint}"]
    return [
        problem
        for member, branch in zip(bare, branches, strict=True)
        for problem in shape_problems(member, resolve(branch), where)
    ]


def shape_problems(hint: Any, schema: Mapping[str, Any], where: str) -> list[str]:
    kind, origin, args = schema.get("type"), get_origin(hint), get_args(hint)
    if kind == "array" and origin in (list, tuple):
        return type_problems(args[0], schema["items"], f"{where}[]", required=True)
    if kind == "object":
        return object_problems(hint, schema, where)
    if kind == "string" and origin is Literal:
        allowed = schema.get("enum", [schema.get("const")])
        return [] if set(args) == set(allowed) else [f"{where}: the document allows {allowed}"]
    if hint in SCALARS.get(kind or "", ()) and (
        hint is datetime or schema.get("format") != "date-time"
    ):
        return []
    return [f"{where}: the document says {dict(schema)}; the client declares {hint}"]


def object_problems(hint: Any, schema: Mapping[str, Any], where: str) -> list[str]:
    values = schema.get("additionalProperties", True)
    if "properties" in schema and is_model(hint):
        return model_problems(hint, schema)
    if "properties" not in schema and values is True and is_model(hint):
        return []  # an open object, which the client reads as one of its dataclasses
    if "properties" not in schema and get_origin(hint) in (dict, Mapping):
        value_hint = get_args(hint)[1]
        if values is True or value_hint is Any:
            return []
        return type_problems(value_hint, values, f"{where}{{}}", required=True)
    return [f"{where}: the document says {dict(schema)}; the client declares {hint}"]


def model_problems(model: Any, schema: Mapping[str, Any]) -> list[str]:
    fields, documented = model_fields(model), schema["properties"]
    name, required = model.__name__, schema.get("required", ())
    return [
        *(f"{name}: the document's field {f!r} is missing" for f in documented.keys() - fields),
        *(
            f"{name}.{f} is not in the document's {schema['title']}"
            for f in fields.keys() - documented
        ),
        *(
            problem
            for f in sorted(fields.keys() & documented.keys())
            for problem in type_problems(fields[f], documented[f], f"{name}.{f}", f in required)
        ),
    ]


def schema_of(model: Any) -> dict[str, Any]:
    """The JSON a dataclass reads, for an open object the client reads as one of them."""

    def of(hint: Any) -> dict[str, Any]:
        (bare, *_), nullable = members(hint)
        if nullable:
            return {"anyOf": [of(bare), {"type": "null"}]}
        kind = next(k for k, types_ in SCALARS.items() if bare in types_)
        return {"type": kind}

    fields = model_fields(model)
    properties = {name: of(hint) for name, hint in fields.items()}
    return {"type": "object", "properties": properties, "required": list(fields)}


# ---------------------------------------------------------------------- sample answers
def sample(schema: Mapping[str, Any], hint: Any, full: bool, counter: itertools.count[int]) -> Any:
    """JSON the schema allows, a distinct value in each field. ``full``: every field set;
    else only the required ones, each null where null is allowed."""
    schema, nullable = without_null(schema)
    (hint, *_), _ = members(hint)
    if nullable and not full:
        return None
    schema = resolve(schema.get("anyOf", [schema])[0])
    if "enum" in schema or "const" in schema:
        return schema.get("enum", [schema.get("const")])[0]
    if schema["type"] == "object":
        return sample_object(schema, hint, full, counter)
    if schema["type"] == "array":
        item = (get_args(hint) or (Any,))[0]
        return [sample(schema["items"], item, full, counter) for _ in range(2)]
    n = next(counter)
    if hint is datetime:
        return format_time(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n))
    return {"string": f"text_{n}", "integer": n, "number": n + 0.5, "boolean": n % 2 == 0}[
        schema["type"]
    ]


def sample_object(
    schema: Mapping[str, Any], hint: Any, full: bool, counter: itertools.count[int]
) -> dict[str, Any]:
    if "properties" not in schema and is_model(hint):
        schema = schema_of(hint)
    if "properties" in schema:
        hints = model_fields(hint) if is_model(hint) else {}
        return {
            name: sample(field, hints.get(name, str), full, counter)
            for name, field in schema["properties"].items()
            if full or name in schema.get("required", ())
        }
    values = schema.get("additionalProperties", True)
    value_hint = (get_args(hint) or (str, Any))[1]
    value_schema = {"type": "string"} if values is True else values
    return {f"key_{next(counter)}": sample(value_schema, value_hint, full, counter)}


def mismatches(value: Any, data: Any, hint: Any, where: str) -> list[str]:
    """Where a parsed result does not hold the JSON it was parsed from."""
    (hint, *_), _ = members(hint)
    origin, args = get_origin(hint), get_args(hint)
    if data is not None and is_model(hint):
        return [
            problem
            for name, field_hint in model_fields(hint).items()
            for problem in mismatches(
                getattr(value, name), data.get(name), field_hint, f"{where}.{name}"
            )
        ]
    if origin in (list, tuple) and None not in (value, data) and len(value) == len(data):
        return [
            problem
            for i, (item, item_data) in enumerate(zip(value, data, strict=True))
            for problem in mismatches(item, item_data, args[0], f"{where}[{i}]")
        ]
    if origin in (dict, Mapping) and None not in (value, data) and value.keys() == data.keys():
        return [p for k in data for p in mismatches(value[k], data[k], args[1], f"{where}[{k!r}]")]
    expected = parse_time(data) if hint is datetime and data is not None else data
    return [] if value == expected else [f"{where}: {value!r} read from {data!r}"]


# ---------------------------------------------------------------------- requests
def violations(value: Any, schema: Mapping[str, Any], where: str) -> list[str]:
    """Why the schema refuses a value (the JSON Schema rules the document's requests use)."""
    schema = resolve(schema)
    if "anyOf" in schema:
        if any(not violations(value, branch, where) for branch in schema["anyOf"]):
            return []
        return [f"{where}: {value!r} fits none of {schema['anyOf']}"]
    if "type" in schema and not is_of_type(value, schema["type"]):
        return [f"{where}: {value!r} is not of type {schema['type']}"]
    rules: dict[str, Callable[[Any], bool]] = {
        "enum": lambda allowed: value in allowed,
        "const": lambda const: value == const,
        "pattern": lambda pattern: re.search(pattern, value) is not None,
        "minLength": lambda least: len(value) >= least,
        "maxLength": lambda most: len(value) <= most,
        "minimum": lambda least: value >= least,
        "maximum": lambda most: value <= most,
        "format": lambda form: FORMATS[form](value),
    }
    unknown = schema.keys() - rules.keys() - ANNOTATIONS - {"type"}
    if schema.get("format", "date-time") not in FORMATS:
        unknown.add(f"format {schema['format']}")
    assert not unknown, f"{where}: teach violations() the rules {unknown}"
    return [
        f"{where}: {value!r} breaks {rule}={schema[rule]!r}"
        for rule in rules.keys() & schema.keys()
        if not rules[rule](schema[rule])
    ]


def is_of_type(value: Any, kind: str) -> bool:
    if isinstance(value, bool):  # a bool is an int to Python, never to JSON Schema
        return kind == "boolean"
    kinds: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "integer": int,
        "number": (int, float),
        "null": type(None),
    }
    return isinstance(value, kinds.get(kind, ()))


def is_aware_time(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def is_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


FORMATS: dict[str, Callable[[str], bool]] = {"date-time": is_aware_time, "uri": is_url}


def wire_violations(text: str, schema: Mapping[str, Any], where: str) -> list[str]:
    """A query or header value is text: ``10`` may stand for an integer."""
    problems = violations(text, schema, where)
    try:
        return problems and violations(json.loads(text), schema, where)
    except ValueError:
        return problems


def parameter_problems(request: HttpRequest, operation_id: str, every_argument: bool) -> list[str]:
    method, path, operation = operations()[operation_id]
    problems = []
    pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path))
    if request.method != method or not re.fullmatch(pattern, path_of(request)[len(BASE) :]):
        problems.append(f"sent {request.method} {path_of(request)} for {method} {path}")
    sent = {"query": query_of(request), "header": request.headers}
    for parameter in operation.get("parameters", ()):
        name, where = parameter["name"], sent.get(parameter["in"])
        if where is None:
            continue  # a path parameter: matched above
        if name in where:
            problems += wire_violations(where[name], parameter["schema"], name)
        elif parameter.get("required") or every_argument:
            problems.append(f"the {parameter['in']} parameter {name!r} is not sent")
    documented = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "query"}
    problems += [
        f"the query parameter {n!r} is not documented" for n in sent["query"].keys() - documented
    ]
    if operation.get("security"):
        scheme = document()["components"]["securitySchemes"][next(iter(operation["security"][0]))]
        if scheme["name"] not in request.headers:
            problems.append(f"the API key header {scheme['name']!r} is not sent")
    return problems


def body_problems(request: HttpRequest, operation_id: str, every_argument: bool) -> list[str]:
    operation = operations()[operation_id][2]
    if operation_id in RAW_BODY:
        return []
    if "requestBody" not in operation:
        return [] if request.body is None else ["a body is sent where none is documented"]
    schema = resolve(operation["requestBody"]["content"]["application/json"]["schema"])
    body, documented = json_of(request), schema["properties"]
    return [
        *(f"the body field {f!r} is not documented" for f in body.keys() - documented),
        *(
            f"the required body field {f!r} is not sent"
            for f in {*schema["required"]} - body.keys()
        ),
        *(
            f"the body field {f!r} is never sent"
            for f in documented - body.keys()
            if every_argument
        ),
        *(
            problem
            for f in body.keys() & documented
            for problem in violations(body[f], documented[f], f)
        ),
    ]


def call(
    operation_id: str, name: str, key: str | None, *, every_argument: bool, full: bool
) -> tuple[HttpRequest, Any, Any]:
    """Call a method of the operation on a sample of its documented answer (with every
    argument, or the required ones only): the request sent, the result and its JSON."""
    data = sample(answer_schema(operation_id, key), result_type(name), full, itertools.count(1))
    h = harness(answer(200, {key: data} if key else data))
    method = getattr(h.client, name)
    arguments = {
        p.name: ARGUMENTS[p.name]
        for p in inspect.signature(method).parameters.values()
        if every_argument or p.default is inspect.Parameter.empty
    }
    result = method(**arguments)
    return h.transport.last, result, data


# ---------------------------------------------------------------------- the tests
def test_every_operation_that_answers_json_has_a_client_method() -> None:
    assert sorted(operations().keys() - METHODS.keys()) == [], "add a client method"
    assert sorted(METHODS.keys() - operations().keys()) == [], "no longer documented"


@pytest.mark.parametrize(("operation_id", "method", "key"), BINDINGS, ids=BINDING_IDS)
def test_the_result_type_declares_the_documented_answer(
    operation_id: str, method: str, key: str | None
) -> None:
    hint, schema = result_type(method), answer_schema(operation_id, key)
    assert type_problems(hint, schema, method, required=True) == []


@pytest.mark.parametrize("full", [True, False], ids=["every field", "required fields, nulls"])
@pytest.mark.parametrize(("operation_id", "method", "key"), BINDINGS, ids=BINDING_IDS)
def test_the_result_holds_each_documented_field(
    operation_id: str, method: str, key: str | None, full: bool
) -> None:
    _, result, data = call(operation_id, method, key, every_argument=False, full=full)
    assert mismatches(result, data, result_type(method), method) == []


@pytest.mark.parametrize("every_argument", [True, False], ids=["every argument", "required"])
@pytest.mark.parametrize(("operation_id", "method", "key"), BINDINGS, ids=BINDING_IDS)
def test_the_request_is_the_documented_one(
    operation_id: str, method: str, key: str | None, every_argument: bool
) -> None:
    request, _, _ = call(operation_id, method, key, every_argument=every_argument, full=True)
    assert parameter_problems(request, operation_id, every_argument) == []
    assert body_problems(request, operation_id, every_argument) == []
