"""Engine truth over HTTP: access and payments end where Stripe says, in the orders Stripe
delivers that a payload alone cannot decide (issue "Engine truth").

A stack of this module's own runs the Stripe stand-in, which holds the true state. Each test
makes Stripe do something with webhooks held, then delivers the events one by one in the
troublesome order (each applied before the next is sent), and compares what the API answers
with the stand-in's own objects, without any reconciliation run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
import requests

from billing_devstack.launcher import StackProcess, wait_until
from tests.integration.conftest import start_stack

pytestmark = pytest.mark.integration

PROJECT, OTHER_PROJECT = "301", "302"
ORIGIN = "https://app.example.com"
APPLIED_WITHIN = 30.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    running = start_stack(tmp_path_factory.mktemp("truth"))
    yield running
    running.stop()


@dataclass(frozen=True)
class Stripe:
    """The stand-in of the stack: the truth, its controls, and the events it emitted."""

    stack: StackProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.stack.env['LOCAL_STRIPE_PORT']}"

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = requests.post(f"{self.url}/_standin/{path}", json=body or {}, timeout=30)
        assert response.status_code == 200, f"{path}: {response.text}"
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        response = requests.get(
            f"{self.url}/v1/{path}", params=params, auth=("sk_test_it", ""), timeout=30
        )
        assert response.status_code == 200, f"{path}: {response.text}"
        return response.json()

    def post(self, path: str, form: dict[str, str]) -> Any:
        response = requests.post(
            f"{self.url}/v1/{path}", data=form, auth=("sk_test_it", ""), timeout=30
        )
        assert response.status_code == 200, f"{path}: {response.text}"
        return response.json()

    def hold(self, held: bool = True) -> None:
        self.control("webhooks", {"held": held})

    def held_events(self, since: int) -> list[dict[str, Any]]:
        """Events emitted after the ``since``-th, held back, oldest first."""
        listed = requests.get(f"{self.url}/_standin/events", timeout=30).json()["data"]
        return [e for e in listed[since:] if e["delivery"]["status"] == "held"]

    def event_count(self) -> int:
        return len(requests.get(f"{self.url}/_standin/events", timeout=30).json()["data"])

    def requests_to(self, path: str) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.url}/_standin/requests", params={"method": "GET", "path": path}, timeout=30
        )
        return list(response.json()["data"])

    def deliver(self, events: list[dict[str, Any]]) -> None:
        """Send these events in this order, each applied by the consumer before the next."""
        for event in events:
            answer = self.control("events/deliver", {"ids": [event["id"]]})
            assert answer["data"][0]["status"] == "delivered", answer
            assert wait_until(partial(self.applied, event["id"]), APPLIED_WITHIN), (
                f"{event['type']} {event['id']} was not applied"
            )

    def applied(self, event_id: str) -> bool:
        item = self.stack.dynamodb().get_item(
            TableName="WebhookEventsTable", Key={"event_id": {"S": event_id}}
        )
        return "Item" in item


@dataclass(frozen=True)
class Shop:
    stack: StackProcess
    key: str
    stripe: Stripe

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(
            method,
            f"{self.stack.url}{path}",
            headers={"X-API-Key": self.key},
            timeout=30,
            **kwargs,
        )

    def entitlements(self, user: str) -> dict[str, dict[str, Any]]:
        response = self.api(
            "GET", "/api/v1/entitlements", params={"user_id": user, "project_id": PROJECT}
        )
        assert response.status_code == 200, response.text
        return {f"{e['feature_code']}:{e['source']}": e for e in response.json()["entitlements"]}

    def active(self, user: str) -> set[str]:
        return {key for key, e in self.entitlements(user).items() if e["active"]}

    def wait_active(self, user: str, expected: set[str]) -> None:
        assert wait_until(lambda: self.active(user) == expected, APPLIED_WITHIN), (
            f"{user}: {sorted(self.active(user))} instead of {sorted(expected)}"
        )

    def buy(self, user: str, price_id: str, mode: str) -> dict[str, Any]:
        """The service's checkout, then the customer pays (webhooks as they come)."""
        body = {
            "user_id": user,
            "project_id": PROJECT,
            "price_id": price_id,
            "mode": mode,
            "success_url": f"{ORIGIN}/ok",
            "cancel_url": f"{ORIGIN}/no",
        }
        response = self.api("POST", "/api/v1/checkout/session", json=body)
        assert response.status_code == 200, response.text
        session_id = response.json()["checkout_url"].rsplit("/", 1)[-1]
        return dict(self.stripe.control(f"checkout/{session_id}/pay"))


def register(stack: StackProcess, stripe: Stripe, project: str, price: str, **terms: Any) -> None:
    """A price in Stripe (the stand-in), then in the service (billing-admin reads it there)."""
    recurring = terms.get("recurring", True)
    currency = terms.get("currency", "usd")
    stripe.control(
        "prices",
        {
            "id": price,
            "unit_amount": 900,
            "currency": currency,
            "recurring": {"interval": "month", "interval_count": 1} if recurring else None,
        },
    )
    shape = ["--interval", "month"] if recurring else ["--one-time"]
    stack.admin(
        "price", "add", "--project", project, "--price", price,
        "--feature", terms.get("feature", "pro"), "--amount", "900", "--currency", currency,
        *shape,
    )  # fmt: skip


@pytest.fixture(scope="module")
def shop(stack: StackProcess) -> Shop:
    stripe = Stripe(stack)
    stack.admin("project", "create", "--id", PROJECT, "--name", "truth", "--origin", ORIGIN)
    stack.admin("project", "create", "--id", OTHER_PROJECT, "--name", "elsewhere")
    register(stack, stripe, PROJECT, "price_truth_monthly")
    register(stack, stripe, PROJECT, "price_truth_life", recurring=False, feature="lifetime")
    register(stack, stripe, PROJECT, "price_truth_eur", recurring=False, currency="eur",
             feature="extra")  # fmt: skip
    register(stack, stripe, OTHER_PROJECT, "price_other_monthly", feature="other_pro")
    key = stack.admin("app", "create", "--project", PROJECT, "--name", "truth")["api_key"]
    return Shop(stack, key, stripe)


@pytest.fixture
def user(shop: Shop) -> Iterator[str]:
    yield f"user_{uuid.uuid4().hex[:10]}"
    shop.stripe.hold(False)  # whatever a test left held goes out in emission order


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def by_type(events: list[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    """The events of these types, in the order of ``types``."""
    return [e for kind in types for e in events if e["type"] == kind]


# ---------------------------------------------------------------------- the cases
def test_an_unpaid_subscription_paid_again_gets_access_back_invoice_first(
    shop: Shop, user: str
) -> None:
    stripe = shop.stripe
    paid = shop.buy(user, "price_truth_monthly", "subscription")
    shop.wait_active(user, {"pro:subscription"})
    failed = stripe.control(f"subscriptions/{paid['subscription']}/fail_renewal")
    stripe.control(f"subscriptions/{paid['subscription']}/mark_unpaid")
    shop.wait_active(user, set())

    stripe.hold()
    seen = stripe.event_count()
    stripe.post(f"invoices/{failed['invoice']}/pay", {})
    events = stripe.held_events(seen)
    assert len({e["created"] for e in events}) == 1, "Stripe sends them in one second"
    stripe.deliver(
        by_type(
            events,
            "invoice.paid",
            "invoice.payment_succeeded",
            "payment_intent.succeeded",
            "customer.subscription.updated",
        )
    )

    truth = stripe.get(f"subscriptions/{paid['subscription']}")
    assert truth["status"] == "active"
    pro = shop.entitlements(user)["pro:subscription"]
    assert pro["active"]
    assert pro["valid_to"] == iso(truth["items"]["data"][0]["current_period_end"])
    assert stripe.requests_to(f"/v1/subscriptions/{paid['subscription']}"), "Stripe was asked"


def test_an_invoice_before_its_subscription_still_grants_and_counts_the_payment(
    shop: Shop, user: str
) -> None:
    stripe = shop.stripe
    stripe.hold()
    seen = stripe.event_count()
    paid = shop.buy(user, "price_truth_monthly", "subscription")
    events = stripe.held_events(seen)
    stripe.deliver(
        by_type(
            events,
            "invoice.payment_succeeded",
            "invoice.paid",
            "customer.subscription.created",
            "checkout.session.completed",
            "payment_intent.succeeded",
        )
    )
    shop.wait_active(user, {"pro:subscription"})
    invoice = stripe.get(f"invoices/{paid['invoice']}")
    assert invoice["status"] == "paid"
    stored = shop.stack.dynamodb().get_item(
        TableName="StripeObjectsTable", Key={"stripe_id": {"S": paid["invoice"]}}
    )
    assert stored["Item"]["kind"]["S"] == "payment", "the invoice's payment counts in revenue"


def test_a_refund_before_its_purchase_leaves_the_purchase_refunded(shop: Shop, user: str) -> None:
    stripe = shop.stripe
    stripe.hold()
    seen = stripe.event_count()
    bought = shop.buy(user, "price_truth_life", "payment")
    stripe.control(f"charges/{bought['charge']}/refund")
    events = stripe.held_events(seen)
    stripe.deliver(
        by_type(
            events,
            "charge.refunded",
            "refund.created",
            "payment_intent.succeeded",
            "checkout.session.completed",
        )
    )
    lifetime = shop.entitlements(user)["lifetime:purchase"]
    assert (lifetime["active"], lifetime.get("reason")) == (False, "refunded")
    assert stripe.get(f"charges/{bought['charge']}")["refunded"] is True


def test_a_full_refund_that_fails_gives_the_access_back(shop: Shop, user: str) -> None:
    stripe = shop.stripe
    bought = shop.buy(user, "price_truth_life", "payment")
    shop.wait_active(user, {"lifetime:purchase"})
    refund = stripe.control(f"charges/{bought['charge']}/refund")
    shop.wait_active(user, set())

    stripe.hold()
    seen = stripe.event_count()
    stripe.control(f"refunds/{refund['id']}/fail")
    events = stripe.held_events(seen)
    stripe.deliver(by_type(events, "refund.failed", "charge.refund.updated", "refund.updated"))

    assert stripe.get(f"charges/{bought['charge']}")["amount_refunded"] == 0
    shop.wait_active(user, {"lifetime:purchase"})


@pytest.mark.parametrize(("outcome", "after"), [("won", True), ("lost", False)])
def test_a_dispute_suspends_a_purchase_and_its_outcome_decides(
    shop: Shop, user: str, outcome: str, after: bool
) -> None:
    stripe = shop.stripe
    bought = shop.buy(user, "price_truth_life", "payment")
    shop.wait_active(user, {"lifetime:purchase"})
    stripe.hold()
    seen = stripe.event_count()
    dispute = stripe.control(f"charges/{bought['charge']}/dispute")
    opened = stripe.held_events(seen)
    stripe.deliver(by_type(opened, "charge.dispute.funds_withdrawn", "charge.dispute.created"))
    suspended = shop.entitlements(user)["lifetime:purchase"]
    assert (suspended["active"], suspended.get("reason")) == (False, "disputed")

    seen = stripe.event_count()
    stripe.control(f"disputes/{dispute['id']}/close", {"outcome": outcome})
    closed = stripe.held_events(seen)
    stripe.deliver(list(reversed(closed)))
    assert stripe.get(f"disputes/{dispute['id']}")["status"] == outcome
    lifetime = shop.entitlements(user)["lifetime:purchase"]
    assert lifetime["active"] is after
    if not after:
        assert lifetime["reason"] == "dispute_lost"


def test_a_free_checkout_grants_the_purchase(shop: Shop, user: str) -> None:
    """A 100 %-off one-time checkout: no payment intent, ``no_payment_required``."""
    stripe = shop.stripe
    coupon = stripe.post("coupons", {"percent_off": "100", "duration": "once"})
    customer = stripe.post(
        "customers", {"metadata[project_id]": PROJECT, "metadata[user_id]": user}
    )
    metadata = {"project_id": PROJECT, "user_id": user, "price_id": "price_truth_life"}
    form = {
        "mode": "payment",
        "customer": customer["id"],
        "line_items[0][price]": "price_truth_life",
        "line_items[0][quantity]": "1",
        "success_url": f"{ORIGIN}/ok",
        "discounts[0][coupon]": coupon["id"],
        **{f"metadata[{k}]": v for k, v in metadata.items()},
        **{f"payment_intent_data[metadata][{k}]": v for k, v in metadata.items()},
    }
    session = stripe.post("checkout/sessions", form)
    stripe.control(f"checkout/{session['id']}/pay")
    shop.wait_active(user, {"lifetime:purchase"})
    paid = stripe.get(f"checkout/sessions/{session['id']}")
    assert (paid["payment_status"], paid["payment_intent"]) == ("no_payment_required", None)
    assert shop.entitlements(user)["lifetime:purchase"]["source_id"] == session["id"]


def test_a_switch_to_another_projects_price_grants_nothing_of_it(shop: Shop, user: str) -> None:
    stripe = shop.stripe
    paid = shop.buy(user, "price_truth_monthly", "subscription")
    shop.wait_active(user, {"pro:subscription"})
    subscription = stripe.get(f"subscriptions/{paid['subscription']}")
    stripe.post(
        f"subscriptions/{paid['subscription']}",
        {
            "items[0][id]": subscription["items"]["data"][0]["id"],
            "items[0][price]": "price_other_monthly",
            "proration_behavior": "none",
        },
    )
    shop.wait_active(user, set())
    assert "other_pro:subscription" not in shop.entitlements(user)


def test_the_portal_reaches_the_subscription_after_a_purchase_in_another_currency(
    shop: Shop, user: str
) -> None:
    paid = shop.buy(user, "price_truth_monthly", "subscription")
    shop.buy(user, "price_truth_eur", "payment")
    shop.wait_active(user, {"pro:subscription", "extra:purchase"})
    body = {"user_id": user, "project_id": PROJECT, "return_url": f"{ORIGIN}/account"}
    portal = shop.api("POST", "/api/v1/portal/session", json=body)
    assert portal.status_code == 200, portal.text
    subscription = shop.stripe.get(f"subscriptions/{paid['subscription']}")
    page = requests.get(portal.json()["portal_url"], timeout=30)
    assert paid["subscription"] in page.text, "the portal shows the USD subscription"
    assert subscription["customer"] == paid["customer"]
    in_eur = shop.api("POST", "/api/v1/portal/session", json={**body, "currency": "eur"})
    assert in_eur.status_code == 200, in_eur.text
    assert paid["subscription"] not in requests.get(in_eur.json()["portal_url"], timeout=30).text


def test_valid_to_is_stripes_period_end(shop: Shop, user: str) -> None:
    paid = shop.buy(user, "price_truth_monthly", "subscription")
    shop.wait_active(user, {"pro:subscription"})
    truth = shop.stripe.get(f"subscriptions/{paid['subscription']}")
    pro = shop.entitlements(user)["pro:subscription"]
    assert pro["valid_to"] == iso(truth["items"]["data"][0]["current_period_end"])


def test_a_cancellation_lost_long_ago_is_repaired_by_the_next_run(shop: Shop, user: str) -> None:
    """Webhooks lost weeks before: reconciliation lists every subscription whatever its age."""
    stripe = shop.stripe
    paid = shop.buy(user, "price_truth_monthly", "subscription")
    shop.wait_active(user, {"pro:subscription"})
    stripe.control("webhooks", {"paused": True})
    try:
        stripe.control(f"subscriptions/{paid['subscription']}/cancel")
    finally:
        stripe.control("webhooks", {"paused": False})
    stripe.control("clock", {"advance": 40 * 86_400})
    assert shop.active(user) == {"pro:subscription"}, "the lost webhook left access on"
    report = shop.stack.admin("reconcile", "run", "--timeout", "120")
    assert report["status"].startswith("completed")
    shop.wait_active(user, set())
