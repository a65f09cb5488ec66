"""``up``, ``down``, ``status`` and ``invoke``: the stack driven from the outside.

``up`` runs ``python -m billing_devstack run`` in its own session, so ``down`` can stop the whole
process group (the stack, DynamoDB Local, moto, every worker) with one signal; the pid file is
checked against the process's command line so a recycled pid is never signalled.
"""

from __future__ import annotations

import hmac
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from billing_devstack import procs
from billing_devstack.config import LocalConfig
from billing_devstack.lambda_runtime import LambdaRuntime
from billing_devstack.template import TemplateError, load_template

UP_TIMEOUT = 60.0
HTTP_OK = 200
HTTP_MULTIPLE_CHOICES = 300
DOWN_GRACE = 40.0  # the stack's own stop: a drain of up to 20 s, then the backends
EXIT_USAGE = 2


def _stack_pid(config: LocalConfig) -> int | None:
    """The pid in the pid file if it is a live ``local run`` process, else None."""
    try:
        pid = int(config.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if b"billing_devstack" not in cmdline or b"run" not in cmdline or not procs.pid_alive(pid):
        return None
    return pid


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def health(config: LocalConfig, timeout: float = 2.0) -> int | None:
    """The status of GET /health, or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"{config.gateway_url}/health", timeout=timeout) as response:  # noqa: S310 - our own URL
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, urllib.error.URLError):
        return None


def up(config: LocalConfig) -> int:
    """Start the stack in the background and wait until /health answers 200."""
    pid = _stack_pid(config)
    if pid is not None:
        print(
            f"the local stack is already up (pid {pid}); `python -m billing_devstack down` stops it"
        )
        return 1
    config.state_dir.mkdir(parents=True, exist_ok=True)
    config.log_file.write_bytes(b"")
    with config.log_file.open("ab") as log:  # append mode: workers write to the same file
        process = subprocess.Popen(
            [sys.executable, "-m", "billing_devstack", "run"],
            cwd=config.root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(config.environ),
        )
    config.pid_file.write_text(f"{process.pid}\n")
    serving = procs.wait_until(
        lambda: process.poll() is not None or health(config) == HTTP_OK, UP_TIMEOUT, 0.3
    )
    if serving and process.poll() is None:
        print(f"billing local stack up on {config.gateway_url} (pid {process.pid})")
        print(f"log: {config.log_file}")
        return 0
    print(f"the local stack did not come up; the end of {config.log_file}:")
    print(procs.tail(config.log_file))
    _stop_group(process.pid)
    config.pid_file.unlink(missing_ok=True)
    return 1


def _stop_group(pgid: int) -> bool:
    """SIGTERM the stack (the group's leader) alone, so it stops its children in order (with
    LOCAL_PERSIST it drains and saves the queues while the moto server still runs); then
    SIGTERM and SIGKILL whatever of the group remains. True if the group is gone."""
    steps = (
        (os.kill, signal.SIGTERM, DOWN_GRACE),
        (os.killpg, signal.SIGTERM, 5.0),
        (os.killpg, signal.SIGKILL, 5.0),
    )
    for send, sig, grace in steps:
        try:
            send(pgid, sig)
        except ProcessLookupError:
            if not group_members(pgid):
                return True
            continue  # the leader is gone, some of its group is not
        if procs.wait_until(lambda: not group_members(pgid), grace, 0.2):
            return True
    return not group_members(pgid)


def down(config: LocalConfig) -> int:
    """Stop the stack started by ``up``; "not running" is fine."""
    pid = _stack_pid(config)
    if pid is None:
        config.pid_file.unlink(missing_ok=True)
        print("the local stack is not running")
        return 0
    gone = _stop_group(pid)
    config.pid_file.unlink(missing_ok=True)
    print("the local stack is stopped" if gone else f"process group {pid} would not stop")
    return 0 if gone else 1


def status(config: LocalConfig) -> int:
    """Print whether the stack is up; 0 when it is, 1 when not."""
    pid = _stack_pid(config)
    answer = health(config)
    if pid is not None and answer == HTTP_OK:
        print(f"up on {config.gateway_url} (pid {pid})")
        return 0
    if pid is not None:
        print(f"starting or unhealthy (pid {pid}, /health: {answer}); see {config.log_file}")
        return 1
    print(
        "not running"
        if answer is None
        else f"not started by `up`, but {config.gateway_url} answers"
    )
    return 1


def _read_event(path: str) -> Any:
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    return json.loads(text)


def invoke(config: LocalConfig, function_id: str, event_file: str) -> int:
    """Run one function in a worker against the running stack; print its JSON result."""
    try:
        template = load_template(config.template_path, config.moto_endpoint, config.environ)
    except (OSError, TemplateError) as exc:
        print(f"{config.template_path}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if function_id not in template.functions:
        known = "\n  ".join(sorted(template.functions))
        print(f"unknown function {function_id!r}; the template has:\n  {known}", file=sys.stderr)
        return EXIT_USAGE
    if not procs.port_in_use(config.dynamodb_port):
        print(
            f"warning: nothing listens on :{config.dynamodb_port}; is the stack up?",
            file=sys.stderr,
        )
    try:
        event = _read_event(event_file)
    except (OSError, ValueError) as exc:
        print(f"cannot read the event {event_file}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    runtime = LambdaRuntime(template.functions, config, stdout=sys.stderr)  # stdout: result only
    try:
        result = runtime.invoke(function_id, event)
    finally:
        runtime.close()
    if result.ok:
        print(json.dumps(result.payload, indent=2))
        return 0
    print(json.dumps(result.error, indent=2), file=sys.stderr)
    return 1


def send_webhook(config: LocalConfig, event_file: str, *, new_id: bool = False) -> int:
    """The seed's webhook replay helper: sign a Stripe event with the stack's webhook secret,
    at the current time, and POST it to the gateway's receiver. Exit 0 on a 2xx."""
    try:
        event = _read_event(event_file)
    except (OSError, ValueError) as exc:
        print(f"cannot read the event {event_file}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if new_id:
        event["id"] = f"evt_local_{uuid.uuid4().hex[:20]}"
    payload = json.dumps(event).encode()
    secret = config.stripe_webhook_secrets[0]
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, "sha256")
    request = urllib.request.Request(  # noqa: S310 - the local gateway's http URL
        f"{config.gateway_url}/api/v1/webhooks/stripe",
        data=payload,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": f"t={timestamp},v1={digest.hexdigest()}",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            status, body = answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        print(f"the stack does not answer at {config.gateway_url}: {exc}", file=sys.stderr)
        return 1
    print(f"{status} {body}")
    return 0 if HTTP_OK <= status < HTTP_MULTIPLE_CHOICES else 1
