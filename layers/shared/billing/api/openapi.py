"""One OpenAPI 3 document for the whole API, from the per-function documents Powertools writes.

Every route is its own Lambda function with its own resolver, so each resolver only knows its
own route. :func:`merge_documents` joins them and adds what only the template knows: which
routes sit behind the API key authorizer. It also documents the Stripe webhook's body, which the
handler reads as raw bytes (the signature covers the bytes, so no model parses it first).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

API_KEY_SCHEME = "ApiKey"
# Powertools' own validation shapes; the error handler answers ErrorBody instead (responses.py).
POWERTOOLS_VALIDATION_SCHEMAS = (
    "HTTPValidationError",
    "ValidationError",
    "ResponseValidationError",
)
POWERTOOLS_422 = "#/components/schemas/HTTPValidationError"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

TITLE = "Billing & entitlements API"
DESCRIPTION = """\
Checkout, the customer portal, entitlements, support grants and figures for the projects that
share this service.

* **Authentication**: every route except the probes, the documentation and Stripe's webhook
  needs the header `X-API-Key`. A key belongs to one app of one project; a request naming another
  project anywhere (the `project_id` path parameter, any value of a `project_id` query parameter
  in any spelling such as `projectId`, or such a key at the top of the JSON body) is answered
  403 `Project ID does not match`.
* **Bodies** are JSON in UTF-8 (`Content-Type: application/json`, a charset only `utf-8`):
  anything else, or a body without a Content-Type, is 415. A key given twice, nesting over 32
  levels, integers over 32 digits, `NaN`/`Infinity` are 422.
* **Errors** are JSON with a human-readable `message`; 415 and 422 list each field at fault and
  why in `errors`.
* **Money** is an integer in the currency's minor unit, with the currency beside it.
  **Times** are ISO 8601 in UTC.
"""

DOCUMENT_PATH = "/api/v1/openapi.json"
WEBHOOK_OPERATION = ("post", "/api/v1/webhooks/stripe")
STRIPE_EVENT_BODY: dict[str, Any] = {
    "description": "A Stripe event, exactly as Stripe sent it (the signature covers the bytes).",
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "description": "evt_..."},
                    "type": {"type": "string", "description": "e.g. invoice.payment_succeeded"},
                    "created": {"type": "integer", "description": "epoch seconds"},
                    "data": {"type": "object"},
                },
            }
        }
    },
}
STRIPE_SIGNATURE_HEADER: dict[str, Any] = {
    "name": "Stripe-Signature",
    "in": "header",
    "required": True,
    "description": "t=<epoch seconds>,v1=<HMAC-SHA256 of '<t>.<body>' with the signing secret>",
    "schema": {"type": "string"},
}


# OpenAPI links: which answer feeds which next request (Swagger UI shows them; schemathesis'
# stateful phase follows them). A grant's answer names the user, project and feature that the
# revoke, the reads and the audit take; an audit page's next_cursor is the next page's cursor.
_GRANTED = {
    "user_id": "$response.body#/user_id",
    "project_id": "$response.body#/project_id",
}
_AS_REQUESTED = {
    "user_id": "$request.query.user_id",
    "project_id": "$request.query.project_id",
}
LINKS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("grantFeature", status): {
        "RevokeTheGrant": {
            "operationId": "revokeFeature",
            "requestBody": {**_GRANTED, "feature_code": "$response.body#/feature_code"},
            "description": "end the grant just made",
        },
        "ListTheUsersEntitlements": {
            "operationId": "listEntitlements",
            "parameters": {f"query.{k}": v for k, v in _GRANTED.items()},
        },
        "CheckTheGrantedFeature": {
            "operationId": "checkEntitlement",
            "parameters": {
                **{f"query.{k}": v for k, v in _GRANTED.items()},
                "query.feature_code": "$response.body#/feature_code",
            },
        },
        "ListTheUsersAudit": {
            "operationId": "listAudit",
            "parameters": {f"query.{k}": v for k, v in _GRANTED.items()},
        },
    }
    for status in ("200", "201")
} | {
    ("revokeFeature", "200"): {
        "GrantAgain": {
            "operationId": "grantFeature",
            "requestBody": {**_GRANTED, "feature_code": "$response.body#/feature_code"},
        },
        "ListTheUsersAudit": {
            "operationId": "listAudit",
            "parameters": {f"query.{k}": v for k, v in _GRANTED.items()},
        },
    },
    ("listAudit", "200"): {
        "NextPage": {
            "operationId": "listAudit",
            "parameters": {
                **{f"query.{k}": v for k, v in _AS_REQUESTED.items()},
                "query.cursor": "$response.body#/next_cursor",
            },
            "description": "the next page (next_cursor is null on the last one)",
        },
    },
    ("createCheckoutSession", "200"): {
        "IsTheBuyerEligibleForThePortal": {
            "operationId": "getPortalEligibility",
            "parameters": {
                "query.user_id": "$request.body#/user_id",
                "query.project_id": "$request.body#/project_id",
            },
        },
    },
}


class DocumentMismatchError(ValueError):
    """The per-function documents cannot be joined as they are."""


@dataclass(frozen=True)
class RouteAuth:
    """A route as the template declares it: method, path, and whether the authorizer guards it."""

    method: str
    path: str
    authorized: bool


def operations(document: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation in a document."""
    return {
        (method.upper(), path)
        for path, item in document.get("paths", {}).items()
        for method in item
        if method in HTTP_METHODS
    }


def merge_documents(
    parts: Iterable[Mapping[str, Any]], routes: Iterable[RouteAuth], *, version: str
) -> dict[str, Any]:
    """Join per-function documents into one, with the API key scheme on the routes behind the
    authorizer. Every operation must be one of ``routes`` and every route documented; two parts
    may not define one schema name differently."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for part in parts:
        for path, item in part.get("paths", {}).items():
            for method, operation in item.items():
                if method in paths.get(path, {}):
                    raise DocumentMismatchError(f"{method.upper()} {path} is documented twice")
                paths.setdefault(path, {})[method] = _own_responses(method, path, operation)
        for name, schema in part.get("components", {}).get("schemas", {}).items():
            if name in schemas and schemas[name] != schema:
                raise DocumentMismatchError(f"two different schemas are named {name}")
            schemas[name] = schema

    _secure(paths, {(r.method.upper(), r.path): r.authorized for r in routes})
    _document_raw_webhook_body(paths)
    _link(paths)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": version, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                API_KEY_SCHEME: {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "the key of one app of one project (billing-admin app create)",
                }
            },
        },
    }
    _drop_unused_schemas(document)
    return document


def _own_responses(method: str, path: str, documented: Mapping[str, Any]) -> dict[str, Any]:
    """The operation with its responses sorted and Powertools' automatic 422 gone: it cannot
    happen without inputs, and a route with inputs must declare its own (ErrorBody)."""
    operation: dict[str, Any] = copy.deepcopy(dict(documented))
    responses: dict[str, Any] = operation.get("responses", {})
    automatic = responses.get("422", {}).get("content", {}).get("application/json", {})
    if automatic.get("schema", {}).get("$ref") == POWERTOOLS_422:
        if operation.get("parameters") or operation.get("requestBody"):
            raise DocumentMismatchError(
                f"{method.upper()} {path} takes input but does not document its 422"
            )
        del responses["422"]
    for answer in responses.values():
        if answer.get("content") == {}:
            del answer["content"]  # no body (304)
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _secure(paths: dict[str, dict[str, Any]], authorized: Mapping[tuple[str, str], bool]) -> None:
    documented = {(m.upper(), p) for p, item in paths.items() for m in item}
    missing, extra = set(authorized) - documented, documented - set(authorized)
    if missing or extra:
        raise DocumentMismatchError(
            f"routes without documentation: {sorted(missing)}; "
            f"documented but not routed: {sorted(extra)}"
        )
    for path, item in paths.items():
        for method, operation in item.items():
            operation["security"] = (
                [{API_KEY_SCHEME: []}] if authorized[(method.upper(), path)] else []
            )


def _document_raw_webhook_body(paths: dict[str, dict[str, Any]]) -> None:
    method, path = WEBHOOK_OPERATION
    operation = paths.get(path, {}).get(method)
    if operation is not None:
        operation["requestBody"] = copy.deepcopy(STRIPE_EVENT_BODY)
        operation["parameters"] = [copy.deepcopy(STRIPE_SIGNATURE_HEADER)]


def _link(paths: dict[str, dict[str, Any]]) -> None:
    """Add :data:`LINKS` to the answers they start from (of the operations documented here);
    the operations they lead to must be documented too, and the answer they start from."""
    by_id = {op.get("operationId"): op for item in paths.values() for op in item.values()}
    for (source, status), links in LINKS.items():
        if source not in by_id:
            continue
        targets = {link["operationId"] for link in links.values()}
        unknown = sorted(name for name in (source, *targets) if name not in by_id)
        if unknown or status not in by_id[source]["responses"]:
            raise DocumentMismatchError(f"links of {source} {status}: no {unknown or status}")
        by_id[source]["responses"][status]["links"] = copy.deepcopy(links)


def _drop_unused_schemas(document: dict[str, Any]) -> None:
    """Drop Powertools' validation shapes that nothing refers to any more (they refer to each
    other, so until none goes)."""
    schemas = document["components"]["schemas"]
    dropped = True
    while dropped:
        dropped = False
        for name in [n for n in POWERTOOLS_VALIDATION_SCHEMAS if n in schemas]:
            rest = {key: value for key, value in document.items() if key != "components"}
            others = {key: value for key, value in schemas.items() if key != name}
            if f'"#/components/schemas/{name}"' not in json.dumps([rest, others]):
                del schemas[name]
                dropped = True


def mount_path(domain_name: str | None, stage: str | None) -> str:
    """Where the API is mounted for a request: ``/<stage>`` on API Gateway's own domain
    (``...execute-api...``), nothing on a custom domain or on the local stack."""
    on_stage_url = ".execute-api." in (domain_name or "")
    return f"/{stage}" if on_stage_url and stage else ""


def with_server(document: Mapping[str, Any], base_path: str) -> dict[str, Any]:
    """The document with its server at ``base_path`` (a deployed stage: ``/v1``), so the
    interactive docs call the API where it is served."""
    return {**document, "servers": [{"url": base_path or "/"}]}
