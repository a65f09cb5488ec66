"""The real stripe SDK against the stand-in, in process, with the SDK's own typed params:
what the service's gateway adapter will do."""

from __future__ import annotations

import pytest
import stripe
from stripe.params import CustomerCreateParams
from stripe.params.billing_portal import SessionCreateParams as PortalSessionCreateParams
from stripe.params.checkout import SessionCreateParams

from billing_devstack.stripe_standin.sdk_client import CaseInsensitiveHeaders
from tests.unit.devstack.stripe_standin.conftest import Harness


def checkout_params(customer: str) -> SessionCreateParams:
    return {
        "mode": "subscription",
        "customer": customer,
        "line_items": [{"price": "price_123", "quantity": 1}],
        "success_url": "https://app.example.com/ok?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://app.example.com/cancel",
        "client_reference_id": "u1",
        "metadata": {"project_id": "1", "user_id": "u1"},
        "subscription_data": {"metadata": {"project_id": "1", "user_id": "u1"}},
        "allow_promotion_codes": True,
    }


def test_customer_checkout_and_portal_through_the_sdk(
    client: stripe.StripeClient, harness: Harness
) -> None:
    customer_params: CustomerCreateParams = {
        "email": "u1@example.com",
        "name": "U One",
        "metadata": {"project_id": "1", "user_id": "u1"},
        "preferred_locales": ["en"],
    }
    customer = client.v1.customers.create(params=customer_params)
    assert isinstance(customer, stripe.Customer)
    assert customer.metadata is not None
    assert customer.metadata["user_id"] == "u1"
    assert client.v1.customers.retrieve(customer.id).email == "u1@example.com"

    session = client.v1.checkout.sessions.create(params=checkout_params(customer.id))
    assert isinstance(session, stripe.checkout.Session)
    assert session.url == f"http://standin.test/checkout/{session.id}"
    assert (session.status, session.payment_status, session.amount_total) == ("open", "unpaid", 900)
    assert session.allow_promotion_codes is True
    assert session.last_response is not None
    assert str(session.last_response.request_id).startswith("req_")

    portal_params: PortalSessionCreateParams = {
        "customer": customer.id,
        "return_url": "https://app.example.com/account",
    }
    portal = client.v1.billing_portal.sessions.create(params=portal_params)
    assert isinstance(portal, stripe.billing_portal.Session)
    assert portal.url == f"http://standin.test/portal/{portal.id}"

    harness.standin.pay_checkout(session.id)
    paid = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    assert isinstance(paid.subscription, stripe.Subscription)
    assert paid.subscription["items"].data[0].current_period_end > paid.created


def test_sdk_errors_carry_stripes_code_and_param(client: stripe.StripeClient) -> None:
    params = checkout_params("cus_missing")
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.create(params=params)
    assert (missing.value.code, missing.value.param, missing.value.http_status) == (
        "resource_missing",
        "customer",
        400,
    )
    with pytest.raises(stripe.InvalidRequestError) as gone:
        client.v1.subscriptions.retrieve("sub_missing")
    assert gone.value.http_status == 404


def test_a_bad_key_is_an_authentication_error(harness: Harness) -> None:
    from billing_devstack.stripe_standin.sdk_client import InProcessHTTPClient

    bad = stripe.StripeClient(
        "sk_live_nope_123456",
        base_addresses={"api": "http://standin.invalid"},
        http_client=InProcessHTTPClient(harness.standin),
    )
    with pytest.raises(stripe.AuthenticationError):
        bad.v1.customers.list()


def test_an_idempotency_key_given_twice_returns_the_same_object(
    client: stripe.StripeClient,
) -> None:
    first = client.v1.customers.create(
        params={"email": "a@x.io"}, options={"idempotency_key": "same-key"}
    )
    again = client.v1.customers.create(
        params={"email": "a@x.io"}, options={"idempotency_key": "same-key"}
    )
    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers["idempotent-replayed"] == "true"
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create(
            params={"email": "b@x.io"}, options={"idempotency_key": "same-key"}
        )
    assert len(client.v1.customers.list().data) == 1


def test_auto_paging_walks_every_page(client: stripe.StripeClient, harness: Harness) -> None:
    created = set()
    for number in range(25):
        harness.clock.now += 1
        created.add(client.v1.customers.create(params={"email": f"{number}@x.io"}).id)
    page = client.v1.customers.list(params={"limit": 10})
    assert page.has_more
    assert {customer.id for customer in page.auto_paging_iter()} == created


def test_subscriptions_list_like_reconciliation_asks(
    client: stripe.StripeClient, harness: Harness
) -> None:
    customer = client.v1.customers.create()
    session = client.v1.checkout.sessions.create(params=checkout_params(customer.id))
    harness.standin.pay_checkout(session.id)
    found = client.v1.subscriptions.list(
        params={"status": "all", "customer": customer.id, "created": {"gte": 0}, "limit": 100}
    )
    assert [sub.customer for sub in found.auto_paging_iter()] == [customer.id]


def test_response_headers_are_found_by_any_spelling() -> None:
    headers = CaseInsensitiveHeaders({"Request-Id": "req_1"})
    assert headers["request-id"] == headers["REQUEST-ID"] == "req_1"
    assert "request-id" in headers
    assert 42 not in headers  # type: ignore[comparison-overlap]
    assert list(headers) == ["Request-Id"]
    assert len(headers) == 1
