"""Usage recording: POST /api/v1/usage's handler in process, beside one raw conditional UpdateItem.

DynamoDB Local is started here on a free port with every table of template.yaml. The user has
the record bench/entitlement_read.py seeds (a subscription, a purchase, a support grant) plus a
grant of credits of ``api_calls`` (limit 10^15, so every enforced call is counted).

Targets, called in a loop in this process, each call with a fresh idempotency key:

- ``POST /api/v1/usage`` (enforced): the function's ``lambda_handler`` with an API Gateway proxy
  event whose requestContext.authorizer carries the project, app and scopes. It reads the
  record, the counters and the key's record (one BatchGetItem), then writes one
  TransactWriteItems (the counter's conditional UpdateItem ADD and the usage record's
  conditional PutItem).
- floor: one raw conditional UpdateItem (boto3, client made once) of a counter in the same
  table: ``ADD`` with ``attribute_not_exists(c) OR c <= :max``, the cheapest way to count
  within a limit at all. The ratio is the goal's (at most 1.3x).
- the same two calls raw: the handler's BatchGetItem and TransactWriteItems made by boto3
  directly, so what the service adds around its own calls shows apart from what the design
  costs (a read and a transaction instead of one update).
- the transaction alone, raw: the usage record's conditional PutItem and the counter's
  conditional UpdateItem in one TransactWriteItems, no read. Any design that keeps a record
  per idempotency key for 24 hours beside the counter pays at least this (one item cannot
  hold a day of keys of a busy feature), so it bounds what dropping the read could win.

AWS calls and Stripe calls per request are counted in untimed passes: AWS calls as
bench.support.aws_calls() does (botocore's ``_make_api_call``), Stripe calls at the stripe
SDK's HTTP client (``HTTPClient.request_with_retries``, which every StripeClient call goes
through). Each figure is the median (min, max) over ``--rounds`` rounds; nothing is asserted.

    python -m bench.usage                     # BENCH_RUNS=5 rounds by default
    python -m bench.usage --rounds 2 --calls 100
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

from bench.entitlement_read import (
    WARM_UP_CALLS,
    Latency,
    RoundPercentiles,
    Tenant,
    _figure,
    count_calls_in_process,
    log,
    sample_event,
    seed_tenant_in_process,
    seed_user_record,
    time_calls,
)
from bench.support import (
    Figure,
    aws_calls,
    dynamodb_local,
    fresh_tables,
    use_dynamodb_local,
    write_results,
)
from billing_devstack.resources import dynamodb_client

USER_ID = "user_bench"  # bench.entitlement_read's, whose record is seeded
FEATURE = "api_calls"
CREDITS = 10**15
USAGE_PATH = "/api/v1/usage"
HANDLER = f"POST {USAGE_PATH} (enforced)"
FLOOR = "floor: one raw conditional UpdateItem"
RAW_PAIR = "raw BatchGetItem + TransactWriteItems"
RAW_TRANSACTION = "raw TransactWriteItems alone"


def grant_credits(project_id: str) -> None:
    """The user's credits of ``api_calls``: a support grant of a quantity, as the API makes it."""
    from billing import wiring
    from billing.domain.grants import GrantRequest
    from billing.services import grants

    now = datetime.now(UTC)
    request = GrantRequest(
        project_id,
        USER_ID,
        FEATURE,
        "bench@example.com",
        "bench credits",
        now + timedelta(30),
        quantity=CREDITS,
    )
    grants.grant(wiring.project_store(), wiring.grant_store(), request, app_id="bench", now=now)


@contextmanager
def stripe_calls() -> Iterator[Counter[str]]:
    """Count the Stripe API requests this process makes inside the block, by method and path,
    at the stripe SDK's HTTP client (every StripeClient call goes through it)."""
    from stripe._http_client import HTTPClient

    counts: Counter[str] = Counter()
    original = HTTPClient.request_with_retries

    def counting(client: HTTPClient, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        counts[f"{method.upper()} {url}"] += 1
        return original(client, method, url, *args, **kwargs)

    setattr(HTTPClient, "request_with_retries", counting)  # noqa: B010
    try:
        yield counts
    finally:
        setattr(HTTPClient, "request_with_retries", original)  # noqa: B010


@dataclass(frozen=True)
class Target:
    name: str
    call: Callable[[], Any]
    answer_is_right: Callable[[Any], bool]


def targets(dynamodb_url: str, tenant: Tenant) -> list[Target]:
    from tests.support.lambda_runtime import FakeLambdaContext, import_function

    from billing.adapters.dynamo.models import (
        UsageCountersModel,
        UsageRecordModel,
        entitlement_key,
    )
    from billing.adapters.dynamo.stores import user_keys

    client = dynamodb_client(dynamodb_url)
    counters = UsageCountersModel.Meta.table_name
    records = UsageRecordModel.Meta.table_name
    user = {"project_user": {"S": entitlement_key(tenant.project_id, USER_ID)}}
    event = sample_event("usage.json", tenant, {})
    handler = import_function("usage").lambda_handler
    context = FakeLambdaContext(function_name="bench")
    keys = itertools.count()

    def record_usage() -> Any:
        body = {
            "user_id": USER_ID,
            "project_id": tenant.project_id,
            "feature_code": FEATURE,
            "quantity": 1,
            "idempotency_key": f"bench_{next(keys)}",
            "enforce": True,
        }
        return handler({**event, "body": json.dumps(body)}, context)

    update: Any = {
        "TableName": counters,
        "Key": user,
        "UpdateExpression": "ADD #c :q",
        "ConditionExpression": "attribute_not_exists(#c) OR #c <= :max",
        "ExpressionAttributeNames": {"#c": "floor#raw"},
        "ExpressionAttributeValues": {":q": {"N": "1"}, ":max": {"N": str(CREDITS - 1)}},
    }

    def raw_transaction(key: str) -> Any:
        put: Any = {
            "TableName": records,
            "Item": {"record_key": {"S": key}, "answer": {"S": "{}"}},
            "ConditionExpression": "attribute_not_exists(record_key)",
        }
        return client.transact_write_items(TransactItems=[{"Put": put}, {"Update": update}])

    def raw_pair() -> Any:
        key = f"{tenant.project_id}#raw_{next(keys)}"
        batch = [*user_keys(tenant.project_id, USER_ID), (records, {"record_key": {"S": key}})]
        request: dict[str, Any] = {}
        for table, item_key in batch:
            request.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(item_key)
        client.batch_get_item(RequestItems=request)
        return raw_transaction(key)

    def counted(answer: Any) -> bool:
        return bool(answer.get("statusCode") == HTTPStatus.CREATED)

    def written(answer: Any) -> bool:
        return bool(answer["ResponseMetadata"]["HTTPStatusCode"] == HTTPStatus.OK)

    return [
        Target(FLOOR, lambda: client.update_item(**update), written),
        Target(HANDLER, record_usage, counted),
        Target(RAW_PAIR, raw_pair, written),
        Target(
            RAW_TRANSACTION,
            lambda: raw_transaction(f"{tenant.project_id}#raw_{next(keys)}"),
            written,
        ),
    ]


@dataclass(frozen=True)
class Result:
    target: str
    latency: Latency
    p50_over_floor: Figure | None  # this round's p50 / the floor's p50 in the same round
    p99_over_floor: Figure | None
    dynamodb_calls_per_request: dict[str, float]
    stripe_calls_per_request: dict[str, float]


def count_stripe_calls(call: Callable[[], Any], requests: int) -> dict[str, float]:
    with stripe_calls() as counted:
        for _ in range(requests):
            call()
    return {request: count / requests for request, count in sorted(counted.items())}


def measure(rounds: int, calls: int) -> list[Result]:
    with dynamodb_local() as dynamodb_url:
        use_dynamodb_local(dynamodb_url)
        fresh_tables(dynamodb_url)
        tenant = seed_tenant_in_process()
        seed_user_record(tenant.project_id)
        grant_credits(tenant.project_id)
        measured = targets(dynamodb_url, tenant)
        for target in measured:
            if not target.answer_is_right(target.call()):
                raise SystemExit(f"bench: {target.name} did not answer as expected")
            time_calls(target.call, WARM_UP_CALLS)
        per_round: dict[str, list[RoundPercentiles]] = {t.name: [] for t in measured}
        for number in range(1, rounds + 1):
            log(f"round {number}/{rounds}, {calls} calls per target ...")
            for target in measured:
                per_round[target.name].append(RoundPercentiles.of(time_calls(target.call, calls)))
        aws = {t.name: count_calls_in_process(t.call, calls) for t in measured}
        stripe = {t.name: count_stripe_calls(t.call, calls) for t in measured}
        with aws_calls() as total:  # every AWS call of one more usage call, by service
            measured[1].call()

    def over_floor(name: str, field: str) -> Figure | None:
        if name == FLOOR:
            return None
        pairs = zip(per_round[name], per_round[FLOOR], strict=True)
        return Figure.of([round(getattr(t, field) / getattr(f, field), 2) for t, f in pairs])

    if any(not operation.startswith("dynamodb.") for operation in total):
        log(f"note: the usage call made AWS calls beyond DynamoDB: {dict(total)}")
    return [
        Result(
            target=t.name,
            latency=Latency.of(per_round[t.name]),
            p50_over_floor=over_floor(t.name, "p50_ms"),
            p99_over_floor=over_floor(t.name, "p99_ms"),
            dynamodb_calls_per_request=aws[t.name],
            stripe_calls_per_request=stripe[t.name],
        )
        for t in measured
    ]


def table(results: list[Result]) -> str:
    lines = [
        f"{'in process':<42} {'p50 ms':>19} {'p99 ms':>19} {'p50 x floor':>17}  "
        "AWS calls/request; Stripe calls/request"
    ]
    for r in results:
        ratio = _figure(r.p50_over_floor) if r.p50_over_floor else ""
        aws = ", ".join(f"{op} {n:g}" for op, n in r.dynamodb_calls_per_request.items())
        stripe = ", ".join(f"{op} {n:g}" for op, n in r.stripe_calls_per_request.items())
        lines.append(
            f"{r.target:<42} {_figure(r.latency.p50_ms, 3):>19} "
            f"{_figure(r.latency.p99_ms, 3):>19} {ratio:>17}  {aws or 'none'}; {stripe or 'none'}"
        )
    return "\n".join(lines)


NOTE = (
    "Latencies in ms per call, in this process against DynamoDB Local on loopback; each figure "
    "is the median (low, high) over the rounds, the ratio taken per round against the floor "
    "measured in the same round. The floor is one raw conditional UpdateItem (boto3, client "
    "made once); the usage call is a consistent BatchGetItem (record, counters, the key's "
    "record) and one TransactWriteItems (the counter's conditional UpdateItem and the usage "
    "record's conditional PutItem), the same two calls raw beside it, and the transaction "
    "alone raw (what any design keeping a record per key must pay). DynamoDB Local's "
    "figures, not DynamoDB's: a transaction costs twice the write units of its items there."
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_RUNS", "5")))
    parser.add_argument("--calls", type=int, default=300, help="per target and round")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    results = measure(args.rounds, args.calls)
    elapsed = time.perf_counter() - began
    write_results(
        "usage",
        {
            "rounds": args.rounds,
            "calls_per_round": args.calls,
            "runtime_seconds": round(elapsed, 1),
            "note": NOTE,
            "results": [asdict(result) for result in results],
        },
    )
    print(table(results))
    print(f"\n{elapsed:.0f} s in all")


if __name__ == "__main__":
    main()
