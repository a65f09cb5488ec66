"""``python -m billing_devstack.openapi``: the API's OpenAPI document, built from the route
handlers.

Each function of template.yaml that serves an Api route is imported (its ``app`` resolver) and
asked for its part; :func:`billing.api.openapi.merge_documents` joins the parts and checks them
against the template's routes. The result is written beside the function that serves it at
``/api/v1/openapi.json`` and to ``artifacts/openapi.json``; ``--check`` only compares.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

from billing.api.openapi import RouteAuth, merge_documents
from billing_devstack.config import REPO_ROOT
from billing_devstack.template import LocalTemplate, load_template

SERVED_DOCUMENT = REPO_ROOT / "functions" / "openapi_document" / "openapi.json"
ARTIFACT = REPO_ROOT / "artifacts" / "openapi.json"
UNUSED_ENDPOINT = "http://127.0.0.1:9"  # the template's AWS names are resolved, never called


def route_resolver(code_dir: Path, handler: str) -> ApiGatewayResolver:
    """The resolver named ``app`` in a function's handler module, imported under its own name
    (every function's module is ``app``)."""
    module_file = code_dir / (handler.partition(".")[0] + ".py")
    spec = importlib.util.spec_from_file_location(f"_route_{code_dir.name}", module_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {module_file}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    resolver = getattr(module, "app", None)
    if not isinstance(resolver, ApiGatewayResolver):
        raise TypeError(f"{module_file} has no resolver named 'app'")
    return resolver


def build_document(template: LocalTemplate) -> dict[str, Any]:
    """The merged document of every function behind an Api route of ``template``."""
    function_ids = sorted({route.function_id for route in template.routes})
    parts = []
    for function_id in function_ids:
        spec = template.functions[function_id]
        schema = route_resolver(spec.code_dir, spec.handler).get_openapi_schema()
        parts.append(schema.model_dump(mode="json", by_alias=True, exclude_none=True))
    routes = [RouteAuth(r.method, r.path, r.uses_authorizer) for r in template.routes]
    return merge_documents(parts, routes, version=version("billing-service"))


def render(document: dict[str, Any]) -> str:
    """The document as committed: stable key order, two-space indent, final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m billing_devstack.openapi", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the served document is out of date"
    )
    args = parser.parse_args(argv)
    template = load_template(REPO_ROOT / "template.yaml", UNUSED_ENDPOINT)
    text = render(build_document(template))
    if args.check:
        if not SERVED_DOCUMENT.exists() or SERVED_DOCUMENT.read_text() != text:
            print(f"{SERVED_DOCUMENT} is out of date: run `make openapi`", file=sys.stderr)
            return 1
        print(f"{SERVED_DOCUMENT.relative_to(REPO_ROOT)} is up to date")
        return 0
    for target in (SERVED_DOCUMENT, ARTIFACT):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        print(f"wrote {target.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
