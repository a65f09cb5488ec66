"""Reconciliation's rules without AWS: which event an object becomes, what counts as drift."""

from __future__ import annotations

from dataclasses import replace

from billing.domain.billing_facts import Owner, PaymentFact, PurchaseFact, SubscriptionFact
from billing.domain.clock import from_epoch
from billing.domain.entitlements import EntitlementSource
from billing.domain.reconciliation import (
    KINDS,
    Checkpoint,
    access_changes,
    cursor_after,
    drift,
    listed_since,
    observed_event,
    repair_event,
    repaired,
)
from tests.support import stripe_events as se

OWNER = Owner("1", "user_42")
T0 = 1_790_000_000


def subscription_fact(**changes: object) -> SubscriptionFact:
    fact = SubscriptionFact(
        stripe_id="sub_1",
        owner=OWNER,
        customer_id="cus_1",
        status="active",
        price_ids=("price_pro",),
        started_at=T0,
        period_end=T0 + 30 * 86_400,
        cancel_at_period_end=False,
        trial_end=None,
        payment_failed_at=None,
        version=T0,
        quantities=(1,),
    )
    return replace(fact, **changes)  # type: ignore[arg-type]


def purchase(**changes: object) -> PurchaseFact:
    fact = PurchaseFact("pi_1", OWNER, "cus_1", "price_life", 4900, "usd", "paid", T0, T0)
    return replace(fact, **changes)  # type: ignore[arg-type]


def test_a_checkpoint_walks_each_kind_to_its_end_then_the_next() -> None:
    here = Checkpoint()
    assert here.kind == "subscription"
    here = here.after_page("sub_9", has_more=True)
    assert (here.kind, here.starting_after, here.pages) == ("subscription", "sub_9", 1)
    for _ in KINDS:
        here = here.after_page("x", has_more=False)
    assert here.done
    assert here.pages == 1 + len(KINDS)


def test_a_cancelled_subscription_becomes_an_update_dated_when_it_ended() -> None:
    sub = se.subscription(status="canceled", start=T0)
    sub.update(ended_at=T0 + 500, canceled_at=T0 + 400)
    event = observed_event("subscription", sub, "run_1")
    assert event is not None
    assert (event.event_type, event.created) == ("customer.subscription.updated", T0 + 500)
    assert event.event_id == "evt_reconcile_run_1_sub_1"


def test_a_live_subscription_is_dated_at_its_current_period_start() -> None:
    event = observed_event("subscription", se.subscription(start=T0), "run_1")
    assert event is not None and event.created == T0


def test_only_what_the_service_keeps_becomes_an_event() -> None:
    unpaid = se.invoice(period_end=T0) | {"status": "open"}
    processing = se.payment_intent("pi_1") | {"status": "processing"}
    assert observed_event("invoice", unpaid, "r") is None
    assert observed_event("payment_intent", processing, "r") is None


def test_refunds_and_disputes_become_no_event_their_payment_is_read_instead() -> None:
    refund = {"id": "re_1", "status": "succeeded", "created": T0, "payment_intent": "pi_1"}
    assert observed_event("refund", refund, "r") is None
    assert observed_event("dispute", {"id": "dp_1", "payment_intent": "pi_1"}, "r") is None
    mark = repair_event("refund", refund, "run_1")
    assert (mark.event_id, mark.created) == ("evt_reconcile_run_1_re_1", T0)


def test_a_paid_invoice_is_dated_when_it_was_paid() -> None:
    invoice = se.invoice(period_end=T0) | {
        "status": "paid",
        "status_transitions": {"paid_at": T0 + 9},
    }
    event = observed_event("invoice", invoice, "r")
    assert event is not None and (event.event_type, event.created) == ("invoice.paid", T0 + 9)


def test_drift_names_the_fields_that_differ_and_missing_when_nothing_is_stored() -> None:
    stored = subscription_fact()
    assert drift("subscription", stored, replace(stored, version=T0 + 99)) == ()
    assert drift("subscription", stored, replace(stored, status="canceled", ended_at=T0)) == (
        "status",
        "ended_at",
    )
    assert drift("subscription", None, stored) == ("missing",)


def test_an_intent_compares_the_payment_not_the_refunds_it_cannot_know() -> None:
    refunded = purchase(amount_refunded=4900)
    from_intent = purchase()
    assert drift("payment_intent", refunded, from_intent) == ()
    assert drift("payment_intent", purchase(payment="pending"), from_intent) == ("payment",)
    assert drift("refund", refunded, from_intent) == ("amount_refunded",)


def test_an_invoice_speaks_for_its_payment_not_for_the_refunds_charges_know() -> None:
    stored = PaymentFact(
        "in_1", OWNER, "sub_1", 900, "usd", T0, T0, amount_refunded=300, refunds=((T0 + 5, 300),)
    )
    observed = PaymentFact("in_1", OWNER, "sub_1", 900, "usd", T0, T0)
    assert drift("invoice", stored, observed) == ()
    kept = repaired(replace(observed, amount=1000), stored, T0 + 50)
    assert isinstance(kept, PaymentFact)
    assert (kept.amount, kept.amount_refunded, kept.refunds) == (1000, 300, ((T0 + 5, 300),))


def test_a_repaired_fact_keeps_its_owner_and_is_versioned_at_the_observation() -> None:
    stored = subscription_fact()
    observed = replace(stored, owner=Owner("1", "someone_else"), status="canceled", version=T0 + 5)
    fixed = repaired(observed, stored, T0 + 100)
    assert (fixed.owner, fixed.version) == (OWNER, T0 + 100)


def test_the_window_starts_before_the_last_successful_run_and_disputes_go_further_back() -> None:
    from billing.domain.reconciliation import RunSummary, zero_counts

    last = RunSummary("run_1", "schedule", from_epoch(T0), T0 - 86_400, "completed",
                      Checkpoint(), zero_counts())  # fmt: skip
    since = cursor_after(last)
    assert T0 - 3600 < since < T0
    assert listed_since("invoice", since) == since
    assert listed_since("dispute", since) == since - 120 * 86_400


def test_access_changes_list_each_billing_source_that_moved_and_ignore_manual_ones() -> None:
    def source(in_force: bool, kind: str = "subscription") -> EntitlementSource:
        return EntitlementSource("pro", kind, "sub_1", from_epoch(T0), None, in_force)  # type: ignore[arg-type]

    manual = EntitlementSource("beta", "manual", "grant_1", from_epoch(T0), None)
    changes = access_changes([source(True), manual], [source(False), manual])
    assert changes == [("pro", source(True), source(False))]
    assert access_changes([source(True)], [source(True)]) == []
