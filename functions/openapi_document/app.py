"""GET /api/v1/openapi.json: the API's OpenAPI document, for clients and the interactive docs.

The document is built from the route handlers by `make openapi` and shipped beside this file;
a unit test fails when it is out of date. Its server is where this request came in, so "try it"
in the docs calls the same deployment.
"""

import json
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response

from billing.api.errors import json_response
from billing.api.openapi import DOCUMENT_PATH, mount_path, with_server
from billing.api.resolver import build_rest_resolver, rest_handler
from billing.api.responses import documented

DOCUMENT_FILE = Path(__file__).with_name("openapi.json")

app = build_rest_resolver()


@cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DOCUMENT_FILE.read_text())
    return document


@app.get(
    DOCUMENT_PATH,
    operation_id="getOpenApiDocument",
    summary="This document: every route, its authentication, bodies, answers and errors",
    tags=["documentation"],
    responses=documented(
        {200: ("the OpenAPI 3.1 document", {"application/json": {"schema": {"type": "object"}}})}
    ),
)
def openapi_document() -> Response[str]:
    context = app.current_event.request_context
    return json_response(
        200, with_server(_document(), mount_path(context.domain_name, context.stage))
    )


lambda_handler = rest_handler(app)
