"""``up``, ``down`` and ``status``: a background stack driven from the outside, and ``webhook``.

``up`` starts ``python -m billing_devstack run`` detached, in its own session (see
:func:`billing_devstack.launcher.start_stack`), so ``down`` can stop the whole process group
(the stack, DynamoDB Local, moto, every worker); the pid file is checked against the process's
command line so a recycled pid is never signalled.
"""

from __future__ import annotations

import hmac
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from billing_devstack import launcher
from billing_devstack.config import LocalConfig
from billing_devstack.launcher import HTTP_OK, LaunchError

UP_TIMEOUT = 60.0
HTTP_MULTIPLE_CHOICES = 300
EXIT_USAGE = 2


def _stack_pid(config: LocalConfig) -> int | None:
    """The pid in the pid file if it is a live ``billing_devstack run`` process, else None."""
    try:
        pid = int(config.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if b"billing_devstack" not in cmdline or b"run" not in cmdline or not launcher.pid_alive(pid):
        return None
    return pid


def health(config: LocalConfig, timeout: float = 2.0) -> int | None:
    """The status of GET /health, or None when nothing answers."""
    return launcher.gateway_status(f"{config.gateway_url}/health", timeout)


def up(config: LocalConfig) -> int:
    """Start the stack in the background and wait until /health answers 200."""
    pid = _stack_pid(config)
    if pid is not None:
        print(f"the local stack is already up (pid {pid}); `make down` stops it")
        return 1
    config.state_dir.mkdir(parents=True, exist_ok=True)
    config.log_file.write_bytes(b"")
    stack = launcher.start_stack(config.environ, detached=True, wait=False)
    config.pid_file.write_text(f"{stack.process.pid}\n")
    try:
        stack.wait_ready(UP_TIMEOUT)
    except LaunchError as exc:
        config.pid_file.unlink(missing_ok=True)
        print(exc)
        return 1
    print(f"billing local stack up on {config.gateway_url} (pid {stack.process.pid})")
    print(f"log: {config.log_file}")
    return 0


def down(config: LocalConfig) -> int:
    """Stop the stack started by ``up``; "not running" is fine."""
    pid = _stack_pid(config)
    if pid is None:
        config.pid_file.unlink(missing_ok=True)
        print("the local stack is not running")
        return 0
    gone = launcher.stop_group(pid)
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


def read_event(path: str) -> Any:
    """A JSON event from a file, or from stdin for ``-``."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    return json.loads(text)


def send_webhook(config: LocalConfig, event_file: str, *, new_id: bool = False) -> int:
    """The seed's webhook replay helper: sign a Stripe event with the stack's webhook secret,
    at the current time, and POST it to the gateway's receiver. Exit 0 on a 2xx."""
    try:
        event = read_event(event_file)
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
