"""Nightly reconciliation: walk Stripe's lists page by page, compare each object with the
stored fact, and repair drift through the engine's own rules, in the same transaction a
webhook makes (plus an audit entry for each feature whose access the repair changed).

A run is a chain of pages with a checkpoint after each. An invocation works through pages
until its budget is spent, then hands the run to a fresh invocation through the queue: 100k
subscriptions need no long-lived process, and memory holds one page at a time. A page that
cannot be listed (Stripe down past its retries) raises, so the invocation's message is retried
by SQS and then dead-lettered, and the checkpoint keeps everything done before it. An object
that cannot be repaired is recorded as an error and the run goes on; the next run tries it
again, since a repair of something already right changes nothing.

If an invocation dies between a repair's commit and its page's checkpoint, the retried page
finds that object in sync: the repair stands (with its audit entry) but that run's report
does not list it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from billing.domain.billing_facts import Fact, PurchaseFact, SubscriptionFact, subscription_items
from billing.domain.change_log import reconciliation_cause
from billing.domain.entitlement_rules import PriceAnomaly, PriceTerms, price_anomalies
from billing.domain.entitlements import EntitlementSource
from billing.domain.grants import AuditEntry
from billing.domain.reconciliation import (
    READ_KINDS,
    Checkpoint,
    ObjectKind,
    PageOutcome,
    RepairError,
    RepairRecord,
    RunStatus,
    RunSummary,
    Verdict,
    access_changes,
    cursor_after,
    drift,
    keeps,
    listed_since,
    observed_event,
    price_drift,
    repair_audit,
    repair_event,
    repaired,
    window_start,
    zero_counts,
)
from billing.errors import DependencyUnavailableError, NotFoundError
from billing.observability import logger
from billing.ports.ledger import BillingLedger, StripeReader
from billing.ports.reconciliation import ReconciliationRuns, RunQueue, StripeObjectPages
from billing.services.engine import (
    MAX_ATTEMPTS,
    Attempt,
    Outcome,
    Plan,
    facts_shown,
    ledger_change,
)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Budget:
    """How much one invocation may do: pages, and whether time is left for one more."""

    pages: int
    has_time: Callable[[], bool] = lambda: True


@dataclass(frozen=True)
class Invocation:
    """What one invocation did: the run as it left it, whether the run needs another
    invocation, and the counts of its own pages (for metrics)."""

    run: RunSummary
    more: bool
    pages: int
    counts: dict[str, int]


def new_run_id(now: datetime) -> str:
    """Sortable by start, unique: ``run_20261125T030000Z_1a2b3c``."""
    return f"run_{now.strftime('%Y%m%dT%H%M%SZ')}_{secrets.token_hex(3)}"


def start_run(
    runs: ReconciliationRuns,
    queue: RunQueue,
    *,
    trigger: str,
    days_back: int,
    now: datetime,
    from_cursor: bool = True,
) -> RunSummary:
    """Store a new run at its first page and ask for an invocation to work on it. Its window
    starts where the last successful run's began (``from_cursor``), else ``days_back`` ago."""
    last = runs.last_completed() if from_cursor else None
    run = RunSummary(
        run_id=new_run_id(now),
        trigger=trigger,
        started_at=now,
        since=cursor_after(last) if last else window_start(now, days_back),
        status="running",
        checkpoint=Checkpoint(),
        counts=zero_counts(),
    )
    runs.start(run)
    queue.continue_run(run.run_id)
    logger.info(
        "reconciliation run started",
        extra={"run_id": run.run_id, "trigger": trigger, "since": run.since},
    )
    return run


def continue_run(
    run_id: str,
    *,
    runs: ReconciliationRuns,
    pages: StripeObjectPages,
    ledger: BillingLedger,
    clock: Clock,
    budget: Budget,
    page_size: int,
    stripe: StripeReader | None = None,
) -> Invocation:
    """Carry the run on from its checkpoint, page by page, within the budget."""
    run = runs.get(run_id)
    if run is None:
        raise NotFoundError(f"no reconciliation run {run_id}")
    done_here: dict[str, int] = {}
    if run.status != "running":
        return Invocation(run, more=False, pages=0, counts=done_here)  # a duplicate message
    runs.count_invocation(run_id)
    for page_number in range(budget.pages):
        if run.checkpoint.done or not budget.has_time():
            return Invocation(run, not run.checkpoint.done, page_number, done_here)
        moved = _one_page(
            run, runs=runs, pages=pages, ledger=ledger, stripe=stripe, clock=clock, size=page_size
        )
        if moved is None:  # another invocation got there first: it carries the run on
            logger.warning("run moved by another invocation", extra={"run_id": run_id})
            return Invocation(run, more=False, pages=page_number, counts=done_here)
        run, counts = moved
        for key, value in counts.items():
            done_here[key] = done_here.get(key, 0) + value
    return Invocation(run, not run.checkpoint.done, budget.pages, done_here)


def _one_page(
    run: RunSummary,
    *,
    runs: ReconciliationRuns,
    pages: StripeObjectPages,
    ledger: BillingLedger,
    stripe: StripeReader | None,
    clock: Clock,
    size: int,
) -> tuple[RunSummary, dict[str, int]] | None:
    here = run.checkpoint
    observed_at = int(clock().timestamp())
    since = listed_since(here.kind, run.since)
    page = pages.page(here.kind, since=since, starting_after=here.starting_after, limit=size)
    outcome = reconcile_page(
        here.kind,
        page.objects,
        run,
        ledger=ledger,
        stripe=stripe,
        observed_at=observed_at,
        clock=clock,
    )
    last_id = page.objects[-1].get("id") if page.objects else None
    after = here.after_page(last_id if isinstance(last_id, str) else None, page.has_more)
    errors = run.total("error") + len(outcome.errors)
    status: RunStatus = "running"
    if after.done:
        status = "completed_with_errors" if errors else "completed"
    now = clock()
    if not runs.save_page(run, after, outcome, status, now):
        return None
    counts = {k: run.counts.get(k, 0) + outcome.counts.get(k, 0) for k in run.counts}
    moved = replace(
        run,
        checkpoint=after,
        counts=counts,
        status=status,
        finished_at=now if after.done else None,
    )
    logger.info(
        "reconciliation page done",
        extra={
            "run_id": run.run_id,
            "kind": here.kind,
            "page": after.pages,
            "objects": len(page.objects),
            "repaired": len(outcome.repairs),
            "errors": len(outcome.errors),
            "anomalies": len(outcome.anomalies),
        },
    )
    return moved, outcome.counts


def _price_ids(kind: ObjectKind, obj: dict[str, Any]) -> list[str]:
    """The prices an object names (read in one batch per page, to report anomalies)."""
    if kind == "subscription":
        return list(subscription_items(obj)[0])
    metadata = obj.get("metadata")
    found = metadata.get("price_id") if isinstance(metadata, dict) else None
    return [found] if kind == "payment_intent" and isinstance(found, str) else []


def _fact_ids(kind: ObjectKind, obj: dict[str, Any]) -> list[str]:
    """The ids of the facts an object can speak for (read in one batch per page)."""
    if kind in READ_KINDS:
        found = obj.get("payment_intent")
        return [found] if isinstance(found, str) else []
    return [obj["id"]] if isinstance(obj.get("id"), str) else []


def reconcile_page(
    kind: ObjectKind,
    objects: list[dict[str, Any]],
    run: RunSummary,
    *,
    ledger: BillingLedger,
    observed_at: int,
    clock: Clock,
    stripe: StripeReader | None = None,
) -> PageOutcome:
    """Compare and repair every object of one page; one object's failure is recorded and
    the others go on. Prices that grant nothing where they are used are reported."""
    outcome = PageOutcome()
    ids = [i for obj in objects for i in _fact_ids(kind, obj)]
    price_ids = {p for obj in objects for p in _price_ids(kind, obj)}
    read = ledger.read(fact_ids=ids, price_ids=price_ids)
    known: dict[str, Fact | None] = {i: read.facts.get(i) for i in ids}
    prices: dict[str, PriceTerms | None] = {p: read.prices.get(p) for p in price_ids}
    for obj in objects:
        object_id = str(obj.get("id"))
        try:
            verdict, repairs, anomalies = reconcile_object(
                kind,
                obj,
                ledger=ledger,
                stripe=stripe,
                known=known,
                prices=prices,
                unrecorded=read.unrecorded,
                run_id=run.run_id,
                observed_at=observed_at,
                clock=clock,
            )
        except Exception as exc:  # one object must not stop the run; it is reported
            logger.exception("object not reconciled", extra={"kind": kind, "object_id": object_id})
            outcome.errors.append(RepairError(kind, object_id, _message(exc), clock()))
            outcome.count("error", kind)
            continue
        outcome.count(verdict, kind)
        outcome.repairs.extend(repairs)
        outcome.anomalies.extend(anomalies)
    return outcome


def _message(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


_VERDICT_OF_OUTCOME: dict[Outcome, Verdict] = {Outcome.UNMAPPED: "unmapped"}


def _shown(kind: ObjectKind, obj: dict[str, Any], run_id: str, at: Attempt) -> Plan | None:
    """What Stripe says of the facts this object speaks for; None when it says nothing."""
    if kind in READ_KINDS:
        payment_intent = obj.get("payment_intent")
        charge = obj.get("charge")
        return at.read_payment(
            payment_intent if isinstance(payment_intent, str) else None,
            charge if isinstance(charge, str) else None,
        )
    event = observed_event(kind, obj, run_id)
    return facts_shown(event, at) if event is not None else None


def _anomalies(kind: ObjectKind, shown: list[Fact], at: Attempt) -> list[PriceAnomaly]:
    """Prices that grant nothing where they are used; and in the subscriptions listed,
    prices registered with other terms than Stripe bills (their drift)."""
    found: list[PriceAnomaly] = []
    for fact in shown:
        if isinstance(fact, SubscriptionFact | PurchaseFact):
            prices = fact.price_ids if isinstance(fact, SubscriptionFact) else (fact.price_id,)
            terms = at.terms(prices)
            found.extend(price_anomalies(fact, prices, terms))
            if kind == "subscription":
                found.extend(price_drift(fact, terms))
    return found


def reconcile_object(
    kind: ObjectKind,
    obj: dict[str, Any],
    *,
    ledger: BillingLedger,
    known: dict[str, Fact | None],
    run_id: str,
    observed_at: int,
    clock: Clock,
    stripe: StripeReader | None = None,
    prices: dict[str, PriceTerms | None] | None = None,
    unrecorded: Iterable[str] = (),
) -> tuple[Verdict, list[RepairRecord], list[PriceAnomaly]]:
    """Compare one Stripe object with the stored facts; repair what differs. Also the
    prices it names that grant nothing there."""
    for attempt_number in range(MAX_ATTEMPTS):
        attempt = Attempt(
            ledger,
            (lambda: stripe) if stripe is not None else None,
            known=known if attempt_number == 0 else None,
            prices=prices,
            unrecorded=unrecorded if attempt_number == 0 else (),
        )
        shown = _shown(kind, obj, run_id, attempt)
        if shown is None:
            return "skipped", [], []
        if isinstance(shown, Outcome):
            return _VERDICT_OF_OUTCOME.get(shown, "not_ours"), [], []
        anomalies = _anomalies(kind, shown, attempt)
        found: list[tuple[Fact | None, Fact, tuple[str, ...]]] = []
        newer = False
        for observed in (fact for fact in shown if keeps(kind, fact)):
            stored = attempt.fact(observed.stripe_id)
            as_of = observed.version if observed.stripe_id in attempt.read_ids else observed_at
            if stored is not None and stored.version > as_of:
                newer = True  # a webhook brought a state newer than what was read
                continue
            fields = drift(kind, stored, observed)
            if fields:
                found.append((stored, repaired(observed, stored, as_of), fields))
        if not found:
            return ("newer" if newer else "in_sync"), [], anomalies
        now = clock()
        event = observed_event(kind, obj, run_id) or repair_event(kind, obj, run_id)
        change, _ = ledger_change(
            event,
            [after for _, after, _ in found],
            attempt,
            audit=_auditor(kind, str(obj.get("id")), found, run_id, now),
        )
        change = replace(change, cause=reconciliation_cause(run_id, event.event_id))
        if ledger.commit(change, now):
            return (
                "repaired",
                [
                    RepairRecord(
                        kind=kind,
                        object_id=str(obj.get("id")),
                        fact_id=after.stripe_id,
                        project_id=after.owner.project_id,
                        user_id=after.owner.user_id,
                        fields=fields,
                        before=before,
                        after=after,
                        at=now,
                    )
                    for before, after, fields in found
                ],
                anomalies,
            )
    raise DependencyUnavailableError(f"{kind} {obj.get('id')}: concurrent changes, try later")


def _auditor(
    kind: ObjectKind,
    object_id: str,
    found: list[tuple[Fact | None, Fact, tuple[str, ...]]],
    run_id: str,
    now: datetime,
) -> Callable[[list[EntitlementSource], list[EntitlementSource]], list[AuditEntry]]:
    owner = found[0][1].owner
    fields = sorted({name for _, _, names in found for name in names})
    reason = f"reconciliation {run_id}: Stripe's {kind} {object_id} differed ({', '.join(fields)})"

    def entries(
        before: list[EntitlementSource], after: list[EntitlementSource]
    ) -> list[AuditEntry]:
        return [
            repair_audit(
                change,
                project_id=owner.project_id,
                user_id=owner.user_id,
                reason=reason,
                at=now,
            )
            for change in access_changes(before, after)
        ]

    return entries
