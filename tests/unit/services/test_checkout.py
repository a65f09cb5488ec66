"""Checkout, portal and eligibility through the services: DynamoDB on moto, Stripe faked."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from billing import wiring
from billing.domain.checkout import CheckoutRequest
from billing.domain.tenancy import Price
from billing.errors import NotFoundError, PaymentProviderUnavailableError, ValidationError
from billing.services import checkout, engine, tenancy
from tests.support import stripe_events as se
from tests.support.fakes import FakePaymentGateway

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MONTHLY = Price("price_monthly", "1", ("pro",), 900, "usd", "month")
LIFETIME = Price("price_lifetime", "1", ("pro",), 9900, "eur", "one_time")
REQUEST = CheckoutRequest(
    project_id="1",
    user_id="user_42",
    price_id="price_monthly",
    mode="subscription",
    success_url="https://app.example.com/ok",
    cancel_url="https://app.example.com/cancel",
)


@pytest.fixture
def gateway(aws: dict[str, str]) -> FakePaymentGateway:
    projects, prices = wiring.project_store(), wiring.price_store()
    tenancy.create_project(projects, name="space_journal", project_id=1, now=NOW)
    tenancy.create_project(projects, name="other", project_id=2, now=NOW)
    for price in (
        MONTHLY,
        LIFETIME,
        replace(MONTHLY, stripe_price_id="price_other", project_id="2"),
    ):
        prices.put(price)
    return FakePaymentGateway()


def start(gateway: FakePaymentGateway, request: CheckoutRequest = REQUEST, now: datetime = NOW):  # type: ignore[no-untyped-def]
    return checkout.start_checkout(
        wiring.project_store(),
        wiring.price_store(),
        wiring.customer_store(),
        gateway,
        request=request,
        now=now,
    )


def test_a_checkout_creates_the_customer_with_its_tenancy_and_remembers_it(
    gateway: FakePaymentGateway,
) -> None:
    session = start(gateway)
    ((customer_id, metadata),) = gateway.customers.items()
    assert metadata == {"project_id": "1", "user_id": "user_42"}
    assert gateway.sessions[session.session_id] == (REQUEST, customer_id)
    assert wiring.customer_store().customer_of("1", "user_42", "usd") == customer_id


def test_the_same_request_retried_creates_one_session(gateway: FakePaymentGateway) -> None:
    first, again = start(gateway), start(gateway, now=NOW + timedelta(seconds=30))
    assert first == again
    assert len(gateway.sessions) == 1
    assert len(gateway.customers) == 1


def test_the_same_purchase_later_gets_a_new_session_and_the_same_customer(
    gateway: FakePaymentGateway,
) -> None:
    first, later = start(gateway), start(gateway, now=NOW + timedelta(hours=2))
    assert first != later
    assert len(gateway.customers) == 1


def test_a_second_currency_gets_a_second_customer(gateway: FakePaymentGateway) -> None:
    start(gateway)
    start(gateway, replace(REQUEST, price_id="price_lifetime", mode="payment"))
    store = wiring.customer_store()
    usd, eur = store.customer_of("1", "user_42", "usd"), store.customer_of("1", "user_42", "eur")
    assert usd and eur and usd != eur


@pytest.mark.parametrize("price_id", ["price_other", "price_unknown"])
def test_a_price_not_registered_for_the_project_is_404(
    gateway: FakePaymentGateway, price_id: str
) -> None:
    with pytest.raises(NotFoundError, match=f"{price_id} is not registered for project 1"):
        start(gateway, replace(REQUEST, price_id=price_id))
    assert gateway.customers == {}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"mode": "payment"}, "mode"),
        ({"price_id": "price_lifetime", "mode": "subscription"}, "mode"),
        ({"price_id": "price_lifetime", "mode": "payment", "trial_days": 7}, "trial_days"),
        ({"success_url": "http://app.example.com/ok"}, "success_url"),
        ({"cancel_url": "javascript:alert(1)"}, "cancel_url"),
    ],
)
def test_bad_requests_name_the_field_and_touch_nothing(
    gateway: FakePaymentGateway, change: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as error:
        start(gateway, replace(REQUEST, **change))  # type: ignore[arg-type]
    assert error.value.field == field
    assert gateway.customers == {} and gateway.sessions == {}


def test_urls_must_be_on_the_projects_origins_when_it_has_some(
    gateway: FakePaymentGateway,
) -> None:
    tenancy.update_project(
        wiring.project_store(), 1, allowed_origins=("https://app.example.com",), now=NOW
    )
    start(gateway)
    with pytest.raises(ValidationError, match="not an allowed origin") as error:
        start(gateway, replace(REQUEST, success_url="https://evil.example.net/ok"))
    assert error.value.field == "success_url"


@pytest.mark.parametrize("failing", ["customer", "checkout"])
def test_stripe_failing_leaves_nothing_half_written(
    gateway: FakePaymentGateway, failing: str
) -> None:
    gateway.fail_on.add(failing)
    with pytest.raises(PaymentProviderUnavailableError):
        start(gateway)
    assert wiring.customer_store().any_customer_of("1", "user_42") is None


def test_concurrent_first_checkouts_end_with_one_customer(gateway: FakePaymentGateway) -> None:
    results: list[str] = []

    def run() -> None:
        results.append(start(gateway).session_id)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert len(gateway.customers) == 1
    (customer_id,) = gateway.customers
    assert wiring.customer_store().customer_of("1", "user_42", "usd") == customer_id


def portal(
    gateway: FakePaymentGateway,
    return_url: str = "https://app.example.com/account",
    currency: str | None = None,
) -> str:
    return checkout.open_portal(
        wiring.project_store(),
        wiring.customer_store(),
        wiring.user_facts(),
        gateway,
        project_id="1",
        user_id="user_42",
        return_url=return_url,
        now=NOW,
        currency=currency,
    )


def portal_customer(gateway: FakePaymentGateway) -> str:
    """The customer of the portal session the last ``portal`` call opened."""
    return list(gateway.portal_sessions.values())[-1][0]


def test_the_portal_opens_on_the_customer_holding_the_live_subscription(
    gateway: FakePaymentGateway,
) -> None:
    """A user subscribed in USD who later bought once in EUR can still reach the USD
    subscription to cancel it; ``currency`` picks a customer explicitly."""
    store = wiring.customer_store()
    store.remember("1", "user_42", "usd", "cus_usd", NOW)
    store.remember("1", "user_42", "eur", "cus_eur", NOW + timedelta(days=1))
    subscription = se.subscription("sub_usd", customer="cus_usd", period_end=2_000_000_000)
    engine.apply_event(
        se.event("customer.subscription.created", subscription, 1_790_000_000),
        wiring.billing_ledger(),
        NOW,
    )
    portal(gateway)
    assert portal_customer(gateway) == "cus_usd"
    portal(gateway, currency="eur")
    assert portal_customer(gateway) == "cus_eur"
    with pytest.raises(NotFoundError, match="in gbp"):
        portal(gateway, currency="gbp")


def test_without_a_live_subscription_the_portal_opens_on_the_newest_customer(
    gateway: FakePaymentGateway,
) -> None:
    store = wiring.customer_store()
    store.remember("1", "user_42", "usd", "cus_usd", NOW)
    store.remember("1", "user_42", "eur", "cus_eur", NOW + timedelta(days=1))
    ended = se.subscription("sub_usd", status="canceled", customer="cus_usd")
    engine.apply_event(
        se.event("customer.subscription.deleted", ended, 1_790_000_000),
        wiring.billing_ledger(),
        NOW,
    )
    portal(gateway)
    assert portal_customer(gateway) == "cus_eur"


def test_the_portal_opens_after_a_checkout_only(gateway: FakePaymentGateway) -> None:
    store = wiring.customer_store()
    assert not checkout.portal_eligibility(store, "1", "user_42").eligible
    with pytest.raises(NotFoundError, match="customer not found: complete a checkout first"):
        portal(gateway)
    start(gateway)
    assert checkout.portal_eligibility(store, "1", "user_42").eligible
    url = portal(gateway)
    ((customer_id, return_url),) = gateway.portal_sessions.values()
    assert url.startswith("https://billing.stripe.test/")
    assert (customer_id, return_url) == (
        store.customer_of("1", "user_42", "usd"),
        "https://app.example.com/account",
    )


def test_the_portal_return_url_is_checked_like_checkout_urls(
    gateway: FakePaymentGateway,
) -> None:
    start(gateway)
    with pytest.raises(ValidationError) as error:
        portal(gateway, "ftp://app.example.com")
    assert error.value.field == "return_url"
