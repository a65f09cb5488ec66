"""GET /api/v1/openapi.json and GET /api/v1/docs, as Lambda runs them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from billing_devstack.openapi import SERVED_DOCUMENT
from tests.support.lambda_runtime import invoke, json_body, load_event

SERVED = json.loads(SERVED_DOCUMENT.read_text())


def on_domain(event: dict[str, Any], domain: str) -> dict[str, Any]:
    event["requestContext"]["domainName"] = domain
    return event


def test_the_document_is_served_with_the_stage_as_its_server_on_the_stage_url() -> None:
    response = invoke("openapi_document", load_event("openapi_document.json"))
    assert response["statusCode"] == 200
    document = json_body(response)
    assert document["servers"] == [{"url": "/v1"}]
    assert document["paths"] == SERVED["paths"]


def test_on_a_custom_domain_the_server_is_the_root() -> None:
    event = on_domain(load_event("openapi_document.json"), "billing.example.com")
    assert json_body(invoke("openapi_document", event))["servers"] == [{"url": "/"}]


def test_the_docs_page_loads_swagger_ui_and_points_it_at_the_document() -> None:
    response = invoke("api_docs", load_event("api_docs.json"))
    assert response["statusCode"] == 200
    assert response["multiValueHeaders"]["Content-Type"] == ["text/html"]
    page = response["body"]
    assert 'src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0/swagger-ui-bundle.js"' in page
    assert 'url: "/v1/api/v1/openapi.json"' in page


def test_the_swagger_ui_location_comes_from_the_environment_escaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWAGGER_UI_URL", '/_local/swagger-ui"><script>alert(1)</script>')
    page = invoke("api_docs", on_domain(load_event("api_docs.json"), "localhost:8000"))["body"]
    assert "<script>alert(1)" not in page
    assert 'href="/_local/swagger-ui&quot;&gt;' in page
    assert 'url: "/api/v1/openapi.json"' in page
