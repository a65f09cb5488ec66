"""Run handlers in tests as Lambda would: a fresh module per function, a context, events."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"
EVENTS_DIR = REPO_ROOT / "events"


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "2026/11/25/[$LATEST]0000"

    def get_remaining_time_in_millis(self) -> int:
        # The Stripe-calling API functions' Timeout in template.yaml. A shorter budget made a
        # first checkout (two Stripe calls of up to 7 s each) answer "no time left" whenever a
        # loaded machine took 2 s over the first call.
        return 25_000


def import_function(directory: str) -> ModuleType:
    """Import ``functions/<directory>/app.py`` fresh: every function's module is named app."""
    path = FUNCTIONS_DIR / directory / "app.py"
    name = f"function_{directory}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/ (a fresh copy each time)."""
    event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
    return event


def invoke(directory: str, event: dict[str, Any]) -> Any:
    """Import the function fresh and call its handler with ``event``."""
    return import_function(directory).lambda_handler(event, FakeLambdaContext())


def invoke_get(directory: str, **query: str) -> dict[str, Any]:
    """The function's sample GET event (events/<directory>.json) with this query string."""
    event = load_event(f"{directory}.json")
    event["queryStringParameters"] = query or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    response: dict[str, Any] = invoke(directory, event)
    return response


def json_body(response: dict[str, Any]) -> Any:
    """The decoded JSON body of a proxy response."""
    return json.loads(response["body"])
