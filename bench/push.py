"""Pushed to project backends (issue #22): token issuance and offline verification beside the
entitlement read, and the delivery lag of outbound webhooks, on the local stack.

The local stack (``python -m billing_devstack run``) is started here on free ports in a
temporary state dir and stopped at the end; a project, an API key and a user with two granted
features are made through ``billing-admin`` and the API.

- **Token issuance over HTTP**: POST /api/v1/entitlements/token (one GetItem, one Sign by the
  moto server's KMS), one keep-alive client, ``--calls`` calls per round, p50/p99; beside it,
  GET /api/v1/entitlements for the same user, in the same round (what a backend calls instead
  when it does not hold a token).
- **Offline verification in process**: ``billing_client.TokenVerifier.verify`` then
  ``has_feature`` on a token from the stack (the JWKS fetched once, before timing): what
  checking a feature costs a backend holding a token; beside it, PyJWT's ``decode`` (RSA in
  C, by ``cryptography``) of the same token and key.
- **Delivery lag**: a receiver run here is the project's webhook endpoint; each of ``--changes``
  grants, one after another, is timed from just before its request to the arrival of its
  delivery (change log -> its stream, polled by the devstack -> dispatcher -> SQS -> sender ->
  POST), p50/p99 per round; beside it, the grant's own round trip (the write that causes it).
  The local stack's pollers wait up to a second between empty polls: the lag is mostly theirs.

Each figure is the median of ``--rounds`` rounds (min, max); nothing is asserted.

    python -m bench.push                                   # BENCH_RUNS=5 rounds by default
    python -m bench.push --rounds 2 --calls 50 --changes 20
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.support import Figure, percentile, write_results
from billing_client import BillingClient, TokenVerifier
from billing_devstack import launcher
from billing_devstack.launcher import StackProcess, free_port

AUDIENCE = "https://bench.example.com"
USER_ID = "user_bench"
FEATURES = ("pro", "beta")
RECEIVE_TIMEOUT_SECONDS = 60.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def latencies(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": ms(percentile(samples, 0.5)), "p99_ms": ms(percentile(samples, 0.99))}


def figures(rounds: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per key, the median (min, max) over rounds."""
    return {key: _figure([r[key] for r in rounds]) for key in rounds[0]}


def _figure(values: list[float]) -> dict[str, float]:
    figure = Figure.of(values)
    return {"median": figure.median, "low": figure.low, "high": figure.high}


# ---------------------------------------------------------------------- the stack
@contextlib.contextmanager
def local_stack() -> Iterator[StackProcess]:
    with tempfile.TemporaryDirectory(prefix="bench-push-") as temporary:
        env = launcher.stack_environment(Path(temporary) / "state")
        try:
            stack = launcher.start_stack(env)
        except launcher.LaunchError as exc:
            sys.exit(f"bench: {exc}")
        try:
            yield stack
        finally:
            stack.stop()


@dataclass
class Receiver:
    """The project's endpoint: the arrival time of each (user, version) delivered."""

    port: int = field(default_factory=free_port)
    arrived: dict[tuple[str, int], float] = field(default_factory=dict)
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def serve(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                now = time.perf_counter()
                data = json.loads(body)["data"]
                with receiver.changed:
                    receiver.arrived.setdefault((data["user_id"], int(data["version"])), now)
                    receiver.changed.notify_all()
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def wait_for(self, user_id: str, version: int) -> float:
        deadline = time.monotonic() + RECEIVE_TIMEOUT_SECONDS
        with self.changed:
            while (user_id, version) not in self.arrived:
                left = deadline - time.monotonic()
                if left <= 0:
                    sys.exit(f"bench: no delivery of {user_id} v{version} in 60 s")
                self.changed.wait(left)
            return self.arrived[(user_id, version)]


@dataclass(frozen=True)
class Tenant:
    project_id: int
    client: BillingClient


def seed(stack: StackProcess, receiver: Receiver) -> Tenant:
    project = stack.admin("project", "create", "--name", "bench_push")["project_id"]
    key = stack.admin("app", "create", "--project", str(project), "--name", "bench")["api_key"]
    stack.admin("project", "webhook", "add", "--project", str(project), "--url", receiver.url)
    client = BillingClient(stack.url, key, timeout=30.0, max_retries=0)
    for feature in FEATURES:
        client.grant(
            user_id=USER_ID, project_id=project, feature_code=feature, granted_by="b", reason="b"
        )
    return Tenant(int(project), client)


# ---------------------------------------------------------------------- the measures
def timed(call: Callable[[], object], times: int) -> list[float]:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def tokens_round(tenant: Tenant, calls: int) -> dict[str, float]:
    def issue() -> object:
        return tenant.client.issue_token(
            user_id=USER_ID, project_id=tenant.project_id, audience=AUDIENCE
        )

    def read() -> object:
        return tenant.client.entitlements(user_id=USER_ID, project_id=tenant.project_id)

    issued, read_ = timed(issue, calls), timed(read, calls)
    return {
        **{f"issue_{k}": v for k, v in latencies(issued).items()},
        **{f"read_{k}": v for k, v in latencies(read_).items()},
    }


def verify_round(tenant: Tenant, calls: int) -> dict[str, float]:
    import jwt

    token = tenant.client.issue_token(
        user_id=USER_ID, project_id=tenant.project_id, audience=AUDIENCE, ttl_seconds=3600
    ).token
    verifier = TokenVerifier(tenant.client.jwks, audience=AUDIENCE, project_id=tenant.project_id)
    verifier.verify(token)  # the one JWKS fetch, before timing
    keys = jwt.PyJWKSet.from_dict(
        {"keys": [vars_of(key) for key in tenant.client.jwks().keys]}
    ).keys
    key = next(k for k in keys if k.key_id == jwt.get_unverified_header(token)["kid"])

    def offline() -> object:
        return verifier.verify(token).has_feature("pro")

    def pyjwt() -> object:
        return jwt.decode(token, key, algorithms=["RS256"], audience=AUDIENCE, issuer="billing")

    ours, floor = timed(offline, calls * 10), timed(pyjwt, calls * 10)
    return {
        **{f"verify_{k}": v for k, v in latencies(ours).items()},
        **{f"pyjwt_{k}": v for k, v in latencies(floor).items()},
    }


def vars_of(key: Any) -> dict[str, str]:
    return {name: getattr(key, name) for name in ("kty", "kid", "use", "alg", "n", "e")}


def lag_round(tenant: Tenant, receiver: Receiver, changes: int) -> dict[str, float]:
    user = f"user_{uuid.uuid4().hex[:10]}"
    lags, writes = [], []
    for version in range(1, changes + 1):
        feature = f"f{version}"
        start = time.perf_counter()
        tenant.client.grant(
            user_id=user, project_id=tenant.project_id, feature_code=feature, granted_by="b",
            reason="b",
        )  # fmt: skip
        writes.append(time.perf_counter() - start)
        lags.append(receiver.wait_for(user, version) - start)
    return {
        **{f"lag_{k}": v for k, v in latencies(lags).items()},
        **{f"grant_{k}": v for k, v in latencies(writes).items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_RUNS", "5")))
    parser.add_argument("--calls", type=int, default=200, help="HTTP calls per route per round")
    parser.add_argument("--changes", type=int, default=50, help="grants per round (lag)")
    args = parser.parse_args(argv)

    receiver = Receiver()
    server = receiver.serve()
    try:
        with local_stack() as stack:
            tenant = seed(stack, receiver)
            tokens_round(tenant, 20)  # warm every worker up
            tokens, verify, lag = [], [], []
            for number in range(1, args.rounds + 1):
                log(f"round {number}/{args.rounds}")
                tokens.append(tokens_round(tenant, args.calls))
                verify.append(verify_round(tenant, args.calls))
                lag.append(lag_round(tenant, receiver, args.changes))
    finally:
        server.shutdown()
        server.server_close()

    document = {
        "rounds": args.rounds,
        "calls": args.calls,
        "changes": args.changes,
        "tokens_over_http": figures(tokens),
        "offline_verification": figures(verify),
        "delivery": figures(lag),
    }
    write_results("push", document)
    for name in ("tokens_over_http", "offline_verification", "delivery"):
        section: dict[str, dict[str, float]] = document[name]
        for key, figure in section.items():
            low, high = figure["low"], figure["high"]
            print(f"{name:22} {key:14} {figure['median']:10.3f} ms  ({low}-{high})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
