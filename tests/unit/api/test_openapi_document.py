"""The OpenAPI document: built from the handlers, in step with template.yaml, committed current."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from openapi_spec_validator import validate

from billing.api.openapi import API_KEY_SCHEME, operations
from billing_devstack.config import REPO_ROOT
from billing_devstack.openapi import SERVED_DOCUMENT, UNUSED_ENDPOINT, build_document, render
from billing_devstack.template import LocalTemplate, load_template


@cache
def template() -> LocalTemplate:
    return load_template(REPO_ROOT / "template.yaml", UNUSED_ENDPOINT)


@cache
def document() -> dict[str, Any]:
    return build_document(template())


def each_operation() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document()["paths"].items()
        for method, operation in item.items()
    ]


def test_the_served_document_is_the_one_the_handlers_describe() -> None:
    assert SERVED_DOCUMENT.read_text() == render(document()), "run `make openapi`"


def test_the_document_covers_exactly_the_routes_of_the_template() -> None:
    routed = {(route.method, route.path) for route in template().routes}
    assert operations(document()) == routed


def test_the_routes_behind_the_authorizer_and_only_those_need_the_api_key() -> None:
    guarded = {(r.method, r.path) for r in template().routes if r.uses_authorizer}
    needs_key = {(m, p) for m, p, op in each_operation() if op["security"]}
    assert needs_key == guarded
    assert {("GET", "/health"), ("POST", "/api/v1/webhooks/stripe")}.isdisjoint(needs_key)
    scheme = document()["components"]["securitySchemes"][API_KEY_SCHEME]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "X-API-Key"}


def test_it_is_a_valid_openapi_3_1_document() -> None:
    validate(json.loads(SERVED_DOCUMENT.read_text()))


def test_every_operation_is_named_summarized_and_answers_a_documented_success() -> None:
    ids = [op["operationId"] for _, _, op in each_operation()]
    assert len(ids) == len(set(ids))
    for method, path, op in each_operation():
        assert op["summary"] and op["tags"], (method, path)
        successes = [code for code in op["responses"] if code.startswith("2")]
        assert successes, (method, path)
        for code in successes:
            assert op["responses"][code].get("content"), (method, path, code)


@pytest.mark.parametrize("status", ["401", "403"])
def test_every_guarded_operation_documents_the_authorizers_refusals(status: str) -> None:
    for method, path, op in each_operation():
        if op["security"]:
            assert status in op["responses"], (method, path)


def test_every_operation_with_input_documents_its_422_as_the_error_body() -> None:
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for method, path, op in each_operation():
        if op.get("parameters") or op.get("requestBody"):
            if path == "/api/v1/webhooks/stripe":
                continue  # the signature is checked before any parsing: 400, never 422
            assert op["responses"]["422"]["content"]["application/json"]["schema"] == error, (
                method,
                path,
            )


def test_powertools_validation_shapes_are_gone_since_the_service_never_answers_them() -> None:
    text = json.dumps(document())
    assert "HTTPValidationError" not in text
    assert "ResponseValidationError" not in text


def test_the_webhook_documents_its_raw_body_and_signature_header() -> None:
    webhook = document()["paths"]["/api/v1/webhooks/stripe"]["post"]
    assert webhook["requestBody"]["required"] is True
    assert [p["name"] for p in webhook["parameters"]] == ["Stripe-Signature"]
    assert {"200", "400"} <= set(webhook["responses"])


def test_answers_are_described_by_the_models_the_handlers_use() -> None:
    paths = document()["paths"]
    entitlements = paths["/api/v1/entitlements"]["get"]["responses"]
    assert entitlements["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EntitlementList"
    }
    assert "content" not in entitlements["304"]
    grant = paths["/api/v1/admin/grant"]["post"]["responses"]
    assert {"200", "201"} <= set(grant)
    entitlement = document()["components"]["schemas"]["Entitlement"]
    assert entitlement["properties"]["source"]["enum"] == ["subscription", "purchase", "manual"]
    assert set(entitlement["required"]) == {
        "feature_code",
        "active",
        "source",
        "source_id",
        "valid_from",
        "valid_to",
    }


def test_every_503_error_documents_retry_after() -> None:
    """Clients (and billing-client) wait as long as a 503's Retry-After says. (/ready's 503 is
    a probe's answer, not an error body.)"""
    error = {"$ref": "#/components/schemas/ErrorBody"}
    unavailable = [
        (method, path, operation["responses"]["503"])
        for method, path, operation in each_operation()
        if "503" in operation["responses"]
        and operation["responses"]["503"]["content"]["application/json"]["schema"] == error
    ]
    assert len(unavailable) > 10
    for method, path, response in unavailable:
        retry_after = response.get("headers", {}).get("Retry-After", {})
        assert retry_after.get("schema", {}).get("type") == "integer", (method, path)


def test_every_operation_documents_api_gateways_own_refusals() -> None:
    """Malformed HTTP (400) and a body over 10 MiB (413) are refused on any route."""
    for method, path, op in each_operation():
        assert {"400", "413"} <= set(op["responses"]), (method, path)


def test_every_checked_operation_documents_415_and_422_as_the_error_body() -> None:
    """Every route behind the key parses its request the same way (billing.api.body): a
    body that is not JSON is 415, a bad one 422; the webhook refuses non-JSON too."""
    error = {"$ref": "#/components/schemas/ErrorBody"}
    checked = [(m, p, op) for m, p, op in each_operation() if op["security"]]
    checked.append(("POST", "/api/v1/webhooks/stripe", document()["paths"][WEBHOOK]["post"]))
    for method, path, op in checked:
        for status in ("415", "422") if op["security"] else ("415",):
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == error, (method, path, status)


WEBHOOK = "/api/v1/webhooks/stripe"


def operation_by_id(operation_id: str) -> dict[str, Any]:
    return next(op for _, _, op in each_operation() if op["operationId"] == operation_id)


def test_links_lead_to_documented_parameters_and_body_fields() -> None:
    """The links schemathesis' stateful phase follows name parameters and body fields that
    their target operation takes, from answers their source operation documents."""
    schemas = document()["components"]["schemas"]
    links = [
        (op, status, link)
        for _, _, op in each_operation()
        for status, answer in op["responses"].items()
        for link in answer.get("links", {}).values()
    ]
    assert {op["operationId"] for op, _, _ in links} >= {"grantFeature", "listAudit"}
    for source, status, link in links:
        target = operation_by_id(link["operationId"])
        taken = {f"{p['in']}.{p['name']}" for p in target.get("parameters", [])}
        assert set(link.get("parameters", {})) <= taken, (source["operationId"], status, link)
        if "requestBody" in link:
            ref = target["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            fields = set(schemas[ref.rsplit("/", 1)[1]]["properties"])
            assert set(link["requestBody"]) <= fields, (source["operationId"], link)
        for expression in [
            *link.get("parameters", {}).values(),
            *link.get("requestBody", {}).values(),
        ]:
            if expression.startswith("$response.body#/"):
                ok = source["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                answered = set(schemas[ok.rsplit("/", 1)[1]]["properties"])
                assert expression.removeprefix("$response.body#/") in answered, expression
