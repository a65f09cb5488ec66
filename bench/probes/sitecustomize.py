"""Counts the AWS API calls made by the local stack's Lambda workers (bench.entitlement_read).

Python imports ``sitecustomize`` at start-up from the first directory on sys.path holding one.
The benchmark puts this directory on the stack's PYTHONPATH with BENCH_AWS_CALLS_DIR set, and
every worker inherits both (billing_devstack.lambda_runtime.worker_environment). Anywhere else (no
BENCH_AWS_CALLS_DIR, or not a function's worker: no AWS_LAMBDA_FUNCTION_NAME) this does nothing.

In a worker, nothing is imported ahead of the handler: botocore's ``BaseClient._make_api_call``
is wrapped once the handler itself imports ``botocore.client``. While the file ``counting``
exists in BENCH_AWS_CALLS_DIR, each call appends the line ``<function> <service>.<Operation>``
to ``calls.log`` there (O_APPEND: whole lines, whichever process writes). The rest of the time
a call costs one extra stat().
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

CALLS_DIR = os.environ.get("BENCH_AWS_CALLS_DIR", "")
FUNCTION = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")


def _count_calls_of(client_class: Any, calls_dir: Path) -> None:
    original = client_class._make_api_call
    switch, log = calls_dir / "counting", str(calls_dir / "calls.log")

    def counting(client: Any, operation: str, params: Any) -> Any:
        if switch.exists():
            line = f"{FUNCTION} {client.meta.service_model.service_name}.{operation}\n"
            descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(descriptor, line.encode())
            finally:
                os.close(descriptor)
        return original(client, operation, params)

    client_class._make_api_call = counting


class _WrapBotocoreClientOnImport(importlib.abc.MetaPathFinder):
    """Finds ``botocore.client`` as usual, and wraps BaseClient once the module has run."""

    def __init__(self, calls_dir: Path) -> None:
        self.calls_dir = calls_dir

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "botocore.client":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader, calls_dir = spec.loader, self.calls_dir
        run_module = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run_module(module)
            _count_calls_of(module.BaseClient, calls_dir)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if CALLS_DIR and FUNCTION:
    sys.meta_path.insert(0, _WrapBotocoreClientOnImport(Path(CALLS_DIR)))
