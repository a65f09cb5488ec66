"""Reconciliation on moto tables against the Stripe stand-in in process (real SDK, no sockets).

Webhooks from the stand-in go straight into the engine, unless a test drops them: then Stripe
and the service disagree, and a run must find it, repair it, report it and audit it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from billing import wiring
from billing.adapters.dynamo.ledger import history_entry
from billing.adapters.dynamo.models import SubscriptionHistoryModel
from billing.adapters.stripe_gateway import StripePaymentGateway, build_client
from billing.adapters.stripe_listing import StripeListing
from billing.adapters.stripe_reader import StripeObjectReader
from billing.domain.billing_facts import PaymentFact, PurchaseFact, SubscriptionFact
from billing.domain.checkout import CheckoutMode, CheckoutRequest
from billing.domain.clock import utc_now
from billing.domain.mrr import timeline_of
from billing.domain.reconciliation import RunSummary
from billing.domain.tenancy import Price
from billing.services import engine, tenancy
from billing.services.entitlements import read_entitlements
from billing.services.reconciliation import Budget, Invocation, continue_run, start_run
from billing_devstack.stripe_standin import StripeStandIn, WebhookSender
from billing_devstack.stripe_standin.sdk_client import InProcessHTTPClient

BASE = "http://standin.invalid"


@dataclass
class RecordingQueue:
    """The run queue: what a real one would hand to the next invocation."""

    run_ids: list[str] = field(default_factory=list)

    def continue_run(self, run_id: str) -> None:
        self.run_ids.append(run_id)


@dataclass
class World:
    standin: StripeStandIn
    gateway: StripePaymentGateway
    queue: RecordingQueue
    delivering: list[bool]  # [True]: webhooks reach the engine; [False]: they are lost

    def drop_webhooks(self) -> None:
        self.delivering[0] = False

    def deliver_webhooks(self) -> None:
        self.delivering[0] = True

    def listing(self) -> StripeListing:
        client = build_client("sk_test_unit", BASE, InProcessHTTPClient(self.standin))
        return StripeListing(client, 1000.0, sleep=lambda _seconds: None)

    def reader(self) -> StripeObjectReader:
        return stripe_reader(self.standin)

    def buy(
        self, user_id: str, price_id: str, mode: CheckoutMode = "subscription"
    ) -> dict[str, Any]:
        """The service's own checkout calls, then the customer pays."""
        customer = self.gateway.create_customer("1", user_id, "usd", f"cus-{user_id}-{price_id}")
        request = CheckoutRequest(
            "1",
            user_id,
            price_id,
            mode,
            "https://app.test/ok",
            "https://app.test/no",
        )
        session = self.gateway.create_checkout_session(
            request, customer, f"cs-{user_id}-{price_id}"
        )
        paid = self.standin.pay_checkout(session.session_id)
        self._drain()
        return paid

    def control(self, path: str, body: bytes = b"{}") -> dict[str, Any]:
        import json

        response = self.standin.handle("POST", path, {"Content-Type": "application/json"}, body)
        assert response.status == 200, response.body
        self._drain()
        answer: dict[str, Any] = json.loads(response.body)
        return answer

    def _drain(self) -> None:
        sender = self.standin.events.sender
        assert sender is not None
        sender.drain()

    def run(
        self, *, page_size: int = 100, pages_per_invocation: int = 100, from_cursor: bool = False
    ) -> RunSummary:
        """One whole run, invocation after invocation, as the queue would drive it."""
        runs = wiring.reconciliation_runs()
        run = start_run(
            runs,
            self.queue,
            trigger="test",
            days_back=3,
            now=utc_now(),
            from_cursor=from_cursor,
        )
        while self.queue.run_ids:
            done = self.invoke(self.queue.run_ids.pop(0), page_size, pages_per_invocation)
            if done.more:
                self.queue.continue_run(done.run.run_id)
        finished = runs.get(run.run_id)
        assert finished is not None
        return finished

    def invoke(self, run_id: str, page_size: int, pages: int) -> Invocation:
        return continue_run(
            run_id,
            runs=wiring.reconciliation_runs(),
            pages=self.listing(),
            ledger=wiring.billing_ledger(),
            clock=utc_now,
            budget=Budget(pages=pages),
            page_size=page_size,
            stripe=self.reader(),
        )


@pytest.fixture
def world(aws: dict[str, str]) -> Iterator[World]:
    now = datetime.now(UTC)
    tenancy.create_project(wiring.project_store(), name="space_journal", project_id=1, now=now)
    prices = wiring.price_store()
    prices.put(Price("price_pro", "1", ("pro",), 900, "usd", "month"))
    prices.put(Price("price_life", "1", ("lifetime",), 4900, "usd", "one_time"))
    delivering = [True]

    def deliver(url: str, body: bytes, headers: Any, timeout: float) -> int:
        if delivering[0]:
            reader = stripe_reader(standin)
            engine.apply_event(body.decode(), wiring.billing_ledger(), utc_now(), lambda: reader)
        return 200

    sender = WebhookSender(f"{BASE}/hook", ["whsec_unit"], transport=deliver)
    standin = StripeStandIn(base_url=BASE, webhooks=sender)
    standin.register_price("price_pro", 900, "usd", {"interval": "month"})
    standin.register_price("price_life", 4900, "usd", None)
    gateway = StripePaymentGateway(build_client("sk_test_unit", BASE, InProcessHTTPClient(standin)))
    yield World(standin, gateway, RecordingQueue(), delivering)


def stripe_reader(standin: StripeStandIn) -> StripeObjectReader:
    """The engine's and reconciliation's reader, on the stand-in in process."""
    return StripeObjectReader(build_client("sk_test_unit", BASE, InProcessHTTPClient(standin)))


def active(user_id: str, feature: str) -> bool:
    views = read_entitlements(wiring.entitlement_store(), "1", user_id, utc_now())
    return any(v.feature_code == feature and v.active for v in views)


def test_a_cancellation_whose_webhook_was_lost_is_repaired_reported_and_audited(
    world: World,
) -> None:
    paid = world.buy("user_42", "price_pro")
    assert active("user_42", "pro")
    world.drop_webhooks()
    world.control(f"/_standin/subscriptions/{paid['subscription']}/cancel")
    assert active("user_42", "pro"), "the lost webhook left access on"

    run = world.run()

    assert run.status == "completed"
    assert run.counts["repaired_subscription"] == 1
    assert not active("user_42", "pro")
    (repair,) = wiring.reconciliation_runs().repairs(run.run_id)
    assert (repair.kind, repair.object_id, repair.user_id) == (
        "subscription",
        paid["subscription"],
        "user_42",
    )
    assert "status" in repair.fields
    assert isinstance(repair.before, SubscriptionFact)
    assert isinstance(repair.after, SubscriptionFact)
    assert (repair.before.status, repair.after.status) == ("active", "canceled")
    audit, _ = wiring.grant_store().audit("1", "user_42", 10, None)
    assert [(e["action"], e["feature_code"], e["actor"]) for e in audit] == [
        ("reconcile", "pro", "reconciliation")
    ]
    assert audit[0]["before"]["in_force"] is True
    assert audit[0]["after"]["in_force"] is False
    assert run.run_id in audit[0]["reason"]


def test_a_repair_appends_the_repaired_state_to_the_status_history(world: World) -> None:
    paid = world.buy("user_42", "price_pro")
    world.drop_webhooks()
    ended = world.control(f"/_standin/subscriptions/{paid['subscription']}/cancel")
    run = world.run()
    listed = SubscriptionHistoryModel.query(
        "1", SubscriptionHistoryModel.entry.startswith(paid["subscription"])
    )
    entries = timeline_of(history_entry(item) for item in listed)
    assert [e.subscription.status for e in entries] == ["active", "canceled"]
    repaired = entries[-1]
    assert repaired.cause == f"evt_reconcile_{run.run_id}_{paid['subscription']}"
    assert repaired.effective_at == ended["ended_at"], "in force from when Stripe ended it"
    assert repaired.version >= repaired.effective_at, "versioned at the observation"


def test_a_second_run_right_after_repairs_nothing(world: World) -> None:
    paid = world.buy("user_42", "price_pro")
    world.drop_webhooks()
    world.control(f"/_standin/subscriptions/{paid['subscription']}/cancel")
    assert world.run().total("repaired") == 1

    again = world.run()

    assert again.total("repaired") == 0
    assert again.counts["in_sync_subscription"] == 1
    assert wiring.reconciliation_runs().repairs(again.run_id) == []


def test_what_no_webhook_ever_brought_is_created_subscription_payment_and_purchase(
    world: World,
) -> None:
    world.drop_webhooks()
    world.buy("user_7", "price_pro")
    bought = world.buy("user_8", "price_life", mode="payment")
    assert not active("user_7", "pro")
    assert not active("user_8", "lifetime")

    run = world.run()

    assert active("user_7", "pro")
    assert active("user_8", "lifetime")
    assert run.counts["repaired_subscription"] == 1
    assert run.counts["repaired_invoice"] == 1
    assert run.counts["repaired_payment_intent"] == 1
    facts = wiring.metrics_store().facts_of_project("1")
    payments = [f for f in facts if isinstance(f, PaymentFact)]
    assert [(p.amount, p.currency) for p in payments] == [(900, "usd")]
    purchase = next(f for f in facts if isinstance(f, PurchaseFact))
    assert (purchase.stripe_id, purchase.status, purchase.amount) == (
        bought["payment_intent"],
        "paid",
        4900,
    )
    assert world.run().total("repaired") == 0


def test_a_lost_refund_ends_the_purchase_and_a_later_run_keeps_it_refunded(
    world: World,
) -> None:
    bought = world.buy("user_8", "price_life", mode="payment")
    assert active("user_8", "lifetime")
    world.drop_webhooks()
    world.control(f"/_standin/charges/{bought['charge']}/refund")

    run = world.run()

    assert run.counts["repaired_refund"] == 1
    assert run.counts["in_sync_payment_intent"] == 1, "a refunded intent still says succeeded"
    assert not active("user_8", "lifetime")
    assert world.run().total("repaired") == 0


def test_a_refund_that_failed_while_webhooks_were_lost_restores_the_purchase(
    world: World,
) -> None:
    bought = world.buy("user_8", "price_life", mode="payment")
    refund = world.control(f"/_standin/charges/{bought['charge']}/refund")
    assert not active("user_8", "lifetime")
    world.drop_webhooks()
    world.control(f"/_standin/refunds/{refund['id']}/fail")

    run = world.run()

    assert run.counts["repaired_refund"] == 1
    assert active("user_8", "lifetime")


def test_a_dispute_lost_while_webhooks_were_lost_ends_the_purchase(world: World) -> None:
    bought = world.buy("user_8", "price_life", mode="payment")
    world.drop_webhooks()
    dispute = world.control(f"/_standin/charges/{bought['charge']}/dispute")
    world.control(f"/_standin/disputes/{dispute['id']}/close", b'{"outcome": "lost"}')

    run = world.run()

    assert run.counts["repaired_dispute"] == 1
    assert not active("user_8", "lifetime")
    (repair,) = wiring.reconciliation_runs().repairs(run.run_id)
    assert repair.fields == ("disputes",)


def test_a_subscription_that_ended_long_before_the_window_is_still_repaired(
    world: World,
) -> None:
    """Subscriptions are listed whatever their age: one cancelled while webhooks were lost,
    weeks before the run's window, is found."""
    paid = world.buy("user_42", "price_pro")
    world.drop_webhooks()
    world.control(f"/_standin/subscriptions/{paid['subscription']}/cancel")
    world.control("/_standin/clock", b'{"advance": 3456000}')  # 40 days on

    run = world.run()

    assert run.counts["repaired_subscription"] == 1
    assert not active("user_42", "pro")


def test_a_run_starts_where_the_last_successful_one_began(world: World) -> None:
    first = world.run(from_cursor=True)
    assert first.status == "completed"
    second = world.run(from_cursor=True)
    assert first.started_at.timestamp() - 3600 < second.since < first.started_at.timestamp()


def test_a_subscription_on_another_projects_price_is_reported(world: World) -> None:
    tenancy.create_project(wiring.project_store(), name="other", project_id=2, now=utc_now())
    wiring.price_store().put(Price("price_other", "2", ("other",), 900, "usd", "month"))
    world.standin.register_price("price_other", 900, "usd", {"interval": "month"})
    paid = world.buy("user_42", "price_pro")
    item = world.standin.handle(
        "GET",
        f"/v1/subscriptions/{paid['subscription']}",
        {"Authorization": "Bearer sk_test_x"},
        b"",
    )
    import json

    item_id = json.loads(item.body)["items"]["data"][0]["id"]
    client = build_client("sk_test_unit", BASE, InProcessHTTPClient(world.standin))
    client.v1.subscriptions.update(
        paid["subscription"],
        params={"items": [{"id": item_id, "price": "price_other"}], "proration_behavior": "none"},
    )
    world.control("/_standin/clock", b'{"advance": 1}')

    run = world.run()

    assert not active("user_42", "pro")
    assert not active("user_42", "other")
    (anomaly,) = wiring.reconciliation_runs().anomalies(run.run_id)
    assert (anomaly.price_id, anomaly.problem, anomaly.registered_to) == (
        "price_other",
        "foreign",
        "2",
    )


def test_a_price_registered_with_other_terms_than_stripe_bills_is_reported_as_drift(
    world: World,
) -> None:
    paid = world.buy("user_42", "price_pro")
    wiring.price_store().put(Price("price_pro", "1", ("pro",), 990, "eur", "month"))  # typed
    run = world.run()
    (drift,) = wiring.reconciliation_runs().anomalies(run.run_id)
    assert (drift.price_id, drift.fact_id, drift.problem) == (
        "price_pro",
        paid["subscription"],
        "drift",
    )
    assert (
        drift.detail == "amount: Stripe says 900, not 990; currency: Stripe says 'usd', not 'eur'"
    )
    assert active("user_42", "pro"), "the access is the price's grants', unchanged"
    wiring.price_store().put(Price("price_pro", "1", ("pro",), 900, "usd", "month"))
    assert wiring.reconciliation_runs().anomalies(world.run().run_id) == []


def test_a_run_goes_on_in_chunks_through_its_queue_and_counts_every_object_once(
    world: World,
) -> None:
    for index in range(7):
        world.buy(f"user_{index}", "price_pro")
    world.drop_webhooks()
    missing = [world.buy(f"late_{index}", "price_pro")["subscription"] for index in range(3)]

    run = world.run(page_size=2, pages_per_invocation=2)

    assert run.status == "completed"
    assert run.examined("subscription") == 10
    assert run.counts["repaired_subscription"] == 3
    assert run.counts["in_sync_subscription"] == 7
    assert run.invocations > 3, "the run was handed from invocation to invocation"
    repairs = wiring.reconciliation_runs().repairs(run.run_id)
    assert {r.object_id for r in repairs if r.kind == "subscription"} == set(missing)
    assert run.counts["repaired_invoice"] == 3, "their first invoices were missing too"


def test_one_object_that_fails_is_reported_and_the_others_are_still_repaired(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.drop_webhooks()
    broken = world.buy("user_1", "price_pro")["subscription"]
    world.buy("user_2", "price_pro")
    ledger = wiring.billing_ledger()
    real_commit = ledger.commit

    def commit(change: Any, now: datetime) -> bool:
        if change.facts[0].fact.stripe_id == broken:
            raise RuntimeError("DynamoDB fell over")
        return real_commit(change, now)

    monkeypatch.setattr(ledger, "commit", commit)
    monkeypatch.setattr(wiring, "billing_ledger", lambda: ledger)

    run = world.run()

    assert run.status == "completed_with_errors"
    assert run.counts["error_subscription"] == 1
    assert run.counts["repaired_subscription"] == 1
    assert active("user_2", "pro")
    (error,) = wiring.reconciliation_runs().errors(run.run_id)
    assert error.object_id == broken
    assert "DynamoDB fell over" in error.message


def test_a_page_that_cannot_be_listed_fails_the_invocation_and_keeps_the_checkpoint(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(3):
        world.buy(f"user_{index}", "price_pro")
    runs = wiring.reconciliation_runs()
    run = start_run(runs, world.queue, trigger="test", days_back=3, now=utc_now())
    world.invoke(run.run_id, page_size=1, pages=1)
    before = runs.get(run.run_id)
    assert before is not None and before.checkpoint.pages == 1

    def down(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("Stripe is down")

    monkeypatch.setattr(StripeListing, "page", down)
    with pytest.raises(RuntimeError):
        world.invoke(run.run_id, page_size=1, pages=5)

    after = runs.get(run.run_id)
    assert after is not None
    assert after.checkpoint == before.checkpoint
    assert after.counts == before.counts
    assert after.status == "running"


def test_a_duplicate_continuation_counts_a_page_once(world: World) -> None:
    world.buy("user_1", "price_pro")
    runs = wiring.reconciliation_runs()
    run = start_run(runs, world.queue, trigger="test", days_back=3, now=utc_now())
    stale = runs.get(run.run_id)
    assert stale is not None
    world.invoke(run.run_id, page_size=1, pages=1)

    from billing.domain.reconciliation import PageOutcome

    outcome = PageOutcome()
    outcome.count("in_sync", "subscription")
    assert not runs.save_page(
        stale, stale.checkpoint.after_page("sub_x", True), outcome, "running", utc_now()
    )
    current = runs.get(run.run_id)
    assert current is not None
    assert current.counts["in_sync_subscription"] == 1


def test_a_webhook_newer_than_the_page_is_left_alone(world: World) -> None:
    paid = world.buy("user_42", "price_pro")
    ledger = wiring.billing_ledger()
    fact = ledger.fact(paid["subscription"])
    assert isinstance(fact, SubscriptionFact)
    future = int(utc_now().timestamp()) + 3_600
    from dataclasses import replace

    from billing.domain.ledger import FactChange, LedgerChange
    from billing.domain.stripe_events import StripeEventEnvelope

    newer = replace(fact, status="past_due", version=future)
    record = ledger.read(owner=fact.owner).record
    assert record is not None
    sources, version = record
    event = StripeEventEnvelope("evt_newer", "customer.subscription.updated", future, False, {})
    assert ledger.commit(
        LedgerChange(event, (FactChange(newer, fact.version),), sources, version), utc_now()
    )

    run = world.run()

    assert run.counts["newer_subscription"] == 1
    assert run.total("repaired") == 0
    stored = ledger.fact(paid["subscription"])
    assert isinstance(stored, SubscriptionFact) and stored.status == "past_due"


def test_subscriptions_of_no_known_user_are_counted_not_guessed(world: World) -> None:
    client = build_client("sk_test_unit", BASE, InProcessHTTPClient(world.standin))
    stranger = client.v1.customers.create(params={"email": "someone@else.test"})
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": stranger.id,
            "line_items": [{"price": "price_pro", "quantity": 1}],
            "success_url": "https://else.test/ok",
        }
    )
    world.drop_webhooks()
    world.standin.pay_checkout(session.id)

    run = world.run()

    assert run.counts["unmapped_subscription"] == 1
    assert run.total("repaired") == 0
