"""The engine asks Stripe when a payload cannot decide (DESIGN.md, "When the payload cannot
decide: ask Stripe"): ties, children before parents, refunds and disputes. Stripe is a fake
reader holding the true state (tests/support/fakes.py); the ledger is moto's tables."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from billing import wiring
from billing.adapters.dynamo.models import WebhookEventModel
from billing.domain.tenancy import Price
from billing.errors import PaymentProviderUnavailableError
from billing.services import engine, tenancy
from billing.services.engine import Outcome, Tally
from tests.support import stripe_events as se
from tests.support.stripe_timeline import FakeStripe
from tests.unit.services.test_engine import NOW, PERIOD_END, T0, at, ledger, sub, view, views

__all__ = ["ledger"]  # the fixture, shared with test_engine.py


@pytest.fixture
def stripe() -> FakeStripe:
    return FakeStripe(now=T0 + 1000)


def deliver(
    ledger: Any,
    stripe: FakeStripe,
    event_type: str,
    obj: dict[str, Any],
    created: int,
    *,
    tally: Tally | None = None,
    event_id: str | None = None,
) -> Outcome:
    raw = se.event(event_type, obj, created, event_id=event_id)
    return engine.apply_event(raw, ledger, se.applied_at(created, NOW), lambda: stripe, tally)


def paid_intent(pi_id: str = "pi_1", charge: dict[str, Any] | None = None) -> dict[str, Any]:
    intent = se.payment_intent(pi_id)
    intent.update(status="succeeded", last_payment_error=None)
    intent["latest_charge"] = charge or charge_of(pi_id, refunded=0)
    return intent


def charge_of(pi_id: str, *, refunded: int, disputed: bool = False) -> dict[str, Any]:
    charge = se.charge(pi_id, amount_refunded=refunded)
    charge.update(id=f"ch_{pi_id}", paid=True, disputed=disputed, created=T0)
    return charge


# ---------------------------------------------------------------------- ties on `created`
def test_an_unpaid_subscription_paid_again_is_active_whatever_the_order(
    ledger: Any, stripe: FakeStripe
) -> None:
    """Stripe sends invoice.paid and customer.subscription.updated (active) in one second;
    delivered invoice first, the update used to lose to ``unpaid`` by status rank."""
    deliver(ledger, stripe, "customer.subscription.created", sub(), T0)
    deliver(ledger, stripe, "customer.subscription.updated", sub(status="unpaid"), T0 + 100)
    assert not view("pro", at(T0 + 101)).active
    next_end = PERIOD_END + 30 * 86_400
    stripe.now = T0 + 200
    stripe.put(sub(period_end=next_end))
    paid = deliver(ledger, stripe, "invoice.paid", se.invoice(period_end=next_end), T0 + 200)
    assert paid == Outcome.APPLIED
    assert stripe.calls == ["subscription"]
    update = deliver(ledger, stripe, "customer.subscription.updated", sub(period_end=next_end),
                     T0 + 200)  # fmt: skip
    assert update in (Outcome.UNCHANGED, Outcome.STALE)
    assert view("pro", at(T0 + 300)).active
    assert view("pro", at(T0 + 300)).valid_to == at(next_end)


def test_a_tie_that_says_something_else_is_decided_by_stripe(
    ledger: Any, stripe: FakeStripe
) -> None:
    deliver(ledger, stripe, "customer.subscription.deleted", sub(status="canceled"), T0)
    stripe.now = T0
    stripe.put(sub())  # Stripe: the update came after, it is active
    assert deliver(ledger, stripe, "customer.subscription.updated", sub(), T0) == Outcome.APPLIED
    assert view("pro", at(T0 + 1)).active

    # Another event of that second, saying past_due: Stripe (canceled after all) decides.
    stripe.put(sub(status="canceled"))
    deliver(ledger, stripe, "customer.subscription.updated", sub(status="past_due"), T0)
    ended = view("pro", at(T0 + 6))
    assert (ended.active, ended.reason) == (False, "canceled")
    # A newer payload decides by itself.
    calls = len(stripe.calls)
    deliver(ledger, stripe, "customer.subscription.updated", sub(), T0 + 5)
    assert view("pro", at(T0 + 6)).active
    assert len(stripe.calls) == calls


def test_the_same_second_saying_the_same_asks_nothing(ledger: Any, stripe: FakeStripe) -> None:
    deliver(ledger, stripe, "customer.subscription.created", sub(), T0)
    assert deliver(ledger, stripe, "customer.subscription.updated", sub(), T0) == (
        Outcome.UNCHANGED
    )
    assert stripe.calls == []


# ---------------------------------------------------------------------- children before parents
def test_an_invoice_before_its_subscription_reads_the_subscription_and_keeps_the_payment(
    ledger: Any, stripe: FakeStripe
) -> None:
    stripe.put(sub())
    invoice = se.invoice(period_end=PERIOD_END)
    tally = Tally()
    assert deliver(ledger, stripe, "invoice.payment_succeeded", invoice, T0, tally=tally) == (
        Outcome.APPLIED
    )
    assert (stripe.calls, tally.stripe_reads) == (["subscription"], 1)
    assert view("pro", at(T0 + 10)).active
    payment = wiring.billing_ledger().fact(invoice["id"])
    assert payment is not None and payment.kind == "payment"
    # The subscription's own (older) event is then stale: the read already holds it.
    assert deliver(ledger, stripe, "customer.subscription.created", sub(), T0 - 5) == Outcome.STALE


def test_a_refund_before_its_purchase_is_read_and_the_purchase_stays_refunded(
    ledger: Any, stripe: FakeStripe
) -> None:
    stripe.put(paid_intent(charge=charge_of("pi_1", refunded=4900)))
    refund = charge_of("pi_1", refunded=4900)
    assert deliver(ledger, stripe, "charge.refunded", refund, T0 + 50) == Outcome.APPLIED
    # Older than the read, the success still dates the payment (the read only bounds it).
    assert deliver(ledger, stripe, "payment_intent.succeeded", se.payment_intent(), T0) == (
        Outcome.APPLIED
    )
    assert deliver(ledger, stripe, "checkout.session.completed", se.checkout_session(), T0) == (
        Outcome.STALE
    )
    refunded = view("lifetime", at(T0 + 2000), "purchase")
    assert (refunded.active, refunded.reason, refunded.valid_from) == (False, "refunded", at(T0))


def test_a_refund_of_a_subscription_invoice_is_matched_through_stripes_invoice_payments(
    ledger: Any, stripe: FakeStripe
) -> None:
    deliver(ledger, stripe, "customer.subscription.created", sub(), T0)
    invoice = se.invoice(period_end=PERIOD_END)
    deliver(ledger, stripe, "invoice.paid", invoice, T0 + 1)
    sub_intent = paid_intent("pi_sub", charge_of("pi_sub", refunded=300))
    sub_intent["metadata"] = {}
    paid_by = se.invoice_payment(invoice["id"], "pi_sub", amount=900, paid_at=T0 + 1)
    stripe.put(sub_intent, paid_by, {**invoice, "status": "paid"})
    refund = charge_of("pi_sub", refunded=300)
    assert deliver(ledger, stripe, "charge.refunded", refund, T0 + 60) == Outcome.APPLIED
    payment = wiring.billing_ledger().fact(invoice["id"])
    assert payment is not None and payment.kind == "payment"
    assert (payment.amount_refunded, [amount for _, amount in payment.refunds]) == (300, [300])
    assert view("pro", at(T0 + 2000)).active  # access follows the subscription


# ---------------------------------------------------------------------- refunds as objects
def test_a_full_refund_that_fails_restores_the_purchase(ledger: Any, stripe: FakeStripe) -> None:
    deliver(ledger, stripe, "checkout.session.completed", se.checkout_session(), T0)
    deliver(ledger, stripe, "charge.refunded", charge_of("pi_1", refunded=4900), T0 + 10)
    assert not view("lifetime", at(T0 + 11), "purchase").active
    stripe.put(paid_intent(charge=charge_of("pi_1", refunded=0)))
    failed = se.refund(status="failed", charge_id="ch_pi_1")
    assert deliver(ledger, stripe, "refund.failed", failed, T0 + 500) == Outcome.APPLIED
    assert view("lifetime", at(T0 + 2000), "purchase").active
    purchase = wiring.billing_ledger().fact("pi_1")
    assert purchase is not None and purchase.kind == "purchase"
    assert [amount for _, amount in purchase.refunds] == [4900, -4900]


# ---------------------------------------------------------------------- disputes
def test_a_dispute_suspends_a_purchase_won_restores_it_lost_ends_it(
    ledger: Any, stripe: FakeStripe
) -> None:
    deliver(ledger, stripe, "checkout.session.completed", se.checkout_session(), T0)
    opened = se.dispute(created=T0 + 100)
    stripe.put(paid_intent(charge=charge_of("pi_1", refunded=0, disputed=True)), opened)
    assert deliver(ledger, stripe, "charge.dispute.created", opened, T0 + 100) == Outcome.APPLIED
    suspended = view("lifetime", at(T0 + 2000), "purchase")
    assert (suspended.active, suspended.reason) == (False, "disputed")

    stripe.now = T0 + 3000
    won = se.dispute(created=T0 + 100, status="won")
    stripe.put(won)
    deliver(ledger, stripe, "charge.dispute.closed", won, T0 + 3000)
    assert view("lifetime", at(T0 + 4000), "purchase").active

    stripe.now = T0 + 5000
    second = se.dispute("dp_2", created=T0 + 4500, status="lost")
    stripe.put(second)
    deliver(ledger, stripe, "charge.dispute.closed", second, T0 + 5000)
    lost = view("lifetime", at(T0 + 6000), "purchase")
    assert (lost.active, lost.reason) == (False, "dispute_lost")


def test_an_inquiry_suspends_nothing(ledger: Any, stripe: FakeStripe) -> None:
    deliver(ledger, stripe, "checkout.session.completed", se.checkout_session(), T0)
    inquiry = se.dispute(status="warning_needs_response", created=T0 + 10)
    stripe.put(paid_intent(charge=charge_of("pi_1", refunded=0, disputed=True)), inquiry)
    deliver(ledger, stripe, "charge.dispute.created", inquiry, T0 + 10)
    assert view("lifetime", at(T0 + 2000), "purchase").active


def test_a_dispute_on_a_subscription_invoice_is_recorded_and_access_follows_the_subscription(
    ledger: Any, stripe: FakeStripe
) -> None:
    deliver(ledger, stripe, "customer.subscription.created", sub(), T0)
    invoice = se.invoice(period_end=PERIOD_END)
    deliver(ledger, stripe, "invoice.paid", invoice, T0 + 1)
    sub_intent = paid_intent("pi_sub", charge_of("pi_sub", refunded=0, disputed=True))
    sub_intent["metadata"] = {}
    paid_by = se.invoice_payment(invoice["id"], "pi_sub", amount=900, paid_at=T0 + 1)
    stripe.put(sub_intent, paid_by, {**invoice, "status": "paid"})
    lost = se.dispute(pi_id="pi_sub", status="lost", amount=900, created=T0 + 50)
    stripe.put(lost)
    assert deliver(ledger, stripe, "charge.dispute.closed", lost, T0 + 900) == Outcome.APPLIED
    payment = wiring.billing_ledger().fact(invoice["id"])
    assert payment is not None and payment.kind == "payment"
    assert [(d.dispute_id, d.status, d.amount) for d in payment.disputes] == [("dp_1", "lost", 900)]
    assert view("pro", at(T0 + 2000)).active


# ---------------------------------------------------------------------- free checkouts
def test_a_free_checkout_grants_without_a_payment_intent(ledger: Any, stripe: FakeStripe) -> None:
    session = se.checkout_session(payment_status="no_payment_required", amount=0)
    session["payment_intent"] = None
    assert deliver(ledger, stripe, "checkout.session.completed", session, T0) == Outcome.APPLIED
    free = view("lifetime", at(T0 + 1), "purchase")
    assert (free.active, free.source_id, free.valid_to) == (True, session["id"], None)
    assert stripe.calls == []


def test_an_expired_checkout_is_recorded(ledger: Any, stripe: FakeStripe) -> None:
    expired = se.checkout_session(payment_status="unpaid") | {"status": "expired"}
    outcome = deliver(ledger, stripe, "checkout.session.expired", expired, T0, event_id="evt_exp")
    assert outcome == Outcome.IGNORED
    assert WebhookEventModel.get("evt_exp").outcome == "ignored"
    assert views(at(T0 + 1)) == {}


# ---------------------------------------------------------------------- tenancy of prices
def test_a_price_of_another_project_grants_nothing_and_is_reported(
    ledger: Any, stripe: FakeStripe
) -> None:
    tenancy.create_project(wiring.project_store(), name="other", project_id=2, now=NOW)
    wiring.price_store().put(Price("price_other", "2", ("other_pro",), 900, "usd", "month"))
    tally = Tally()
    switched = sub(prices=("price_pro", "price_other", "price_nowhere"))
    deliver(ledger, stripe, "customer.subscription.updated", switched, T0, tally=tally)
    assert {feature for feature, _ in views(at(T0 + 1))} == {"pro"}
    assert sorted((a.price_id, a.problem, a.registered_to) for a in tally.anomalies) == [
        ("price_nowhere", "unknown", None),
        ("price_other", "foreign", "2"),
    ]


# ---------------------------------------------------------------------- valid_to
def test_valid_to_is_stripes_period_end_and_the_leeway_stays_inside_active(
    ledger: Any, stripe: FakeStripe
) -> None:
    deliver(ledger, stripe, "customer.subscription.created", sub(), T0)
    pro = view("pro", at(PERIOD_END - 1))
    assert (pro.active, pro.valid_to) == (True, at(PERIOD_END))
    assert view("pro", at(PERIOD_END + 3600)).active  # a renewal's webhooks may be late
    assert not view("pro", at(PERIOD_END + 3 * 3600)).active


def test_cancel_at_ends_access_then_and_is_the_valid_to(ledger: Any, stripe: FakeStripe) -> None:
    cancel_at = T0 + 10 * 86_400
    deliver(ledger, stripe, "customer.subscription.updated", sub() | {"cancel_at": cancel_at}, T0)
    pro = view("pro", at(cancel_at - 1))
    assert (pro.active, pro.valid_to) == (True, at(cancel_at))
    assert not view("pro", at(cancel_at)).active


# ---------------------------------------------------------------------- Stripe down
def test_when_stripe_cannot_answer_the_event_is_left_unmarked_for_sqs(
    ledger: Any, stripe: FakeStripe
) -> None:
    stripe.down = True
    with pytest.raises(PaymentProviderUnavailableError):
        deliver(ledger, stripe, "invoice.paid", se.invoice(period_end=PERIOD_END), T0,
                event_id="evt_later")  # fmt: skip
    with pytest.raises(WebhookEventModel.DoesNotExist):
        WebhookEventModel.get("evt_later")
    stripe.down = False
    stripe.put(copy.deepcopy(sub()))
    outcome = deliver(ledger, stripe, "invoice.paid", se.invoice(period_end=PERIOD_END), T0,
                      event_id="evt_later")  # fmt: skip
    assert outcome == Outcome.APPLIED


# ---------------------------------------------------------------------- found with the property
def test_a_delayed_payment_counts_from_its_success_whatever_the_order(
    ledger: Any, stripe: FakeStripe
) -> None:
    """A 7-day pass paid by a delayed method (a bank debit) runs 7 days from the payment's
    success, in any order. Its charge is made when the debit starts (T0), two days before it
    succeeds: a partial refund's ``charge.refunded`` delivered before the success events (or a
    refund or dispute read from Stripe before any purchase event) used to date the payment at
    the charge's ``created``, the success events being stale by then, and the pass ended two
    days early. Found by test_lifecycle_property.py."""
    session = se.checkout_session(payment_status="unpaid", price_id="price_pass", amount=1000)
    deliver(ledger, stripe, "checkout.session.completed", session, T0)
    succeeded = T0 + 2 * 86_400
    partial = charge_of("pi_1", refunded=100) | {"amount": 1000}  # created at T0
    deliver(ledger, stripe, "charge.refunded", partial, succeeded + 100)
    intent = se.payment_intent(price_id="price_pass", amount=1000)
    deliver(ledger, stripe, "payment_intent.succeeded", intent, succeeded)
    paid = session | {"payment_status": "paid"}
    deliver(ledger, stripe, "checkout.session.async_payment_succeeded", paid, succeeded)
    assert view("pass", at(succeeded + 7 * 86_400 - 60), "purchase").active


def test_a_past_due_subscription_read_from_stripe_has_its_grace_from_the_failed_attempt(
    ledger: Any, stripe: FakeStripe
) -> None:
    """The first the service hears of a subscription is its renewal's failure, so it reads it:
    ``past_due``, its current period begun at T0, its latest invoice finalized and charged an
    hour later (Stripe drafts a renewal invoice at the period's start and finalizes it about an
    hour after). The grace period runs from that first attempt, as when the invoice's event is
    applied; the read used to date it from the period's start, an hour early (reconciliation
    applies the same read). Not reachable in test_lifecycle_property.py, whose subscriptions'
    events all arrive within 3 days of their creation: found reading ``subscription_as_read``."""
    renewal = se.invoice(period_end=T0 + 30 * 86_400)
    renewal.update(status="open", attempt_count=1)
    renewal["status_transitions"]["finalized_at"] = T0 + 3600
    past_due = sub(status="past_due", period_end=T0 + 30 * 86_400, start=T0 - 30 * 86_400)
    for item in past_due["items"]["data"]:
        item["current_period_start"] = T0
    stripe.now = T0 + 3700
    stripe.put(past_due | {"latest_invoice": renewal})
    assert deliver(ledger, stripe, "invoice.payment_failed", renewal, T0 + 3600) == (
        Outcome.APPLIED
    )
    assert view("pro", at(T0 + 3600 + 3 * 86_400 - 60)).active  # the default 3 days of grace
    assert not view("pro", at(T0 + 3600 + 3 * 86_400)).active
