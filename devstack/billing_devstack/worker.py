"""One function's Lambda-like sandbox: a long-lived process serving invocations in turn.

Run as ``python -m billing_devstack.worker --code-dir D --layer-dir L --handler app.lambda_handler
--function-name F --memory 512 --response-fd N``. Requests arrive as JSON lines on stdin; each
answer is one JSON line on fd N, because the handler's own logs (Powertools writes JSON to
stdout) must keep flowing to the stack's stdout untouched.

Only the standard library is imported here, so the handler's interpreter starts as clean as
Lambda's: every function has a module called ``app`` and gets its own process to import it in.
"""

from __future__ import annotations

import argparse
import decimal
import importlib
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

Handler = Callable[[Any, Any], Any]
ACCOUNT_ID = "123456789012"


class LambdaContext:
    """The attributes handlers (and Powertools) read from Lambda's context object."""

    def __init__(self, function_name: str, memory: int, request_id: str, deadline_ms: int) -> None:
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = memory
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/[$LATEST]{os.getpid()}"
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the function's timeout, like Lambda's (never negative)."""
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _decimal_default(value: object) -> float:
    """Lambda's Python runtime serialises Decimal (DynamoDB numbers) as a float."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error(error_type: str, message: str, trace: list[str] | None = None) -> dict[str, Any]:
    return {"errorType": error_type, "errorMessage": message, "stackTrace": trace or []}


class Sandbox:
    """Imports the handler once (retrying after an import error) and runs invocations."""

    def __init__(self, handler_spec: str, function_name: str, memory: int) -> None:
        self.handler_spec = handler_spec
        self.function_name = function_name
        self.memory = memory
        self._handler: Handler | None = None

    def _load(self) -> Handler:
        if self._handler is None:
            module_name, _, attribute = self.handler_spec.rpartition(".")
            try:
                module = importlib.import_module(module_name)
            except Exception:
                sys.modules.pop(module_name, None)  # a failed init is retried, as in a new sandbox
                raise
            self._handler = getattr(module, attribute)
        return self._handler

    def invoke(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one invocation; an exception becomes an error result, never a dead worker."""
        try:
            handler = self._load()
        except Exception as exc:
            return self._failure("Runtime.ImportModuleError", exc)
        context = LambdaContext(
            self.function_name, self.memory, request["requestId"], request["deadlineMs"]
        )
        try:
            result = handler(request["event"], context)
        except Exception as exc:
            return self._failure(type(exc).__name__, exc)
        try:
            payload = json.loads(json.dumps(result, default=_decimal_default))
        except (TypeError, ValueError) as exc:
            return {
                "ok": False,
                "error": _error("Runtime.MarshalError", f"Unable to marshal response: {exc}"),
            }
        return {"ok": True, "result": payload}

    def _failure(self, error_type: str, exc: Exception) -> dict[str, Any]:
        trace = traceback.format_exception(exc)
        sys.stderr.write(f"[ERROR] {error_type}: {exc}\n{''.join(trace)}")
        sys.stderr.flush()
        return {"ok": False, "error": _error(error_type, str(exc), trace)}


def _isolate(code_dir: str, layer_dirs: list[str]) -> None:
    """sys.path as in Lambda (function code, then layers); stdin no longer reachable by handlers."""
    here = str(Path.cwd().resolve())
    rest = [entry for entry in sys.path if entry not in ("", here)]
    sys.path[:] = [code_dir, *layer_dirs, *rest]
    os.chdir(code_dir)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="billing_devstack.worker")
    parser.add_argument("--code-dir", required=True)
    parser.add_argument("--layer-dir", action="append", default=[])
    parser.add_argument("--handler", default="app.lambda_handler")
    parser.add_argument("--function-name", required=True)
    parser.add_argument("--memory", type=int, default=128)
    parser.add_argument("--response-fd", type=int, required=True)
    return parser.parse_args(argv)


def serve(requests: IO[str], responses: IO[str], sandbox: Sandbox) -> None:
    """Answer each request line with one response line until stdin closes."""
    for line in requests:
        if not line.strip():
            continue
        request = json.loads(line)
        response = sandbox.invoke(request)
        response["requestId"] = request["requestId"]
        responses.write(json.dumps(response) + "\n")
        responses.flush()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the worker process."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the stack's to handle
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    responses = os.fdopen(args.response_fd, "w", encoding="utf-8")
    _isolate(str(Path(args.code_dir).resolve()), [str(Path(d).resolve()) for d in args.layer_dir])
    serve(requests, responses, Sandbox(args.handler, args.function_name, args.memory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
