"""Joining the per-function documents: the rules that keep the document honest."""

from __future__ import annotations

from typing import Any

import pytest

from billing.api.openapi import (
    DocumentMismatchError,
    RouteAuth,
    merge_documents,
    mount_path,
    with_server,
)

POWERTOOLS_422 = {
    "description": "Validation Error",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
    },
}


def part(path: str, method: str = "get", **operation: Any) -> dict[str, Any]:
    responses = operation.pop("responses", {"200": {"description": "ok"}})
    schemas = operation.pop("schemas", {})
    return {
        "paths": {path: {method: {"responses": responses, **operation}}},
        "components": {"schemas": schemas},
    }


def test_parts_join_into_one_document_with_the_key_only_where_the_template_asks() -> None:
    merged = merge_documents(
        [part("/b"), part("/a")],
        [RouteAuth("GET", "/a", authorized=True), RouteAuth("GET", "/b", authorized=False)],
        version="1.2.3",
    )
    assert list(merged["paths"]) == ["/a", "/b"]
    assert merged["paths"]["/a"]["get"]["security"] == [{"ApiKey": []}]
    assert merged["paths"]["/b"]["get"]["security"] == []
    assert merged["info"]["version"] == "1.2.3"


def test_a_route_without_documentation_is_refused() -> None:
    with pytest.raises(DocumentMismatchError, match="routes without documentation"):
        merge_documents(
            [part("/a")], [RouteAuth("GET", "/a", True), RouteAuth("GET", "/b", True)], version="1"
        )


def test_a_documented_operation_no_route_serves_is_refused() -> None:
    with pytest.raises(DocumentMismatchError, match="documented but not routed"):
        merge_documents(
            [part("/a"), part("/a", "post")], [RouteAuth("GET", "/a", True)], version="1"
        )


def test_one_operation_documented_by_two_functions_is_refused() -> None:
    with pytest.raises(DocumentMismatchError, match="documented twice"):
        merge_documents([part("/a"), part("/a")], [RouteAuth("GET", "/a", True)], version="1")


def test_two_different_schemas_under_one_name_are_refused() -> None:
    one = part("/a", schemas={"Thing": {"type": "object"}})
    other = part("/b", schemas={"Thing": {"type": "string"}})
    routes = [RouteAuth("GET", "/a", True), RouteAuth("GET", "/b", True)]
    with pytest.raises(DocumentMismatchError, match="Thing"):
        merge_documents([one, other], routes, version="1")


def test_powertools_automatic_422_goes_where_nothing_can_fail_validation() -> None:
    probe = part(
        "/health",
        responses={"200": {"description": "ok"}, "422": POWERTOOLS_422},
        schemas={"HTTPValidationError": {"type": "object"}},
    )
    merged = merge_documents([probe], [RouteAuth("GET", "/health", False)], version="1")
    assert set(merged["paths"]["/health"]["get"]["responses"]) == {"200"}
    assert "HTTPValidationError" not in merged["components"]["schemas"]


def test_a_route_with_input_must_document_its_own_422() -> None:
    lazy = part(
        "/a",
        responses={"200": {"description": "ok"}, "422": POWERTOOLS_422},
        parameters=[{"name": "q", "in": "query"}],
    )
    with pytest.raises(DocumentMismatchError, match="does not document its 422"):
        merge_documents([lazy], [RouteAuth("GET", "/a", True)], version="1")


@pytest.mark.parametrize(
    ("domain", "stage", "expected"),
    [
        ("abc123.execute-api.eu-west-1.amazonaws.com", "v1", "/v1"),
        ("billing.example.com", "v1", ""),
        ("127.0.0.1:8000", "v1", ""),
        (None, None, ""),
    ],
)
def test_the_document_names_the_server_the_request_came_through(
    domain: str | None, stage: str | None, expected: str
) -> None:
    assert mount_path(domain, stage) == expected
    assert with_server({"openapi": "3.1.0"}, expected)["servers"] == [{"url": expected or "/"}]


def test_a_link_to_an_operation_not_documented_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from billing.api import openapi

    monkeypatch.setitem(
        openapi.LINKS, ("getThing", "200"), {"Nowhere": {"operationId": "noSuchOperation"}}
    )
    part = {"paths": {"/thing": {"get": {"operationId": "getThing", "responses": {"200": {}}}}}}
    with pytest.raises(openapi.DocumentMismatchError, match="noSuchOperation"):
        openapi.merge_documents([part], [openapi.RouteAuth("GET", "/thing", False)], version="1")
