"""Fakes for the local stack's unit tests: an Invoker that records calls, answers per function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from billing_devstack.lambda_runtime import InvokeResult

Answer = Callable[[Any], InvokeResult]


def ok(payload: Any) -> Answer:
    """An answer returning ``payload``."""
    return lambda _event: InvokeResult(payload=payload)


def raises(message: str, error_type: str = "Exception") -> Answer:
    """An answer as if the handler raised."""
    return lambda _event: InvokeResult(
        error={"errorType": error_type, "errorMessage": message, "stackTrace": []}
    )


def proxy(status: int = 200, body: str = '{"ok":true}', **extra: Any) -> Answer:
    """An answer shaped like an API Gateway proxy response."""
    return ok({"statusCode": status, "body": body, **extra})


def policy(effect: str = "Allow", resource: Any = "*", **context: Any) -> dict[str, Any]:
    """An authorizer output."""
    return {
        "principalId": "app_1",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": context,
    }


@dataclass
class FakeInvoker:
    """Records every invocation; answers per function id (default: a 200 proxy response)."""

    answers: dict[str, Answer] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def invoke(self, function_id: str, event: Any) -> InvokeResult:
        self.calls.append((function_id, event))
        return self.answers.get(function_id, proxy())(event)

    def events_of(self, function_id: str) -> list[Any]:
        """The events a function received, in order."""
        return [event for called, event in self.calls if called == function_id]


@pytest.fixture
def invoker() -> FakeInvoker:
    return FakeInvoker()
