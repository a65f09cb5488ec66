"""``make invoke FN=<LogicalId> EVENT=events/<file>.json``: one function on one event, as
``sam local invoke`` does, without a running stack.

What the function needs is read from its environment in template.yaml, the names its code
reads its settings by: a table name (``*_TABLE_NAME``) needs DynamoDB Local, with every table
of the template; a queue URL or an SSM parameter (``*_QUEUE_URL``, ``*_DLQ_URL``,
``*_PARAMETER``) or the tokens' KMS keys (``TOKEN_SIGNING_KEYS``) need the moto server, with
the template's queues and a signing key; a Stripe address or key
(``STRIPE_API_BASE``, ``STRIPE_SECRET_KEY_PARAMETER``) needs the Stripe stand-in, unless a real
``STRIPE_SECRET_KEY`` is set. Those start on free ports with a temporary state dir (so a stack
started by ``make up`` is left alone); the function runs once in a Lambda-like worker; its
result is printed on stdout (its logs on stderr) and everything is stopped.

The tables start empty: an invocation sees what a fresh deployment would.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from billing_devstack.config import LocalConfig
from billing_devstack.control import EXIT_USAGE, read_event
from billing_devstack.lambda_runtime import InvokeResult
from billing_devstack.launcher import LaunchError, free_port
from billing_devstack.stack import (
    Stack,
    StartupError,
    find_dynamodb_jar,
    java_problem,
    with_cursor_key,
)
from billing_devstack.template import FunctionSpec, LocalTemplate, TemplateError, load_template

_TABLE_SUFFIXES = ("_TABLE_NAME",)
_MOTO_SUFFIXES = ("_QUEUE_URL", "_DLQ_URL", "_PARAMETER")
_STRIPE_VARIABLES = ("STRIPE_API_BASE", "STRIPE_SECRET_KEY_PARAMETER")
_MOTO_VARIABLES = ("TOKEN_SIGNING_KEYS",)  # a key of moto's KMS


@dataclass(frozen=True)
class Needs:
    """What one function reaches outside its own process."""

    dynamodb: bool
    moto: bool
    stripe: bool


def needs_of(spec: FunctionSpec) -> Needs:
    """What ``spec`` needs, from the settings its template environment gives it."""
    names = spec.environment.keys()
    return Needs(
        dynamodb=any(name.endswith(_TABLE_SUFFIXES) for name in names),
        moto=any(name.endswith(_MOTO_SUFFIXES) or name in _MOTO_VARIABLES for name in names),
        stripe=any(name in _STRIPE_VARIABLES for name in names),
    )


def isolated(config: LocalConfig, state_dir: Path) -> LocalConfig:
    """``config`` on free ports and ``state_dir``, in memory: nothing shared with a running
    stack (the Stripe stand-in's webhooks would otherwise reach its gateway)."""
    return replace(
        config,
        state_dir=state_dir,
        gateway_port=free_port(),
        dynamodb_port=free_port(),
        dynamodb_client_endpoint=None,
        moto_port=free_port(),
        stripe_port=free_port(),
        persist=False,
        seed_demo=False,
        schedule_now=False,
    )


def _problems(config: LocalConfig, needs: Needs) -> list[str]:
    if not needs.dynamodb:
        return []
    problems = [java] if (java := java_problem()) else []
    if find_dynamodb_jar(config.root) is None:
        problems.append("DynamoDB Local not found under node_modules: run `make setup`")
    return problems


def run_once(
    config: LocalConfig, template: LocalTemplate, function_id: str, event: object
) -> InvokeResult:
    """Start what ``function_id`` needs, invoke it once with ``event``, stop everything."""
    needs = needs_of(template.functions[function_id])
    with tempfile.TemporaryDirectory(prefix="billing-invoke-") as state:
        local = with_cursor_key(isolated(config, Path(state)))
        problems = _problems(local, needs)
        if problems:
            raise StartupError("; ".join(problems))
        stack = Stack(local, template, stdout=sys.stderr)  # stdout: the result only
        try:
            stack.start_backends(dynamodb=needs.dynamodb, moto=needs.moto)
            stack.create_resources(tables=needs.dynamodb, queues=needs.moto)
            if needs.stripe:
                stack.start_stripe_standin(webhooks=False)
            return stack.runtime.invoke(function_id, event)
        finally:
            stack.stop()


def invoke(config: LocalConfig, function_id: str, event_file: str) -> int:
    """``python -m billing_devstack invoke FN EVENT``: print the function's result (exit 0),
    or its error on stderr (exit 1); 2 for an unknown function or an unreadable event."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    try:
        template = load_template(config.template_path, config.moto_endpoint, config.environ)
    except (OSError, TemplateError) as exc:
        print(f"{config.template_path}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if function_id not in template.functions:
        known = "\n  ".join(sorted(template.functions))
        print(f"unknown function {function_id!r}; the template has:\n  {known}", file=sys.stderr)
        return EXIT_USAGE
    try:
        event = read_event(event_file)
    except (OSError, ValueError) as exc:
        print(f"cannot read the event {event_file}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = run_once(config, template, function_id, event)
    except (LaunchError, StartupError, BotoCoreError, ClientError, OSError) as exc:
        print(f"invoke: what {function_id} needs did not start: {exc}", file=sys.stderr)
        return 1
    if result.ok:
        print(json.dumps(result.payload, indent=2))
        return 0
    print(json.dumps(result.error, indent=2), file=sys.stderr)
    return 1
