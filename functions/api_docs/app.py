"""GET /api/v1/docs: interactive documentation (Swagger UI) of GET /api/v1/openapi.json.

The page loads Swagger UI from SWAGGER_UI_URL: a pinned CDN copy by default; the local stack
serves its own copy, so the docs work offline there.
"""

import html
import os

from aws_lambda_powertools.event_handler import Response, content_types

from billing.api.openapi import DOCUMENT_PATH, mount_path
from billing.api.resolver import build_rest_resolver, rest_handler
from billing.api.responses import documented

DEFAULT_SWAGGER_UI_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0"

app = build_rest_resolver()


@app.get(
    "/api/v1/docs",
    operation_id="getApiDocs",
    summary="Interactive documentation (Swagger UI) of the OpenAPI document",
    tags=["documentation"],
    responses=documented({200: ("an HTML page", {"text/html": {"schema": {"type": "string"}}})}),
)
def interactive_docs() -> Response[str]:
    context = app.current_event.request_context
    assets = html.escape(os.environ.get("SWAGGER_UI_URL") or DEFAULT_SWAGGER_UI_URL, quote=True)
    document = html.escape(mount_path(context.domain_name, context.stage) + DOCUMENT_PATH)
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Billing &amp; entitlements API</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{url: "{document}", dom_id: "#swagger-ui",
  persistAuthorization: true}});
</script>
</body>
</html>
"""
    return Response(status_code=200, content_type=content_types.TEXT_HTML, body=page)


lambda_handler = rest_handler(app)
