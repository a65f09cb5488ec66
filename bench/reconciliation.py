"""Reconciliation at scale: time and memory of a nightly run over N subscriptions.

For each size, the Stripe stand-in (in process, through the real SDK) holds N active
subscriptions, the service's tables live in DynamoDB Local (started here, on a free port) and
already hold every one of them (imported in bulk, as if each webhook had arrived). Then 1% are
cancelled in Stripe with their webhooks lost. Measured, in the same run:

- the floor: paging through every subscription with the same SDK calls and nothing else;
- the nightly run: 99% in sync (one batch read per page), 1% repaired (a transaction each);
- a second run: everything in sync.

A run goes page by page (100 objects) and hands over to a fresh invocation every
``--pages-per-invocation`` pages, as the deployed function does through its queue. Memory is
the peak Python allocation of one invocation above what was allocated when it began
(tracemalloc, on for every figure, the floor included): flat means the same peak per
invocation at 1k as at 100k. Each size is imported once; each of ``--repeats`` rounds drifts
another 1% and gives one figure of each kind, reported as the median (min, max). Sizes from
``--single-run-from`` (100k) run one round without the in-sync run, to keep `make bench`
within its time budget. The figures are read, never asserted.

    python -m bench.reconciliation                      # sizes 1000,10000,100000
    python -m bench.reconciliation --sizes 1000 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from http import HTTPStatus
from typing import Any

from bench.support import Figure, dynamodb_local, fresh_tables, use_dynamodb_local, write_results

BASE = "http://standin.invalid"
PAGE_SIZE = 100
DRIFT_EVERY = 100  # one subscription in this many is cancelled with its webhooks lost


@dataclass(frozen=True)
class SizeResult:
    subscriptions: int
    runs: int
    drifted: int  # cancelled in Stripe, webhooks lost, per run
    floor_seconds: Figure
    nightly_run_seconds: Figure
    in_sync_run_seconds: Figure | None  # not measured at the largest sizes
    invocations: int  # of the nightly run
    floor_peak_kib: float  # one page held, the listing alone
    nightly_peak_kib: float  # the largest invocation of the nightly run
    in_sync_peak_kib: float | None
    repaired: int  # by the nightly run
    in_sync_after: int | None  # the second run
    repaired_after: int | None


def _peak_of(work: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``work``; return its result and its peak allocation above the start, in KiB."""
    start, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    result = work()
    _, peak = tracemalloc.get_traced_memory()
    return result, (peak - start) / 1024


class _Scenario:
    """N subscriptions in the stand-in, all known to the service, 1% of them cancelled in
    Stripe with the webhooks lost."""

    def __init__(self, size: int, pages_per_invocation: int) -> None:
        from billing.adapters.stripe_gateway import build_client
        from billing_devstack.stripe_standin import StripeStandIn
        from billing_devstack.stripe_standin.sdk_client import InProcessHTTPClient

        self.pages_per_invocation = pages_per_invocation
        self.standin = StripeStandIn(base_url=BASE)
        self.standin.register_price("price_bench", 900, "usd", {"interval": "month"})
        self.subscriptions = self.standin.seed_subscriptions(size, "price_bench")
        self.client = build_client("sk_test_bench", BASE, InProcessHTTPClient(self.standin))
        self.pending: list[str] = []

    def listing(self) -> Any:
        from billing.adapters.stripe_listing import StripeListing

        return StripeListing(self.client, 1_000_000.0, sleep=lambda _seconds: None)

    def reader(self) -> Any:
        from billing.adapters.stripe_reader import StripeObjectReader

        return StripeObjectReader(self.client)

    def continue_run(self, run_id: str) -> None:
        """The run queue: the next invocation picks it up."""
        self.pending.append(run_id)

    def pages(self) -> Iterator[tuple[list[dict[str, Any]], float]]:
        """Every page of subscriptions, with the peak KiB of fetching it."""
        pages = self.listing()
        after: str | None = None
        while True:
            page, used = _peak_of(
                partial(pages.page, "subscription", since=0, starting_after=after, limit=PAGE_SIZE)
            )
            yield page.objects, used
            if not page.has_more:
                return
            after = page.objects[-1]["id"]

    def floor(self) -> float:
        """Every page listed and dropped: the least a run must do. Returns the peak KiB."""
        return max(used for _, used in self.pages())

    def import_all(self) -> None:
        """What the webhooks would have stored, written in bulk through the engine's rules."""
        from billing.adapters.dynamo.ledger import fact_item
        from billing.adapters.dynamo.models import EntitlementModel, StripeObjectModel
        from billing.adapters.dynamo.stores import entitlement_record
        from billing.domain.billing_facts import owner_from_metadata, subscription_fact
        from billing.domain.clock import utc_now
        from billing.domain.entitlement_rules import PriceTerms, derive_sources
        from billing.domain.reconciliation import observed_event

        terms, now = {"price_bench": PriceTerms(("pro",), project_id="1")}, utc_now()
        for objects, _ in self.pages():
            with (
                StripeObjectModel.batch_write() as facts,
                EntitlementModel.batch_write() as records,
            ):
                for obj in objects:
                    event = observed_event("subscription", obj, "import")
                    owner = owner_from_metadata(obj.get("metadata"))
                    if event is None or owner is None:
                        raise SystemExit(f"bench: {obj.get('id')} cannot be imported")
                    fact = subscription_fact(event, owner, None)
                    facts.save(fact_item(fact, now))
                    sources = derive_sources([fact], terms, 3).sources
                    record, _ = entitlement_record(owner.project_id, owner.user_id, sources, 0, now)
                    records.save(record)

    def drift(self, round_number: int) -> int:
        """Cancel one subscription in a hundred in Stripe, a different one each round; no
        webhook goes anywhere."""
        cancelled = self.subscriptions[round_number % DRIFT_EVERY :: DRIFT_EVERY]
        for sub_id in cancelled:
            answer = self.standin.handle("POST", f"/_standin/subscriptions/{sub_id}/cancel", {})
            if answer.status != HTTPStatus.OK:
                raise SystemExit(f"bench: cancelling {sub_id}: {answer.body!r}")
        return len(cancelled)

    def run(self) -> tuple[Any, float, int]:
        """One whole run, invocation after invocation: (summary, peak KiB, invocations)."""
        from billing import wiring
        from billing.domain.clock import utc_now
        from billing.services.reconciliation import Budget, continue_run, start_run

        runs = wiring.reconciliation_runs()
        run = start_run(runs, self, trigger="bench", days_back=3, now=utc_now(), from_cursor=False)
        peak, invocations = 0.0, 0
        while self.pending:
            run_id = self.pending.pop()
            invocation = partial(
                continue_run,
                run_id,
                runs=runs,
                pages=self.listing(),
                stripe=self.reader(),
                ledger=wiring.billing_ledger(),
                clock=utc_now,
                budget=Budget(pages=self.pages_per_invocation),
                page_size=PAGE_SIZE,
            )
            done, used = _peak_of(invocation)
            peak, invocations = max(peak, used), invocations + 1
            if done.more:
                self.continue_run(run_id)
        return runs.get(run.run_id), peak, invocations


def _fresh_tables(dynamodb_url: str) -> None:
    from billing import wiring
    from billing.domain.tenancy import Price
    from billing.services import tenancy

    fresh_tables(dynamodb_url)
    tenancy.create_project(
        wiring.project_store(), name="bench", project_id=1, now=datetime.now(UTC)
    )
    wiring.price_store().put(Price("price_bench", "1", ("pro",), 900, "usd", "month"))


def _timed[T](work: Callable[[], T], into: list[float]) -> T:
    started = time.perf_counter()
    result = work()
    into.append(time.perf_counter() - started)
    return result


def _measure(
    size: int, dynamodb_url: str, pages_per_invocation: int, repeats: int, *, in_sync: bool
) -> SizeResult:
    """One scenario per size, imported once; each round drifts another 1% and measures the
    floor, the nightly run and (``in_sync``) a second run with nothing left to repair."""
    floor_times: list[float] = []
    nightly_times: list[float] = []
    sync_times: list[float] = []
    peaks = {"floor": 0.0, "nightly": 0.0, "sync": 0.0}
    scenario = _Scenario(size, pages_per_invocation)
    _fresh_tables(dynamodb_url)
    scenario.import_all()
    second = None
    for round_number in range(repeats):
        drifted = scenario.drift(round_number)
        peaks["floor"] = max(peaks["floor"], _timed(scenario.floor, floor_times))
        nightly, peak, invocations = _timed(scenario.run, nightly_times)
        peaks["nightly"] = max(peaks["nightly"], peak)
        if in_sync:
            second, peak, _ = _timed(scenario.run, sync_times)
            peaks["sync"] = max(peaks["sync"], peak)
    return SizeResult(
        subscriptions=size,
        runs=repeats,
        drifted=drifted,
        floor_seconds=Figure.of(floor_times),
        nightly_run_seconds=Figure.of(nightly_times),
        in_sync_run_seconds=Figure.of(sync_times) if sync_times else None,
        invocations=invocations,
        floor_peak_kib=round(peaks["floor"], 1),
        nightly_peak_kib=round(peaks["nightly"], 1),
        in_sync_peak_kib=round(peaks["sync"], 1) if sync_times else None,
        repaired=nightly.total("repaired"),
        in_sync_after=second.total("in_sync") if second else None,
        repaired_after=second.total("repaired") if second else None,
    )


def _table(results: list[SizeResult]) -> str:
    lines = [
        f"{'subs':>7} {'runs':>4} {'floor s':>9} {'nightly s':>10} {'x floor':>8} "
        f"{'in-sync s':>10} {'x floor':>8} {'inv':>4} {'repaired':>9} {'floor KiB':>10} "
        f"{'nightly KiB':>12} {'in-sync KiB':>12}"
    ]
    for r in results:
        floor = r.floor_seconds.median
        sync = r.in_sync_run_seconds
        sync_cells = (
            f"{sync.median:>10.2f} {sync.median / floor:>8.1f}" if sync else f"{'-':>10} {'-':>8}"
        )
        sync_kib = (
            f"{r.in_sync_peak_kib:>12.0f}" if r.in_sync_peak_kib is not None else f"{'-':>12}"
        )
        lines.append(
            f"{r.subscriptions:>7} {r.runs:>4} {floor:>9.2f} {r.nightly_run_seconds.median:>10.2f} "
            f"{r.nightly_run_seconds.median / floor:>8.1f} {sync_cells} {r.invocations:>4} "
            f"{r.repaired:>9} {r.floor_peak_kib:>10.0f} {r.nightly_peak_kib:>12.0f} {sync_kib}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", default=os.environ.get("BENCH_RECONCILIATION_SIZES", "1000,10000,100000")
    )
    parser.add_argument("--repeats", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    parser.add_argument(
        "--single-run-from",
        type=int,
        default=100_000,
        help="sizes from this one up run once, without the in-sync run (time budget)",
    )
    parser.add_argument("--pages-per-invocation", type=int, default=20)
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    results = []
    with dynamodb_local() as dynamodb_url:
        use_dynamodb_local(dynamodb_url)
        tracemalloc.start()
        for size in sizes:
            print(f"reconciliation over {size} subscriptions ...", file=sys.stderr, flush=True)
            large = size >= args.single_run_from
            results.append(
                _measure(
                    size,
                    dynamodb_url,
                    args.pages_per_invocation,
                    1 if large else args.repeats,
                    in_sync=not large,
                )
            )
    write_results(
        "reconciliation",
        {
            "page_size": PAGE_SIZE,
            "pages_per_invocation": args.pages_per_invocation,
            "repeats": args.repeats,
            "note": "times in seconds (median, min, max), tracemalloc on throughout; memory: "
            "peak KiB of one invocation above its start; DynamoDB Local over loopback, Stripe "
            "the stand-in in process through the SDK; 1 subscription in 100 drifted",
            "results": [asdict(result) for result in results],
        },
    )
    print(_table(results))


if __name__ == "__main__":
    main()
