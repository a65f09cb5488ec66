"""The entitlement engine on moto tables, with events built from Stripe's fixtures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing import wiring
from billing.adapters.dynamo.models import EntitlementModel, WebhookEventModel
from billing.domain.entitlements import EntitlementView
from billing.domain.tenancy import Price
from billing.services import engine, tenancy
from billing.services.engine import Outcome
from billing.services.entitlements import read_entitlements
from tests.support import stripe_events as se

T0 = 1_790_000_000  # event times (epoch seconds)
PERIOD_END = T0 + 30 * 86_400
NOW = datetime.fromtimestamp(T0 + 60, UTC)


@pytest.fixture
def ledger(aws: dict[str, str]) -> Any:
    projects, prices = wiring.project_store(), wiring.price_store()
    tenancy.create_project(projects, name="space_journal", project_id=1, now=NOW)
    prices.put(Price("price_pro", "1", ("pro",), 900, "usd", "month"))
    prices.put(Price("price_export", "1", ("export",), 300, "usd", "month"))
    prices.put(Price("price_life", "1", ("lifetime",), 4900, "usd", "one_time"))
    prices.put(Price("price_pass", "1", ("pass",), 1000, "usd", "one_time", access_days=7))
    return wiring.billing_ledger()


def sub(sub_id: str = "sub_1", **fields: Any) -> dict[str, Any]:
    """A subscription of user_42 whose current period ends at PERIOD_END."""
    return se.subscription(sub_id, **{"period_end": PERIOD_END, **fields})


def apply(ledger: Any, event_type: str, obj: dict[str, Any], created: int, **kw: Any) -> Outcome:
    raw = se.event(event_type, obj, created, **kw)
    return engine.apply_event(raw, ledger, se.applied_at(created, NOW))


def views(at: datetime) -> dict[tuple[str, str], EntitlementView]:
    found = read_entitlements(wiring.entitlement_store(), "1", "user_42", at)
    return {(v.feature_code, v.source): v for v in found}


def view(feature: str, at: datetime, source: str = "subscription") -> EntitlementView:
    return views(at)[(feature, source)]


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def test_a_new_subscription_grants_its_feature_until_the_period_end(ledger: Any) -> None:
    assert apply(ledger, "customer.subscription.created", sub(), T0) == Outcome.APPLIED
    pro = view("pro", at(T0 + 60))
    assert pro.active
    assert pro.source_id == "sub_1"
    assert pro.valid_to is not None and pro.valid_to >= at(PERIOD_END)
    assert not view("pro", at(PERIOD_END + 3 * 3600)).active


def test_the_same_event_twice_changes_nothing_the_second_time(ledger: Any) -> None:
    raw = se.event("customer.subscription.created", sub(), T0)
    assert engine.apply_event(raw, ledger, NOW) == Outcome.APPLIED
    version = EntitlementModel.get("1#user_42").version
    assert engine.apply_event(raw, ledger, NOW) == Outcome.DUPLICATE
    assert EntitlementModel.get("1#user_42").version == version


def test_deleted_arriving_before_an_older_updated_keeps_the_cancellation(ledger: Any) -> None:
    apply(ledger, "customer.subscription.created", sub(), T0)
    apply(ledger, "customer.subscription.deleted", sub(status="canceled"), T0 + 20)
    late = apply(ledger, "customer.subscription.updated", sub(), T0 + 10)
    assert late == Outcome.STALE
    pro = view("pro", at(T0 + 60))
    assert (pro.active, pro.reason) == (False, "canceled")


def test_on_a_tie_without_stripe_to_ask_the_stored_state_stays(ledger: Any) -> None:
    """Without Stripe (reconciliation of an object that cannot be read), a tie is not guessed:
    test_engine_truth.py shows the consumer asking Stripe instead."""
    apply(ledger, "customer.subscription.deleted", sub(status="canceled"), T0)
    assert apply(ledger, "customer.subscription.updated", sub(), T0) == Outcome.STALE
    assert not view("pro", at(T0)).active


def test_past_due_keeps_access_for_the_grace_period_then_not(ledger: Any) -> None:
    apply(ledger, "customer.subscription.created", sub(), T0)
    failed = T0 + 100
    apply(ledger, "invoice.payment_failed", se.invoice(period_end=PERIOD_END), failed)
    apply(ledger, "customer.subscription.updated", sub(status="past_due"), failed + 1)
    assert view("pro", at(failed + 2 * 86_400)).active  # inside the 3-day grace
    lapsed = view("pro", at(failed + 3 * 86_400 + 1))
    assert (lapsed.active, lapsed.reason) == (False, "past_due_grace_expired")
    # valid_to stays Stripe's period end (issue #18): the grace changes active only.
    assert view("pro", at(failed + 60)).valid_to == at(PERIOD_END)
    assert lapsed.valid_to == at(PERIOD_END)


def test_past_due_with_cancel_at_inside_the_grace_ends_then(ledger: Any) -> None:
    apply(ledger, "customer.subscription.created", sub(), T0)
    cancel_at = T0 + 86_400
    overdue = sub(status="past_due")
    overdue["cancel_at"] = cancel_at
    apply(ledger, "customer.subscription.updated", overdue, T0 + 100)
    assert view("pro", at(cancel_at - 1)).valid_to == at(cancel_at)
    ended = view("pro", at(cancel_at))
    assert (ended.active, ended.reason) == (False, "canceled")


def test_the_projects_grace_period_is_used(ledger: Any) -> None:
    tenancy.update_project(wiring.project_store(), 1, grace_period_days=1, now=NOW)
    apply(ledger, "customer.subscription.created", sub(), T0)
    apply(ledger, "customer.subscription.updated", sub(status="past_due"), T0 + 100)
    assert not view("pro", at(T0 + 100 + 86_400 + 1)).active


def test_a_paid_renewal_extends_and_clears_the_failure(ledger: Any) -> None:
    apply(ledger, "customer.subscription.created", sub(), T0)
    apply(ledger, "invoice.payment_failed", se.invoice(period_end=PERIOD_END), T0 + 100)
    next_end = PERIOD_END + 30 * 86_400
    apply(ledger, "invoice.payment_succeeded", se.invoice(period_end=next_end), T0 + 200)
    assert view("pro", at(PERIOD_END + 86_400)).active
    assert view("pro", at(T0 + 100 + 5 * 86_400)).active  # past the grace: paid now


def test_cancel_at_period_end_keeps_access_until_exactly_the_period_end(ledger: Any) -> None:
    subscription = sub(cancel_at_period_end=True)
    apply(ledger, "customer.subscription.updated", subscription, T0)
    assert view("pro", at(PERIOD_END - 1)).active
    ended = view("pro", at(PERIOD_END))
    assert (ended.active, ended.reason) == (False, "canceled")


def test_a_trial_grants_access_until_the_trial_ends(ledger: Any) -> None:
    trial_end = T0 + 14 * 86_400
    apply(
        ledger,
        "customer.subscription.created",
        sub(status="trialing", trial_end=trial_end),
        T0,
    )
    assert view("pro", at(trial_end - 60)).active
    assert not view("pro", at(trial_end + 3 * 3600)).active


def test_two_prices_grant_two_features(ledger: Any) -> None:
    subscription = sub(prices=("price_pro", "price_export"))
    apply(ledger, "customer.subscription.created", subscription, T0)
    found = views(at(T0 + 60))
    assert found[("pro", "subscription")].active
    assert found[("export", "subscription")].active


def test_older_stripe_shapes_are_read_too(ledger: Any) -> None:
    apply(ledger, "customer.subscription.created", sub(legacy=True), T0)
    assert view("pro", at(PERIOD_END - 60)).active
    next_end = PERIOD_END + 30 * 86_400
    apply(ledger, "invoice.payment_succeeded", se.invoice(period_end=next_end, legacy=True), T0 + 5)
    assert view("pro", at(PERIOD_END + 86_400)).active


def test_a_late_invoice_paid_never_revives_an_ended_subscription(ledger: Any) -> None:
    apply(ledger, "customer.subscription.deleted", sub(status="canceled"), T0)
    apply(ledger, "invoice.paid", se.invoice(period_end=PERIOD_END + 86_400), T0 + 10)
    assert not view("pro", at(T0 + 60)).active


def test_a_one_time_purchase_ends_with_a_full_refund_not_a_partial_one(ledger: Any) -> None:
    session = se.checkout_session()
    assert apply(ledger, "checkout.session.completed", session, T0) == Outcome.APPLIED
    # The same second saying the same thing: nothing to decide.
    assert apply(ledger, "payment_intent.succeeded", se.payment_intent(), T0) == Outcome.UNCHANGED
    lifetime = view("lifetime", at(T0 + 60), "purchase")
    assert (lifetime.active, lifetime.valid_to) == (True, None)
    apply(ledger, "charge.refunded", se.charge(amount_refunded=1000), T0 + 10)
    assert view("lifetime", at(T0 + 60), "purchase").active
    apply(ledger, "charge.refunded", se.charge(amount_refunded=4900), T0 + 20)
    refunded = view("lifetime", at(T0 + 60), "purchase")
    assert (refunded.active, refunded.reason) == (False, "refunded")


def test_a_purchase_with_an_access_duration_expires(ledger: Any) -> None:
    session = se.checkout_session(payment_intent="pi_pass", price_id="price_pass", amount=1000)
    apply(ledger, "checkout.session.completed", session, T0)
    assert view("pass", at(T0 + 6 * 86_400), "purchase").active
    assert not view("pass", at(T0 + 7 * 86_400), "purchase").active


def test_a_failed_payment_grants_nothing(ledger: Any) -> None:
    apply(ledger, "payment_intent.payment_failed", se.payment_intent("pi_2"), T0)
    failed = view("lifetime", at(T0), "purchase")
    assert (failed.active, failed.reason) == (False, "payment_failed")


def test_a_subscriptions_own_payment_intent_is_not_a_purchase(ledger: Any) -> None:
    outcome = apply(ledger, "payment_intent.succeeded", se.payment_intent(price_id=None), T0)
    assert outcome == Outcome.IGNORED


def test_an_event_of_no_known_user_is_recorded_for_reconciliation(ledger: Any) -> None:
    orphan = sub("sub_orphan", metadata={}, customer="cus_unknown")
    outcome = apply(ledger, "customer.subscription.created", orphan, T0, event_id="evt_orphan")
    assert outcome == Outcome.UNMAPPED
    mark = WebhookEventModel.get("evt_orphan")
    assert (mark.outcome, mark.stripe_object_id) == ("unmapped", "sub_orphan")


def test_the_customer_mapping_finds_the_user_when_metadata_is_missing(ledger: Any) -> None:
    wiring.customer_store().remember("1", "user_42", "usd", "cus_known", NOW)
    subscription = sub(metadata={}, customer="cus_known")
    assert apply(ledger, "customer.subscription.created", subscription, T0) == Outcome.APPLIED
    assert view("pro", at(T0 + 60)).active


def test_unhandled_types_are_acknowledged_and_recorded(ledger: Any) -> None:
    outcome = apply(ledger, "customer.created", {"id": "cus_9"}, T0, event_id="evt_other")
    assert outcome == Outcome.UNHANDLED
    assert WebhookEventModel.get("evt_other").outcome == "unhandled"


def test_a_concurrent_change_is_planned_again_from_fresh_reads(
    ledger: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = ledger.commit
    attempts: list[Any] = []

    def commit_refused_once(change: Any, now: datetime) -> bool:
        attempts.append(change)
        return len(attempts) > 1 and bool(commit(change, now))

    monkeypatch.setattr(ledger, "commit", commit_refused_once)
    assert apply(ledger, "customer.subscription.created", sub(), T0) == Outcome.APPLIED
    assert len(attempts) == 2
    assert view("pro", at(T0 + 60)).active


def test_manual_grants_survive_billing_events(ledger: Any) -> None:
    from billing.adapters.dynamo.models import EntitlementSourceAttribute

    EntitlementModel(
        "1#user_42",
        project_id="1",
        user_id="user_42",
        sources=[
            EntitlementSourceAttribute(  # type: ignore[no-untyped-call]
                feature_code="beta",
                source="manual",
                source_id="grant_1",
                valid_from=NOW - timedelta(days=1),
                in_force=True,
            )
        ],
        version=1,
    ).save()
    apply(ledger, "customer.subscription.created", sub(), T0)
    found = views(at(T0 + 60))
    assert found[("beta", "manual")].active
    assert found[("pro", "subscription")].active


def test_a_subscription_checkout_is_followed_through_the_subscriptions_events(
    ledger: Any,
) -> None:
    session = se.checkout_session(mode="subscription")
    assert apply(ledger, "checkout.session.completed", session, T0) == Outcome.IGNORED


def test_a_delayed_payment_grants_when_it_succeeds_and_not_when_it_fails(ledger: Any) -> None:
    pending = se.checkout_session(payment_intent="pi_async", payment_status="unpaid")
    assert apply(ledger, "checkout.session.completed", pending, T0) == Outcome.APPLIED
    waiting = view("lifetime", at(T0 + 1), "purchase")
    assert (waiting.active, waiting.reason) == (False, "payment_pending")
    paid = se.checkout_session(payment_intent="pi_async")
    apply(ledger, "checkout.session.async_payment_succeeded", paid, T0 + 10)
    assert view("lifetime", at(T0 + 11), "purchase").active

    other = se.checkout_session(payment_intent="pi_async2", payment_status="unpaid")
    apply(ledger, "checkout.session.completed", other, T0)
    apply(ledger, "checkout.session.async_payment_failed", other, T0 + 10)
    found = {
        v.source_id: (v.active, v.reason)
        for v in read_entitlements(wiring.entitlement_store(), "1", "user_42", at(T0 + 11))
    }
    assert found == {"pi_async": (True, None), "pi_async2": (False, "payment_failed")}


def test_a_paused_subscription_grants_nothing_until_resumed(ledger: Any) -> None:
    apply(ledger, "customer.subscription.paused", sub(status="paused"), T0)
    paused = view("pro", at(T0 + 1))
    assert (paused.active, paused.reason) == (False, "paused")
    apply(ledger, "customer.subscription.resumed", sub(), T0 + 10)
    assert view("pro", at(T0 + 11)).active


def test_an_applied_event_costs_one_read_and_one_write_and_a_duplicate_one_read(
    ledger: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.client

    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]

    def counting(self: Any, operation: str, params: Any) -> Any:
        calls.append(operation)
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    raw = se.event("customer.subscription.created", sub(), T0)
    assert engine.apply_event(raw, ledger, NOW) == Outcome.APPLIED
    assert calls == [
        # the processed mark, the fact, the record, the project's grace period, the prices
        "BatchGetItem",
        "TransactWriteItems",  # mark + fact + record
    ]
    calls.clear()
    assert engine.apply_event(raw, ledger, NOW) == Outcome.DUPLICATE
    assert calls == ["BatchGetItem"]


def test_a_paid_renewal_delivered_before_the_trial_end_update_ends_the_trial(ledger: Any) -> None:
    """Found by test_lifecycle_property: the trial's end (updated, active) loses to the newer
    invoice.paid when delivered after it, and access ended at the trial's end."""
    trial_end = T0 + 14 * 86_400
    trialing = sub(status="trialing", trial_end=trial_end, period_end=trial_end)
    apply(ledger, "customer.subscription.created", trialing, T0)
    next_end = trial_end + 30 * 86_400
    paid = se.invoice(period_end=next_end)
    assert apply(ledger, "invoice.paid", paid, trial_end + 3600) == Outcome.APPLIED
    active = sub(period_end=next_end)
    assert apply(ledger, "customer.subscription.updated", active, trial_end) == Outcome.STALE
    assert view("pro", at(trial_end + 5 * 86_400)).active
    assert not view("pro", at(next_end + 3 * 3600)).active


def test_a_trials_zero_invoice_keeps_it_a_trial(ledger: Any) -> None:
    trial_end = T0 + 14 * 86_400
    trialing = sub(status="trialing", trial_end=trial_end, period_end=trial_end)
    apply(ledger, "customer.subscription.created", trialing, T0)
    apply(ledger, "invoice.paid", se.invoice(period_end=trial_end, amount_paid=0), T0 + 1)
    assert not view("pro", at(trial_end + 3 * 3600)).active


def test_a_refund_delivered_before_the_delayed_payment_succeeded_keeps_the_purchase(
    ledger: Any,
) -> None:
    """Found by test_lifecycle_property: a partial refund of a delayed payment, delivered
    before the payment's own events, left the purchase pending (those events were stale)."""
    session = se.checkout_session(payment_status="unpaid")
    apply(ledger, "checkout.session.completed", session, T0)
    refund = se.charge(amount_refunded=1000)
    refund["created"] = T0 + 100
    assert apply(ledger, "charge.refunded", refund, T0 + 200) == Outcome.APPLIED
    # Stale for everything else, the success still dates the payment: the refund only said
    # it was paid by then.
    assert apply(ledger, "payment_intent.succeeded", se.payment_intent(), T0 + 100) == (
        Outcome.APPLIED
    )
    lifetime = view("lifetime", at(T0 + 300), "purchase")
    assert (lifetime.active, lifetime.valid_from) == (True, at(T0 + 100))
    apply(ledger, "charge.refunded", se.charge(amount_refunded=4900), T0 + 300)
    assert not view("lifetime", at(T0 + 400), "purchase").active


def test_a_retrys_failure_delivered_first_dates_the_grace_from_the_first_attempt(
    ledger: Any,
) -> None:
    """Found by test_lifecycle_property: the first failure's event, delivered after the
    retry's, is stale; the grace period ran from the retry, a day too long. The invoice's
    finalization (its first collection attempt) dates it instead."""
    apply(ledger, "customer.subscription.created", sub(period_end=T0 + 30 * 86_400), T0)
    first_attempt = T0 + 30 * 86_400 + 3600
    retry = se.invoice(period_end=T0 + 60 * 86_400)
    retry.update(status="open", attempt_count=2)
    retry["status_transitions"]["finalized_at"] = first_attempt
    assert apply(ledger, "invoice.payment_failed", retry, first_attempt + 86_400) == (
        Outcome.APPLIED
    )
    grace_end = first_attempt + 3 * 86_400
    assert view("pro", at(grace_end - 60)).active
    assert not view("pro", at(grace_end + 60)).active


def test_an_incomplete_subscriptions_first_invoice_paid_starts_it_whatever_the_order(
    ledger: Any,
) -> None:
    """Seen in the webhook benchmark: the update to ``active`` is a second older than the first
    invoice's ``invoice.paid``; delivered after it, it is stale, and the subscription stayed
    ``incomplete`` (no access) until reconciliation."""
    period_end = T0 + 30 * 86_400
    apply(
        ledger, "customer.subscription.created", sub(status="incomplete", period_end=period_end), T0
    )
    assert not view("pro", at(T0 + 10)).active
    assert apply(ledger, "invoice.paid", se.invoice(period_end=period_end), T0 + 61) == (
        Outcome.APPLIED
    )
    late_update = sub(period_end=period_end)
    assert apply(ledger, "customer.subscription.updated", late_update, T0 + 60) == Outcome.STALE
    assert view("pro", at(T0 + 120)).active
