"""Entitlement reads: the handler in process and the route over HTTP, each beside its floor.

The user read everywhere has the record production stores for a subscriber who also bought
something and was granted a feature by support: a subscription and a one-time purchase applied
by the webhook engine, and a manual grant, i.e. three sources in one EntitlementsTable item.

In process (DynamoDB Local started here on a free port): GET /api/v1/entitlements's
``lambda_handler`` called in this process with an API Gateway proxy event whose
requestContext.authorizer carries the seeded project, app and scopes. Its floor is one raw
boto3 GetItem of the same item with a client made once: the handler reads that item and the
user's usage counters in one BatchGetItem, so the ratio is what the service adds around it
(the counters item, Powertools routing and validation, the scope check, evaluating the
sources, JSON, the ETag). The same for the single-feature route
GET /api/v1/entitlements/check, and for the API-key authorizer beside a GetItem of the key's
item. Per round: p50/p95/p99 of ``--calls`` calls, after a warm-up; rounds interleave the
targets and their floors.

Over HTTP: the local stack (``python -m billing_devstack run``) started here on free ports, in a
temporary state dir, stopped at the end; project and API key made by ``billing-admin``, the
same record written for the user. For K = 1, 8, 32 clients, each a thread with its own keep-alive
connection, asking for ``--seconds`` per round: requests/s and p99. Beside each, at the same K
and in the same round, the floors: GET /live through the same gateway (HTTP server, proxy
event, a Lambda worker, Powertools routing; no authorizer, no DynamoDB), and a raw GetItem of
the item from K threads straight to the stack's DynamoDB Local.

DynamoDB calls per request are counted in passes of their own, never timed: in process with
``bench.support.aws_calls()``; over HTTP by ``bench/probes/sitecustomize.py`` in the stack's
Lambda workers, request by request, so the authorizer's call shows on the first request and,
with API Gateway's cache, not after.

Each figure is the median of ``--rounds`` rounds (min, max); the figures are read, never
asserted.

    python -m bench.entitlement_read                     # BENCH_RUNS=5 rounds by default
    python -m bench.entitlement_read --rounds 2 --calls 50 --concurrency 1,8 --seconds 0.5
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import sys
import tempfile
import textwrap
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bench.support import (
    REPO_ROOT,
    Figure,
    aws_calls,
    dynamodb_local,
    fresh_tables,
    percentile,
    use_dynamodb_local,
    write_results,
)
from billing_devstack import launcher
from billing_devstack.config import LocalConfig
from billing_devstack.launcher import StackProcess
from billing_devstack.resources import dynamodb_client

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import GetItemInputTypeDef

ENTITLEMENTS_PATH = "/api/v1/entitlements"
CHECK_PATH = "/api/v1/entitlements/check"
LIVE_PATH = "/live"
USER_ID = "user_bench"
SUBSCRIPTION_PRICE, SUBSCRIBED_FEATURE = "price_bench_pro", "pro"
PURCHASE_PRICE, PURCHASED_FEATURE = "price_bench_export", "export"
GRANTED_FEATURE = "beta"
SOURCES = 3  # in the user's record: subscription, purchase, manual grant
WARM_UP_CALLS = 50
COUNTED_REQUESTS = 20  # per route, in the untimed counting pass over HTTP
PROBES_DIR = REPO_ROOT / "bench" / "probes"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


# ---------------------------------------------------------------------- the user's record
@dataclass(frozen=True)
class Tenant:
    """Who reads: the project, the app its key belongs to, and the key."""

    project_id: str
    app_id: str
    scopes: str  # comma-separated, as the authorizer passes them on
    api_key: str


def _stripe_event(event_id: str, event_type: str, obj: dict[str, Any], created: int) -> str:
    body = {"id": event_id, "object": "event", "type": event_type, "created": created}
    return json.dumps({**body, "livemode": False, "data": {"object": obj}})


def seed_user_record(project_id: str) -> None:
    """The user's record written by the service's own code (in the DynamoDB the models are
    bound to): prices registered, a subscription and a purchase applied by the webhook engine,
    then a manual grant, as support would make it."""
    from billing import wiring
    from billing.domain.grants import GrantRequest
    from billing.domain.tenancy import Price
    from billing.services import engine, grants, tenancy

    now = datetime.now(UTC)
    started, owner = int(now.timestamp()) - 86_400, {"project_id": project_id, "user_id": USER_ID}
    projects, prices = wiring.project_store(), wiring.price_store()
    for price in (
        Price(SUBSCRIPTION_PRICE, project_id, (SUBSCRIBED_FEATURE,), 900, "usd", "month"),
        Price(PURCHASE_PRICE, project_id, (PURCHASED_FEATURE,), 4900, "usd", "one_time"),
    ):
        tenancy.add_price(projects, prices, price)
    subscription = {
        "id": "sub_bench",
        "object": "subscription",
        "status": "active",
        "customer": "cus_bench",
        "metadata": owner,
        "start_date": started,
        "created": started,
        "cancel_at_period_end": False,
        "trial_end": None,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_bench",
                    "price": {"id": SUBSCRIPTION_PRICE},
                    "quantity": 1,
                    "current_period_start": started,
                    "current_period_end": started + 30 * 86_400,
                }
            ],
        },
    }
    checkout = {
        "id": "cs_bench",
        "object": "checkout.session",
        "mode": "payment",
        "payment_status": "paid",
        "payment_intent": "pi_bench",
        "customer": "cus_bench",
        "amount_total": 4900,
        "currency": "usd",
        "metadata": {**owner, "price_id": PURCHASE_PRICE},
    }
    ledger = wiring.billing_ledger()
    for raw in (
        _stripe_event("evt_bench_sub", "customer.subscription.created", subscription, started),
        _stripe_event("evt_bench_buy", "checkout.session.completed", checkout, started + 60),
    ):
        outcome = engine.apply_event(raw, ledger, now)
        if outcome != engine.Outcome.APPLIED:
            raise SystemExit(f"bench: seeding the record: the engine answered {outcome}")
    request = GrantRequest(
        project_id,
        USER_ID,
        GRANTED_FEATURE,
        "bench@example.com",
        "beta tester",
        now + timedelta(30),
    )
    grants.grant(projects, wiring.grant_store(), request, app_id="bench", now=now)


def seed_tenant_in_process() -> Tenant:
    """Project 1 and an app with every scope, through the service's tenancy code."""
    from billing import wiring
    from billing.services import tenancy

    now = datetime.now(UTC)
    project = tenancy.create_project(wiring.project_store(), name="bench", project_id=1, now=now)
    issued = tenancy.create_app(
        wiring.project_store(),
        wiring.app_store(),
        project_id=project.project_id,
        name="bench",
        now=now,
    )
    assert issued.api_key is not None  # noqa: S101 - a generated key is always returned
    scopes = ",".join(sorted(issued.app.scopes))
    return Tenant(project.project_id, issued.app.app_id, scopes, issued.api_key)


def get_item_request(client: DynamoDBClient, table: str, key_value: str) -> GetItemInputTypeDef:
    """GetItem of ``key_value`` in ``table``, the key's name read from the table itself."""
    schema = client.describe_table(TableName=table)["Table"]["KeySchema"]
    hash_key = next(part["AttributeName"] for part in schema if part["KeyType"] == "HASH")
    return {"TableName": table, "Key": {hash_key: {"S": key_value}}}


def entitlements_item(client: DynamoDBClient, tenant: Tenant) -> GetItemInputTypeDef:
    from billing.adapters.dynamo.models import entitlement_key
    from billing.config import get_settings

    table = get_settings().entitlements_table_name
    return get_item_request(client, table, entitlement_key(tenant.project_id, USER_ID))


# ---------------------------------------------------------------------- in process
def sample_event(name: str, tenant: Tenant, query: dict[str, str]) -> dict[str, Any]:
    """A sample of events/ for ``tenant``'s key and the user, with the authorizer's context."""
    event: dict[str, Any] = json.loads((REPO_ROOT / "events" / name).read_text())
    event["headers"]["X-API-Key"] = tenant.api_key
    event["multiValueHeaders"]["X-API-Key"] = [tenant.api_key]
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {key: [value] for key, value in query.items()}
    if name != "api_key_authorizer.json":
        event["requestContext"]["authorizer"] = {
            "principalId": tenant.app_id,
            "project_id": tenant.project_id,
            "app_id": tenant.app_id,
            "scopes": tenant.scopes,
            "integrationLatency": 0,
        }
    return event


@dataclass(frozen=True)
class InProcessTarget:
    """One thing called in a loop: a handler with its event, or a raw GetItem."""

    name: str
    call: Callable[[], Any]
    answer_is_right: Callable[[Any], bool]
    floor: str | None = None  # the name of its floor; None: it is a floor


def in_process_targets(dynamodb_url: str, tenant: Tenant) -> list[InProcessTarget]:
    from tests.support.lambda_runtime import FakeLambdaContext, import_function

    from billing.config import get_settings
    from billing.domain.api_keys import hash_api_key

    client = dynamodb_client(dynamodb_url)
    entitlement_get = entitlements_item(client, tenant)
    key_get = get_item_request(
        client, get_settings().api_keys_table_name, hash_api_key(tenant.api_key)
    )
    user = {"user_id": USER_ID, "project_id": tenant.project_id}
    list_event = sample_event("entitlements.json", tenant, user)
    check_event = sample_event(
        "entitlement_check.json", tenant, {**user, "feature_code": SUBSCRIBED_FEATURE}
    )
    authorizer_event = sample_event("api_key_authorizer.json", tenant, user)
    read_all = import_function("entitlements").lambda_handler
    check_one = import_function("entitlement_check").lambda_handler
    authorize = import_function("api_key_authorizer").lambda_handler
    context = FakeLambdaContext(function_name="bench")

    def listed_every_source(answer: Any) -> bool:
        return len(_ok_body(answer).get("entitlements", [])) == SOURCES

    def found_active(answer: Any) -> bool:
        return _ok_body(answer).get("active") is True

    item_floor, key_floor = "GetItem EntitlementsTable (boto3)", "GetItem ApiKeysTable (boto3)"
    return [
        InProcessTarget(item_floor, lambda: client.get_item(**entitlement_get), _has_item),
        InProcessTarget(
            f"GET {ENTITLEMENTS_PATH}",
            lambda: read_all(list_event, context),
            listed_every_source,
            item_floor,
        ),
        InProcessTarget(
            f"GET {CHECK_PATH}", lambda: check_one(check_event, context), found_active, item_floor
        ),
        InProcessTarget(key_floor, lambda: client.get_item(**key_get), _has_item),
        InProcessTarget(
            "API-key authorizer",
            lambda: authorize(authorizer_event, context),
            lambda answer: answer.get("principalId") == tenant.app_id,
            key_floor,
        ),
    ]


def _has_item(answer: Any) -> bool:
    return "Item" in answer


def _ok_body(answer: Any) -> dict[str, Any]:
    """The decoded body of a proxy response with status 200, else {}."""
    ok = answer.get("statusCode") == HTTPStatus.OK
    return json.loads(answer["body"]) if ok else {}


@dataclass(frozen=True)
class RoundPercentiles:
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @staticmethod
    def of(samples: Sequence[float]) -> RoundPercentiles:
        return RoundPercentiles(
            ms(percentile(samples, 0.50)),
            ms(percentile(samples, 0.95)),
            ms(percentile(samples, 0.99)),
        )


@dataclass(frozen=True)
class Latency:
    """Per-call latency in ms: each percentile as median (min, max) over the rounds."""

    p50_ms: Figure
    p95_ms: Figure
    p99_ms: Figure
    rounds: list[RoundPercentiles]

    @staticmethod
    def of(rounds: list[RoundPercentiles]) -> Latency:
        return Latency(
            Figure.of([r.p50_ms for r in rounds]),
            Figure.of([r.p95_ms for r in rounds]),
            Figure.of([r.p99_ms for r in rounds]),
            rounds,
        )


@dataclass(frozen=True)
class InProcessResult:
    target: str
    floor: str | None
    latency: Latency
    p50_over_floor: Figure | None  # this round's p50 / its floor's p50 in the same round
    p99_over_floor: Figure | None
    dynamodb_calls_per_request: dict[str, float]


def time_calls(call: Callable[[], Any], calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def count_calls_in_process(call: Callable[[], Any], requests: int) -> dict[str, float]:
    """AWS calls per call of ``call``, in an untimed pass."""
    with aws_calls() as counted:
        for _ in range(requests):
            call()
    return {operation: count / requests for operation, count in sorted(counted.items())}


def measure_in_process(rounds: int, calls: int) -> list[InProcessResult]:
    with dynamodb_local() as dynamodb_url:
        use_dynamodb_local(dynamodb_url)
        fresh_tables(dynamodb_url)
        tenant = seed_tenant_in_process()
        seed_user_record(tenant.project_id)
        targets = in_process_targets(dynamodb_url, tenant)
        for target in targets:
            if not target.answer_is_right(target.call()):
                raise SystemExit(f"bench: {target.name} did not answer as expected")
            time_calls(target.call, WARM_UP_CALLS)
        per_round: dict[str, list[RoundPercentiles]] = {t.name: [] for t in targets}
        for number in range(1, rounds + 1):
            log(f"in process: round {number}/{rounds}, {calls} calls per target ...")
            for target in targets:
                per_round[target.name].append(RoundPercentiles.of(time_calls(target.call, calls)))
        counted = {t.name: count_calls_in_process(t.call, calls) for t in targets}

    def over_floor(target: InProcessTarget, percentile_of: str) -> Figure | None:
        if target.floor is None:
            return None
        pairs = zip(per_round[target.name], per_round[target.floor], strict=True)
        return Figure.of(
            [round(getattr(t, percentile_of) / getattr(f, percentile_of), 2) for t, f in pairs]
        )

    return [
        InProcessResult(
            target=t.name,
            floor=t.floor,
            latency=Latency.of(per_round[t.name]),
            p50_over_floor=over_floor(t, "p50_ms"),
            p99_over_floor=over_floor(t, "p99_ms"),
            dynamodb_calls_per_request=counted[t.name],
        )
        for t in targets
    ]


# ---------------------------------------------------------------------- the local stack
def stack_environment(
    environ: Mapping[str, str], state_dir: Path, authorizer_cache_ttl: int | None
) -> dict[str, str]:
    """As the integration tests have it (the launcher's: free ports, a state dir of its own, no
    LOCAL_* or STRIPE_* of the caller's), plus the counting probe."""
    calls_dir = state_dir / "aws-calls"
    calls_dir.mkdir(parents=True)
    extra = {
        "BENCH_AWS_CALLS_DIR": str(calls_dir),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROBES_DIR), environ.get("PYTHONPATH")])),
    }
    if authorizer_cache_ttl is not None:
        extra["LOCAL_AUTHORIZER_CACHE_TTL"] = str(authorizer_cache_ttl)
    return launcher.stack_environment(state_dir, environ, **extra)


def calls_dir(stack: StackProcess) -> Path:
    """Where the stack's workers log the AWS calls they make while counting is on."""
    return Path(stack.env["BENCH_AWS_CALLS_DIR"])


def admin(stack: StackProcess, *argv: str) -> Any:
    """billing-admin --json against the stack (without the call-counting probe)."""
    try:
        return stack.admin(*argv, without=("PYTHONPATH", "BENCH_AWS_CALLS_DIR"))
    except launcher.AdminCommandError as exc:
        raise SystemExit(f"bench: {exc}") from None


def log_tail(stack: StackProcess) -> str:
    return stack.log_text()[-3000:]


@contextlib.contextmanager
def local_stack(
    environ: Mapping[str, str], authorizer_cache_ttl: int | None
) -> Iterator[StackProcess]:
    """The stack (the devstack's launcher), up once GET /live answers; stopped, and nothing it
    started left behind, however the block ends."""
    with tempfile.TemporaryDirectory(prefix="bench-entitlement-read-") as temporary:
        env = stack_environment(environ, Path(temporary) / "state", authorizer_cache_ttl)
        try:
            stack = launcher.start_stack(env, ready_path=LIVE_PATH)
        except launcher.LaunchError as exc:
            raise SystemExit(f"bench: {exc}") from None
        try:
            yield stack
        finally:
            stack.stop()


def seed_over_http(stack: StackProcess) -> Tenant:
    """Project and key by billing-admin; the user's record by the service's code, written to
    the stack's DynamoDB Local from this process."""
    from billing import wiring

    project = admin(stack, "project", "create", "--name", "bench")
    app = admin(stack, "app", "create", "--project", str(project["project_id"]), "--name", "bench")
    use_dynamodb_local(stack.dynamodb_url)
    wiring.reset()
    seed_user_record(str(project["project_id"]))
    return Tenant(
        str(project["project_id"]), app["app_id"], ",".join(app["scopes"]), app["api_key"]
    )


# ---------------------------------------------------------------------- load over HTTP
class Client(Protocol):
    """One of K concurrent clients: makes one request, says whether the answer was right."""

    def __call__(self) -> bool: ...

    def ready(self) -> None:
        """Connected and answered once, before a timed round."""

    def close(self) -> None: ...


class HttpClient:
    """A keep-alive connection to the gateway asking for one URL (opened by the first request;
    after close(), the next request opens a new one)."""

    IDLE_SECONDS = 30.0  # the gateway closes a connection idle for 60 s

    def __init__(self, port: int, target: str, headers: Mapping[str, str]) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.target, self.headers = target, dict(headers)
        self.last_answer = 0.0

    def __call__(self) -> bool:
        self.connection.request("GET", self.target, headers=self.headers)
        response = self.connection.getresponse()
        response.read()
        self.last_answer = time.monotonic()
        return response.status == HTTPStatus.OK

    def ready(self) -> None:
        """One request unless one was answered lately, so the gateway has accepted this
        connection before the next client connects: its listen backlog is small (5 today),
        and a burst of connects loses SYNs, each retried a second later."""
        if time.monotonic() - self.last_answer > self.IDLE_SECONDS:
            self.connection.close()
            self()

    def close(self) -> None:
        self.connection.close()


class GetItemClient:
    """A boto3 client of its own (its own connection pool) reading the same item."""

    def __init__(self, client: DynamoDBClient, request: GetItemInputTypeDef) -> None:
        self.client, self.request = client, request

    def __call__(self) -> bool:
        return "Item" in self.client.get_item(**self.request)

    def ready(self) -> None:
        """botocore reconnects by itself."""

    def close(self) -> None:
        """botocore reconnects by itself."""


@dataclass(frozen=True)
class LoadRound:
    requests: int
    errors: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float


def load_round(clients: Sequence[Client], seconds: float) -> LoadRound:
    """Every client asks again and again for ``seconds``, all starting together; requests/s
    over the time until the last one is answered."""
    latencies: list[list[float]] = [[] for _ in clients]
    errors = [0] * len(clients)
    start = threading.Barrier(len(clients) + 1)
    deadline = [0.0]

    def run(index: int) -> None:
        client, samples = clients[index], latencies[index]
        start.wait()
        while (started := time.perf_counter()) < deadline[0]:
            try:
                right = client()
            except Exception:  # a broken connection or a DynamoDB error: counted, not fatal
                right = False
                client.close()
            samples.append(time.perf_counter() - started)
            errors[index] += not right

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    samples = [sample for per_client in latencies for sample in per_client]
    return LoadRound(
        requests=len(samples),
        errors=sum(errors),
        seconds=round(elapsed, 3),
        requests_per_second=round(len(samples) / elapsed, 1),
        p50_ms=ms(percentile(samples, 0.50)),
        p99_ms=ms(percentile(samples, 0.99)),
    )


@dataclass(frozen=True)
class Throughput:
    """Requests/s and latency at one concurrency: median (min, max) over the rounds."""

    requests_per_second: Figure
    p50_ms: Figure
    p99_ms: Figure
    errors: int
    rounds: list[LoadRound]

    @staticmethod
    def of(rounds: list[LoadRound]) -> Throughput:
        return Throughput(
            Figure.of([r.requests_per_second for r in rounds]),
            Figure.of([r.p50_ms for r in rounds]),
            Figure.of([r.p99_ms for r in rounds]),
            sum(r.errors for r in rounds),
            rounds,
        )


@dataclass(frozen=True)
class ConcurrencyResult:
    clients: int
    entitlements: Throughput  # GET /api/v1/entitlements through the gateway
    live_floor: Throughput  # GET /live through the same gateway
    getitem_floor: Throughput  # raw GetItem of the same item, DynamoDB Local directly
    rps_over_live: Figure  # entitlements requests/s / /live requests/s, per round
    p99_over_live: Figure


def entitlements_url(tenant: Tenant) -> str:
    query = urllib.parse.urlencode({"user_id": USER_ID, "project_id": tenant.project_id})
    return f"{ENTITLEMENTS_PATH}?{query}"


def client_pools(stack: StackProcess, tenant: Tenant, size: int) -> dict[str, list[Client]]:
    """``size`` clients per target, made once and reused by every round and concurrency."""
    port, key = stack.config.gateway_port, {"X-API-Key": tenant.api_key}
    request = entitlements_item(dynamodb_client(stack.dynamodb_url), tenant)
    return {
        "entitlements": [HttpClient(port, entitlements_url(tenant), key) for _ in range(size)],
        "live": [HttpClient(port, LIVE_PATH, {}) for _ in range(size)],
        "getitem": [
            GetItemClient(dynamodb_client(stack.dynamodb_url), request) for _ in range(size)
        ],
    }


def run_target(pool: list[Client], clients: int, seconds: float) -> LoadRound:
    for client in pool[:clients]:
        client.ready()
    return load_round(pool[:clients], seconds)


def measure_over_http(
    stack: StackProcess, tenant: Tenant, levels: list[int], rounds: int, seconds: float
) -> list[ConcurrencyResult]:
    pools = client_pools(stack, tenant, max(levels))
    log(f"over HTTP: warm-up at {max(levels)} clients (spawns the workers) ...")
    for pool in pools.values():
        run_target(pool, len(pool), min(seconds, 1.0))
    measured: dict[tuple[int, str], list[LoadRound]] = {}
    for number in range(1, rounds + 1):
        log(f"over HTTP: round {number}/{rounds}, {seconds:g} s per target and concurrency ...")
        for clients in levels:
            for name, pool in pools.items():
                measured.setdefault((clients, name), []).append(run_target(pool, clients, seconds))
    for pool in pools.values():
        for client in pool:
            client.close()

    def ratio(clients: int, field: str) -> Figure:
        pairs = zip(measured[clients, "entitlements"], measured[clients, "live"], strict=True)
        return Figure.of([round(getattr(e, field) / getattr(f, field), 2) for e, f in pairs])

    return [
        ConcurrencyResult(
            clients=clients,
            entitlements=Throughput.of(measured[clients, "entitlements"]),
            live_floor=Throughput.of(measured[clients, "live"]),
            getitem_floor=Throughput.of(measured[clients, "getitem"]),
            rps_over_live=ratio(clients, "requests_per_second"),
            p99_over_live=ratio(clients, "p99_ms"),
        )
        for clients in levels
    ]


# ---------------------------------------------------------------------- counting over HTTP
@dataclass(frozen=True)
class HttpCalls:
    """AWS calls per request by function, as the workers' probe logged them."""

    first_request: dict[str, dict[str, float]]  # the key's first (authorizer cache empty)
    per_request_after: dict[str, dict[str, float]]  # mean over the next requests
    live_per_request: dict[str, dict[str, float]]
    requests_after: int


def count_calls_over_http(stack: StackProcess, tenant: Tenant, requests: int) -> HttpCalls:
    """Untimed, one request at a time: what each request made the workers call."""
    switch, calls_log = calls_dir(stack) / "counting", calls_dir(stack) / "calls.log"
    seen = 0

    def calls_of(client: Client) -> Counter[tuple[str, str]]:
        """The lines the workers logged while ``client`` made one request."""
        nonlocal seen
        if not client():
            raise SystemExit(f"bench: a counted request failed:\n{log_tail(stack)}")
        lines = calls_log.read_text().splitlines() if calls_log.exists() else []
        new, seen = lines[seen:], len(lines)
        return Counter((function, op) for function, _, op in (line.partition(" ") for line in new))

    def by_function(
        counted: Counter[tuple[str, str]], requests: int
    ) -> dict[str, dict[str, float]]:
        table: dict[str, dict[str, float]] = {}
        for (function, operation), count in sorted(counted.items()):
            table.setdefault(function, {})[operation] = count / requests
        return table

    switch.touch()
    try:
        key = {"X-API-Key": tenant.api_key}
        reader = HttpClient(stack.config.gateway_port, entitlements_url(tenant), key)
        live = HttpClient(stack.config.gateway_port, LIVE_PATH, {})
        first = calls_of(reader)
        after: Counter[tuple[str, str]] = Counter()
        live_calls: Counter[tuple[str, str]] = Counter()
        for _ in range(requests):
            after += calls_of(reader)
            live_calls += calls_of(live)
        reader.close()
        live.close()
    finally:
        switch.unlink()
    return HttpCalls(
        first_request=by_function(first, 1),
        per_request_after=by_function(after, requests),
        live_per_request=by_function(live_calls, requests),
        requests_after=requests,
    )


# ---------------------------------------------------------------------- report
def authorizer_cache_setting(ttl: int | None) -> tuple[int, str]:
    """The cache the gateway used, in seconds, and where that number came from."""
    if ttl is not None:
        return ttl, f"LOCAL_AUTHORIZER_CACHE_TTL={ttl}"
    from billing_devstack.template import load_template

    template = load_template(REPO_ROOT / "template.yaml", "http://127.0.0.1:1")
    seconds = max((a.reauthorize_every for a in template.authorizers), default=0)
    return seconds, f"template.yaml ReauthorizeEvery ({seconds} s, API Gateway's cache)"


def _figure(value: Figure, digits: int = 2) -> str:
    return f"{value.median:.{digits}f} [{value.low:.{digits}f}-{value.high:.{digits}f}]"


def _calls(counted: Mapping[str, float]) -> str:
    return ", ".join(f"{op} {n:g}" for op, n in counted.items()) or "none"


def in_process_table(results: list[InProcessResult]) -> str:
    lines = [
        f"{'in process':<42} {'p50 ms':>19} {'p95 ms':>19} {'p99 ms':>19} "
        f"{'p50 x floor':>17}  DynamoDB calls/request"
    ]
    for r in results:
        name = r.target if r.floor else f"  floor: {r.target}"
        ratio = _figure(r.p50_over_floor) if r.p50_over_floor else ""
        latency, calls = r.latency, _calls(r.dynamodb_calls_per_request)
        lines.append(
            f"{name:<42} {_figure(latency.p50_ms, 3):>19} {_figure(latency.p95_ms, 3):>19} "
            f"{_figure(latency.p99_ms, 3):>19} {ratio:>17}  {calls}"
        )
    return "\n".join(lines)


def http_table(results: list[ConcurrencyResult]) -> str:
    lines = [f"{'over HTTP':<42} {'clients':>7} {'requests/s':>22} {'p99 ms':>22} {'errors':>6}"]
    for r in results:
        for name, measured in (
            (f"GET {ENTITLEMENTS_PATH}", r.entitlements),
            (f"  floor: GET {LIVE_PATH} (same gateway)", r.live_floor),
            ("  floor: GetItem (boto3, DynamoDB Local)", r.getitem_floor),
        ):
            lines.append(
                f"{name:<42} {r.clients:>7} {_figure(measured.requests_per_second, 1):>22} "
                f"{_figure(measured.p99_ms):>22} {measured.errors:>6}"
            )
        lines.append(
            f"{'  entitlements / live':<42} {r.clients:>7} {_figure(r.rps_over_live):>22} "
            f"{_figure(r.p99_over_live):>22}"
        )
    return "\n".join(lines)


def http_calls_text(calls: HttpCalls) -> str:
    def text(table: Mapping[str, Mapping[str, float]]) -> str:
        return "; ".join(f"{fn}: {_calls(ops)}" for fn, ops in table.items()) or "none"

    return "\n".join(
        [
            "DynamoDB calls over HTTP, counted in the Lambda workers:",
            f"  first request of the key: {text(calls.first_request)}",
            f"  then, per request ({calls.requests_after}): {text(calls.per_request_after)}",
            f"  GET {LIVE_PATH}, per request: {text(calls.live_per_request)}",
        ]
    )


NOTE = (
    "Latencies in ms, throughput in requests/s; each figure is the median (low, high) over the "
    "rounds, beside its floor measured in the same round. In process: the handler called "
    "directly against DynamoDB Local on loopback; floor: one raw boto3 GetItem of the same item "
    "(client made once). Over HTTP: the local stack's gateway (ThreadingHTTPServer; one Lambda "
    "worker process per concurrent invocation, at most LOCAL_MAX_CONCURRENCY per function, "
    "further requests queue); the clients are threads of this process on the same machine. "
    "These are the emulation's figures, not API Gateway's or Lambda's."
)
CALLS_NOTE = (
    "DynamoDB calls per request. In process: bench.support.aws_calls() around an untimed pass of "
    "each target. Over HTTP: bench/probes/sitecustomize.py in every Lambda worker logs each AWS "
    "call during an untimed pass, request by request (in the timed rounds it costs one stat() "
    "per AWS call). The handler makes 1 BatchGetItem per request (the record and the usage "
    "counters); the authorizer 1 GetItem per "
    "invocation, and the gateway invokes it only on a cache miss. With API Gateway's cache "
    "(ReauthorizeEvery 300 s, the template's, used unless LOCAL_AUTHORIZER_CACHE_TTL is set) "
    "that is once per key per 5 minutes, so over HTTP a request costs 1 BatchGetItem plus 1 "
    "GetItem per key "
    "per 5 minutes (the first request of a key: 2); without the cache "
    "(LOCAL_AUTHORIZER_CACHE_TTL=0) every request costs 2, and the in-process authorizer row "
    "prices the second one."
)
KEEP_ALIVE_STALL_MS = 35.0


def keep_alive_note(results: list[ConcurrencyResult]) -> str | None:
    """A reading aid when the /live floor at the fewest clients sits near a delayed ACK."""
    fewest = min(results, key=lambda result: result.clients)
    floor_ms = fewest.live_floor.p50_ms.median
    if floor_ms < KEEP_ALIVE_STALL_MS:
        return None
    return (
        f"GET {LIVE_PATH} takes {floor_ms:.0f} ms (p50) at {fewest.clients} client(s), about a "
        "delayed ACK (40 ms): the local gateway (http.server) writes a response's headers and "
        "body in two sends with Nagle's algorithm on, so on a keep-alive connection the body "
        "waits for the client's delayed ACK of the headers. Every over-HTTP figure, the floor "
        "too, carries that wait; the handler's own cost is the in-process figure."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_RUNS", "5")))
    parser.add_argument("--calls", type=int, default=300, help="per target and round, in process")
    parser.add_argument("--concurrency", default="1,8,32", help="clients over HTTP")
    parser.add_argument("--seconds", type=float, default=1.5, help="per target, level and round")
    parser.add_argument(
        "--authorizer-cache-ttl",
        type=int,
        default=None,
        help="LOCAL_AUTHORIZER_CACHE_TTL for the stack (default: the template's, as deployed)",
    )
    args = parser.parse_args(argv)
    levels = [int(level) for level in args.concurrency.split(",")]
    # A SIGTERM unwinds like Ctrl-C, so DynamoDB Local and the stack are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    caller_environment = dict(os.environ)  # before use_dynamodb_local changes this process's
    began = time.perf_counter()

    in_process = measure_in_process(args.rounds, args.calls)
    cache_seconds, cache_source = authorizer_cache_setting(args.authorizer_cache_ttl)
    log("over HTTP: starting the local stack ...")
    with local_stack(caller_environment, args.authorizer_cache_ttl) as stack:
        workers_per_function = LocalConfig.from_env(stack.env).max_concurrency
        tenant = seed_over_http(stack)
        http_calls = count_calls_over_http(stack, tenant, COUNTED_REQUESTS)
        over_http = measure_over_http(stack, tenant, levels, args.rounds, args.seconds)
    elapsed = time.perf_counter() - began
    stall = keep_alive_note(over_http)

    write_results(
        "entitlement_read",
        {
            "rounds": args.rounds,
            "calls_per_round_in_process": args.calls,
            "seconds_per_round_over_http": args.seconds,
            "concurrency": levels,
            "record_sources": SOURCES,
            "authorizer_cache_seconds": cache_seconds,
            "authorizer_cache_setting": cache_source,
            "local_max_concurrency": workers_per_function,
            "runtime_seconds": round(elapsed, 1),
            "note": NOTE,
            "calls_note": CALLS_NOTE,
            "keep_alive_note": stall,
            "in_process": [asdict(result) for result in in_process],
            "over_http": [asdict(result) for result in over_http],
            "dynamodb_calls_over_http": asdict(http_calls),
        },
    )
    print(in_process_table(in_process))
    print()
    print(http_table(over_http))
    print(f"(authorizer cache: {cache_source}; {workers_per_function} workers per function)")
    if stall:
        print(textwrap.fill(f"note: {stall}", 100))
    print()
    print(http_calls_text(http_calls))
    print(f"\n{elapsed:.0f} s in all")


if __name__ == "__main__":
    main()
