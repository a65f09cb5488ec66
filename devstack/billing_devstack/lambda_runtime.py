"""Runs the template's functions as Lambda would: one sandbox process per concurrent invocation.

Each function has a pool of long-lived workers (``python -m billing_devstack.worker``), each with
the function's own environment and its own fresh import of ``app``; an idle worker is reused (a warm
start), a new one is spawned up to ``LOCAL_MAX_CONCURRENCY``, further callers wait. A worker that
times out or dies is discarded, never reused.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any, Protocol

from billing_devstack import launcher
from billing_devstack.config import (
    REPO_ROOT,
    STANDIN_SECRET_KEY,
    STANDIN_WEBHOOK_SECRET,
    SWAGGER_UI_PREFIX,
    LocalConfig,
)
from billing_devstack.template import FunctionSpec

LOCAL_CREDENTIAL = "local"
# Dropped from the workers' environment: with them boto3 could reach a real AWS account.
_REAL_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
)
# Plain local stand-ins (not secrets); the service prefers them over the SSM parameter names.
_LOCAL_DEFAULTS = {
    "STRIPE_SECRET_KEY": STANDIN_SECRET_KEY,
    "STRIPE_WEBHOOK_SECRET": STANDIN_WEBHOOK_SECRET,
    # Outbound webhooks (issue #22) go to receivers on this machine, and a failed one is
    # tried again after 1 s, 2 s, 4 s... instead of 30 s, 1 min...
    "WEBHOOK_ENDPOINTS_ALLOW_LOOPBACK": "true",
    "WEBHOOK_DELIVERY_RETRY_BASE_SECONDS": "1",
}


@dataclass(frozen=True)
class InvokeResult:
    """What an invocation returned: a payload, or Lambda's error object."""

    payload: Any = None
    error: Mapping[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """False when the function raised, timed out or crashed."""
        return self.error is None

    @property
    def error_message(self) -> str:
        """Lambda's errorMessage (empty on success)."""
        return str((self.error or {}).get("errorMessage", ""))

    @classmethod
    def failure(cls, error_type: str, message: str) -> InvokeResult:
        """An error produced by the runtime itself (timeout, crash), not by the handler."""
        return cls(error={"errorType": error_type, "errorMessage": message, "stackTrace": []})


class Invoker(Protocol):
    """Anything that runs a function by logical id; the gateway, poller and scheduler use it."""

    def invoke(self, function_id: str, event: Any) -> InvokeResult:
        """Run the function synchronously with ``event``."""
        ...


def worker_environment(spec: FunctionSpec, config: LocalConfig) -> dict[str, str]:
    """The stack's env + local AWS endpoints + the function's template env (stack env wins).

    With the Stripe stand-in running, STRIPE_API_BASE points at it, unless the developer set
    STRIPE_API_BASE or LOCAL_PARAM_StripeApiBase themselves.
    """
    stack_env = config.environ
    env = {key: value for key, value in stack_env.items() if key not in _REAL_AWS_VARIABLES}
    env.update(
        AWS_ACCESS_KEY_ID=LOCAL_CREDENTIAL,
        AWS_SECRET_ACCESS_KEY=LOCAL_CREDENTIAL,
        AWS_REGION=config.region,
        AWS_DEFAULT_REGION=config.region,
        AWS_ENDPOINT_URL=config.moto_endpoint,  # any other AWS API: moto, never real AWS
        AWS_ENDPOINT_URL_DYNAMODB=config.workers_dynamodb_endpoint,  # LOCAL_DYNAMODB_ENDPOINT
        AWS_ENDPOINT_URL_SQS=config.moto_endpoint,
        AWS_ENDPOINT_URL_SSM=config.moto_endpoint,
        POWERTOOLS_TRACE_DISABLED="true",
        AWS_LAMBDA_FUNCTION_NAME=spec.logical_id,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(spec.memory_size),
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{spec.logical_id}",
        _HANDLER=spec.handler,
        TZ=":UTC",
    )
    for key, value in _LOCAL_DEFAULTS.items():
        if not env.get(key):  # unset or empty: the stand-in's value
            env[key] = value
    env.setdefault("PYTHONUNBUFFERED", "1")  # a handler's print() reaches the log at once
    env.update({key: value for key, value in spec.environment.items() if key not in stack_env})
    docs = ("SWAGGER_UI_URL", "LOCAL_PARAM_SwaggerUiUrl")
    if "SWAGGER_UI_URL" in env and not any(key in stack_env for key in docs):
        env["SWAGGER_UI_URL"] = SWAGGER_UI_PREFIX  # the gateway's own copy: no CDN needed
    chosen = ("STRIPE_API_BASE", "LOCAL_PARAM_StripeApiBase")
    if config.stripe_standin and not any(key in stack_env for key in chosen):
        env["STRIPE_API_BASE"] = config.stripe_standin_url
    return env


class _Worker:
    """One worker process and the pipe it answers on."""

    def __init__(self, spec: FunctionSpec, env: Mapping[str, str], stdout: IO[Any] | None) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        read_fd, write_fd = os.pipe()
        args = [sys.executable, "-m", "billing_devstack.worker", "--code-dir", str(spec.code_dir)]
        args += ["--handler", spec.handler, "--function-name", spec.logical_id]
        args += ["--memory", str(spec.memory_size), "--response-fd", str(write_fd)]
        for layer in spec.layer_dirs:
            args += ["--layer-dir", str(layer)]
        try:
            self.process = launcher.spawn(
                args,
                stdin=subprocess.PIPE,
                stdout=stdout,
                env=dict(env),
                cwd=str(REPO_ROOT),
                pass_fds=(write_fd,),
            )
        finally:
            os.close(write_fd)
        self._responses = read_fd
        self._buffer = b""
        self._eof = False

    @property
    def alive(self) -> bool:
        """Still running (a timed-out or crashed worker is not)."""
        return self.process.poll() is None

    def invoke(self, event: Any, timeout: float) -> InvokeResult:
        """Send one request and wait for its answer, at most the function's timeout."""
        request_id = str(uuid.uuid4())
        deadline = time.time() + timeout
        request = {"requestId": request_id, "event": event, "deadlineMs": int(deadline * 1000)}
        try:
            assert self.process.stdin is not None  # noqa: S101 - Popen(stdin=PIPE)
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._crashed()
        line = self._read_line(deadline)
        if line is None:
            if self._eof or not self.alive:
                return self._crashed()
            self.close(kill=True)
            return InvokeResult.failure(
                "Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds"
            )
        response = json.loads(line)
        if response.get("ok"):
            return InvokeResult(payload=response.get("result"))
        return InvokeResult(error=response.get("error") or {})

    def _read_line(self, deadline: float) -> bytes | None:
        while b"\n" not in self._buffer:
            remaining = deadline - time.time()
            if remaining <= 0:
                return None
            try:
                readable = select.poll()  # poll, not select: no FD_SETSIZE limit
                readable.register(self._responses, select.POLLIN)
                ready = readable.poll(remaining * 1000)
                chunk = os.read(self._responses, 65536) if ready else b""
            except (OSError, ValueError):  # closed by a shutdown in another thread
                return None
            if not chunk:
                self._eof = bool(ready)
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _crashed(self) -> InvokeResult:
        self.close(kill=True)
        code = self.process.returncode
        return InvokeResult.failure(
            "Runtime.ExitError", f"Runtime exited with error: exit status {code}"
        )

    def close(self, kill: bool = False) -> None:
        """Stop the process (kill when it is stuck) and release the pipe; idempotent."""
        with self._lock:
            if self.alive:
                if kill:
                    self.process.kill()
                else:
                    launcher.stop_processes([self.process], grace=2.0)
            self.process.wait()
            if self.process.stdin is not None:
                with contextlib.suppress(OSError):
                    self.process.stdin.close()
            if self._responses >= 0:
                os.close(self._responses)
                self._responses = -1


class _Pool:
    """The workers of one function: reuse an idle one, spawn up to the limit, else wait."""

    def __init__(
        self, spec: FunctionSpec, env: Mapping[str, str], limit: int, stdout: IO[Any] | None
    ) -> None:
        self.spec = spec
        self.env = env
        self.limit = limit
        self.stdout = stdout
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._count = 0
        self._closed = False
        self._changed = threading.Condition()

    def invoke(self, event: Any) -> InvokeResult:
        worker = self._acquire()
        try:
            result = worker.invoke(event, float(self.spec.timeout))
        finally:
            self._release(worker)
        return result

    def _acquire(self) -> _Worker:
        with self._changed:
            while not self._idle and self._count >= self.limit and not self._closed:
                self._changed.wait()
            if self._closed:
                raise RuntimeError("the local runtime is shutting down")
            if self._idle:
                return self._idle.pop()
            self._count += 1
        try:
            worker = _Worker(self.spec, self.env, self.stdout)
        except BaseException:
            self._forget(None)
            raise
        with self._changed:
            self._all.append(worker)
        return worker

    def _release(self, worker: _Worker) -> None:
        if worker.alive and not self._closed:
            with self._changed:
                self._idle.append(worker)
                self._changed.notify()
            return
        worker.close()
        self._forget(worker)

    def _forget(self, worker: _Worker | None) -> None:
        with self._changed:
            self._count -= 1
            if worker in self._all:
                self._all.remove(worker)
            self._changed.notify()

    def close(self) -> list[_Worker]:
        """Refuse new invocations; hand back every worker for the caller to stop."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            workers, self._all, self._idle = list(self._all), [], []
        return workers


class LambdaRuntime:
    """The stack's Invoker: one pool per function, created on first use."""

    def __init__(
        self,
        functions: Mapping[str, FunctionSpec],
        config: LocalConfig,
        stdout: IO[Any] | None = None,
    ) -> None:
        self.functions = functions
        self.config = config
        self.stdout = stdout
        self._pools: dict[str, _Pool] = {}
        self._lock = threading.Lock()

    def invoke(self, function_id: str, event: Any) -> InvokeResult:
        """Run a function of the template; unknown ids raise KeyError."""
        return self._pool(function_id).invoke(event)

    def _pool(self, function_id: str) -> _Pool:
        with self._lock:
            if function_id not in self._pools:
                spec = self.functions[function_id]
                env = worker_environment(spec, self.config)
                self._pools[function_id] = _Pool(
                    spec, env, self.config.max_concurrency, self.stdout
                )
            return self._pools[function_id]

    def close(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL after a short grace)."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        workers = [worker for pool in pools for worker in pool.close()]
        launcher.stop_processes([worker.process for worker in workers], grace=2.0)
        for worker in workers:
            worker.close()
