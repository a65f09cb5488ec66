"""The status history: every change of a subscription fact appends its state, in the same
transaction as the fact, once, dated when it took effect (billing.domain.status_history).
Also when the engine reads a subscription to know its discounts. moto's tables, the fake
Stripe reader."""

from __future__ import annotations

from typing import Any

import pytest

from billing.adapters.dynamo.ledger import fact_from_json, fact_item, history_entry, history_item
from billing.adapters.dynamo.models import (
    StripeObjectModel,
    SubscriptionHistoryModel,
    WebhookEventModel,
)
from billing.domain.billing_facts import Owner, SubscriptionDiscount, SubscriptionFact
from billing.domain.status_history import BASELINE, StatusEntry
from billing.errors import DependencyUnavailableError
from billing.services import engine
from billing.services.engine import Outcome
from tests.support import stripe_events as se
from tests.support.stripe_timeline import FakeStripe
from tests.unit.services.test_engine import NOW, PERIOD_END, T0, ledger, sub

__all__ = ["ledger"]  # the fixture, shared with test_engine.py


def deliver(
    ledger: Any,
    event_type: str,
    obj: dict[str, Any],
    created: int,
    stripe: FakeStripe | None = None,
    *,
    event_id: str | None = None,
) -> Outcome:
    raw = se.event(event_type, obj, created, event_id=event_id)
    now = se.applied_at(created, NOW)
    return engine.apply_event(raw, ledger, now, (lambda: stripe) if stripe else None)


def history(sub_id: str = "sub_1") -> list[StatusEntry]:
    items = SubscriptionHistoryModel.query("1", SubscriptionHistoryModel.entry.startswith(sub_id))
    return [history_entry(item) for item in items]


def states(sub_id: str = "sub_1") -> list[tuple[int, str]]:
    return [(e.effective_at, e.subscription.status) for e in history(sub_id)]


def stored(sub_id: str = "sub_1") -> SubscriptionFact:
    fact = fact_from_json(StripeObjectModel.get(sub_id).fact)
    assert isinstance(fact, SubscriptionFact)
    return fact


# ---------------------------------------------------------------------- what is appended
def test_each_change_appends_its_state_at_the_events_time_and_nothing_else_does(
    ledger: Any,
) -> None:
    deliver(ledger, "customer.subscription.created", sub(), T0, event_id="evt_created")
    failed = sub(status="past_due")
    assert deliver(ledger, "customer.subscription.updated", failed, T0 + 100) == Outcome.APPLIED
    raw = se.event("customer.subscription.updated", failed, T0 + 100, event_id="evt_twice")
    engine.apply_event(raw, ledger, NOW)
    assert engine.apply_event(raw, ledger, NOW) == Outcome.DUPLICATE
    assert deliver(ledger, "customer.subscription.updated", sub(), T0 + 50) == Outcome.STALE

    assert states() == [(T0, "active"), (T0 + 100, "past_due")]
    assert history()[0].cause == "evt_created"
    assert history()[-1].subscription == stored()


def test_a_payment_appends_nothing_and_a_version_only_change_appends_nothing(
    ledger: Any,
) -> None:
    deliver(ledger, "customer.subscription.created", sub(status="canceled"), T0)
    paid = se.invoice(period_end=PERIOD_END, amount_paid=900)
    assert deliver(ledger, "invoice.paid", paid, T0 + 10) == Outcome.APPLIED
    assert stored().version == T0 + 10, "an ended subscription's version moved, not its state"
    assert states() == [(T0, "canceled")]


def test_an_entry_that_cannot_be_written_leaves_the_fact_and_the_mark_unwritten(
    ledger: Any,
) -> None:
    """Same transaction: the entry's condition (it must not exist) refuses the whole change."""
    deliver(ledger, "customer.subscription.created", sub(), T0)
    before = stored()
    clash = SubscriptionFact(**{**before.__dict__, "version": T0 + 100})
    history_item(StatusEntry(clash, T0 + 100, "evt_clash"), NOW).save()
    with pytest.raises(DependencyUnavailableError):
        deliver(ledger, "customer.subscription.updated", sub(status="past_due"), T0 + 100,
                event_id="evt_clash")  # fmt: skip
    assert stored() == before
    assert WebhookEventModel.count("evt_clash") == 0


def test_a_change_refused_by_a_concurrent_write_appends_no_entry(ledger: Any) -> None:
    """The fact changed between the engine's read and its commit: the commit is refused, the
    event is planned again (now stale) and its state never enters the history."""
    deliver(ledger, "customer.subscription.created", sub(), T0)
    newer = SubscriptionFact(**{**stored().__dict__, "status": "canceled", "version": T0 + 500})

    class RacingLedger:
        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.raced = False

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def commit(self, change: Any, now: Any) -> bool:
            if not self.raced:
                self.raced = True
                fact_item(newer, NOW, recorded=True).save()  # another consumer got there first
            result: bool = self.inner.commit(change, now)
            return result

    racing = RacingLedger(ledger)
    outcome = deliver(racing, "customer.subscription.updated", sub(status="past_due"), T0 + 100,
                      event_id="evt_late")  # fmt: skip
    assert outcome == Outcome.STALE
    assert [e.cause for e in history()] == [history()[0].cause]
    assert all(e.cause != "evt_late" for e in history())


def test_a_fact_stored_before_the_history_gets_its_state_as_a_baseline_entry(
    ledger: Any,
) -> None:
    old = SubscriptionFact(
        "sub_1", Owner("1", "user_42"), "cus_1", "active", ("price_pro",), T0, PERIOD_END,
        False, None, None, T0 + 5,
    )  # fmt: skip
    fact_item(old, NOW).save()  # as the service stored it before this change
    deliver(ledger, "customer.subscription.updated", sub(status="past_due"), T0 + 100,
            event_id="evt_first")  # fmt: skip
    entries = history()
    assert [(e.effective_at, e.cause) for e in entries] == [
        (T0 + 5, BASELINE),
        (T0 + 100, "evt_first"),
    ]
    assert entries[0].subscription == old
    deliver(ledger, "customer.subscription.updated", sub(), T0 + 200)
    assert [e.cause for e in history()].count(BASELINE) == 1


# ---------------------------------------------------------------------- read from Stripe
def test_a_revived_unpaid_subscription_is_active_from_the_payment_not_its_period_start(
    ledger: Any,
) -> None:
    stripe = FakeStripe(now=T0)
    deliver(ledger, "customer.subscription.created", sub(), T0, stripe)
    deliver(ledger, "customer.subscription.updated", sub(status="unpaid"), T0 + 100, stripe)
    stripe.now = T0 + 900
    revived = sub()
    revived["latest_invoice"] = "in_revival"
    invoice = se.invoice(period_end=PERIOD_END)
    invoice.update(id="in_revival", status="paid")
    invoice["status_transitions"]["paid_at"] = T0 + 800
    stripe.put(revived, invoice)
    assert deliver(ledger, "invoice.paid", invoice, T0 + 800, stripe) == Outcome.APPLIED
    assert stripe.calls == ["subscription"]
    assert states() == [(T0, "active"), (T0 + 100, "unpaid"), (T0 + 800, "active")]
    assert history()[-1].version == T0 + 900, "versioned at the read, in force from the payment"


def coupon_and_discount(
    stripe: FakeStripe, discount_id: str, start: int, **terms: Any
) -> dict[str, Any]:
    coupon = se.fixture("coupon")
    coupon.update({"id": f"co_{discount_id}", "percent_off": None, "amount_off": None, **terms})
    discount = se.fixture("discount")
    discount.update(id=discount_id, start=start, end=None,
                    source={"type": "coupon", "coupon": coupon["id"]})  # fmt: skip
    stripe.put(coupon, discount)
    return discount


def test_discount_ids_the_service_does_not_know_make_it_read_the_subscription_once(
    ledger: Any,
) -> None:
    stripe = FakeStripe(now=T0)
    coupon_and_discount(stripe, "di_half", T0, percent_off=50, duration="forever")
    created = sub(discounts=["di_half"])
    stripe.put(created)
    assert deliver(ledger, "customer.subscription.created", created, T0, stripe) == Outcome.APPLIED
    assert stripe.calls == ["subscription"]
    half = SubscriptionDiscount("di_half", "forever", T0, None, "50")
    assert stored().discounts == (half,)
    assert history()[-1].subscription.discounts == (half,)

    deliver(ledger, "customer.subscription.updated", sub(discounts=["di_half"], quantities=(2,)),
            T0 + 100, stripe)  # fmt: skip
    assert stripe.calls == ["subscription"], "the same ids: the payload decides"

    stripe.now = T0 + 200
    coupon_and_discount(stripe, "di_off", T0 + 200, amount_off=300, currency="usd",
                        duration="once")  # fmt: skip
    switched = sub(discounts=["di_off"], quantities=(2,))
    stripe.put(switched)
    deliver(ledger, "customer.subscription.updated", switched, T0 + 200, stripe)
    assert stripe.calls == ["subscription", "subscription"]
    assert stored().discounts == (
        SubscriptionDiscount("di_off", "once", T0 + 200, None, None, 300, "usd"),
    )
    assert [e.effective_at for e in history()] == [T0, T0 + 100, T0 + 200]


def test_a_trial_or_a_stripe_that_cannot_be_asked_reads_nothing(ledger: Any) -> None:
    stripe = FakeStripe(now=T0)
    trial = sub(status="trialing", trial_end=PERIOD_END, discounts=["di_x"])
    deliver(ledger, "customer.subscription.created", trial, T0, stripe)
    assert stripe.calls == []
    assert stored().discounts == (SubscriptionDiscount("di_x"),)
    deliver(ledger, "customer.subscription.updated", sub(discounts=["di_x"]), T0 + 10)
    assert stored().status == "active", "without a reader the payload applies"
    assert stored().discounts == (SubscriptionDiscount("di_x"),)
