"""Checkout and portal handlers with the real Stripe SDK and gateway, against the stand-in
in process (no sockets): what Stripe receives, and what comes back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import pytest
import stripe

from billing import wiring
from billing.adapters.stripe_gateway import StripePaymentGateway, build_client
from billing.domain.tenancy import Price
from billing.services import tenancy
from billing_devstack.stripe_standin import StripeStandIn
from billing_devstack.stripe_standin.sdk_client import InProcessHTTPClient
from tests.support.lambda_runtime import invoke, json_body, load_event

BASE = "http://standin.invalid"


@pytest.fixture
def standin(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeStandIn]:
    now = datetime.now(UTC)
    projects, prices = wiring.project_store(), wiring.price_store()
    tenancy.create_project(projects, name="space_journal", project_id=1, now=now)
    prices.put(Price("price_123", "1", ("pro",), 900, "usd", "month"))
    prices.put(Price("price_life", "1", ("pro",), 4900, "usd", "one_time"))
    prices.put(Price("price_not_in_stripe", "1", ("pro",), 100, "usd", "month"))
    fake = StripeStandIn(base_url=BASE)
    fake.register_price("price_123", 900, "usd", {"interval": "month"})
    fake.register_price("price_life", 4900, "usd", None)
    gateway = StripePaymentGateway(build_client("sk_test_unit", BASE, InProcessHTTPClient(fake)))
    # Same shape as the real one (cached, so wiring.reset() can clear it).
    monkeypatch.setattr(wiring, "payment_gateway", lru_cache(maxsize=1)(lambda: gateway))
    yield fake


def sdk(fake: StripeStandIn) -> stripe.StripeClient:
    return build_client("sk_test_unit", BASE, InProcessHTTPClient(fake))


def checkout(**changes: Any) -> dict[str, Any]:
    event = load_event("checkout_session.json")
    event["body"] = json.dumps({**json.loads(event["body"]), **changes})
    response: dict[str, Any] = invoke("checkout_session", event)
    return response


def test_a_subscription_checkout_maps_every_later_object_back(standin: StripeStandIn) -> None:
    response = checkout()
    assert response["statusCode"] == 200, response["body"]
    body = json_body(response)
    assert body["checkout_url"] == f"{BASE}/checkout/{body['session_id']}"
    client = sdk(standin)
    session = client.v1.checkout.sessions.retrieve(body["session_id"])
    tenancy_metadata = {"project_id": "1", "user_id": "user_42", "price_id": "price_123"}
    assert session.metadata is not None
    assert session.metadata.to_dict() == tenancy_metadata
    assert session.client_reference_id == "1:user_42"
    customer = client.v1.customers.retrieve(str(session.customer))
    assert customer.metadata is not None
    assert (customer.metadata["project_id"], customer.metadata["user_id"]) == ("1", "user_42")

    created = standin.pay_checkout(body["session_id"])
    subscription = client.v1.subscriptions.retrieve(created["subscription"])
    assert subscription.metadata is not None
    assert subscription.metadata.to_dict() == tenancy_metadata


def test_a_payment_checkout_puts_the_tenancy_on_the_payment_intent(
    standin: StripeStandIn,
) -> None:
    body = json_body(checkout(price_id="price_life", mode="payment"))
    created = standin.pay_checkout(body["session_id"])
    intent = sdk(standin).v1.payment_intents.retrieve(created["payment_intent"])
    assert intent.metadata is not None and intent.metadata["user_id"] == "user_42"


def test_a_retried_checkout_is_one_stripe_session(standin: StripeStandIn) -> None:
    first, again = json_body(checkout()), json_body(checkout())
    assert first == again
    sessions = sdk(standin).v1.checkout.sessions.list()
    assert len(sessions.data) == 1


def test_stripe_refusing_the_request_answers_400_with_its_message(
    standin: StripeStandIn,
) -> None:
    response = checkout(price_id="price_not_in_stripe")
    assert response["statusCode"] == 400
    body = json_body(response)
    assert body["message"].startswith("Stripe: No such price")
    assert body["stripe_request_id"].startswith("req_")


def test_the_portal_opens_on_the_customer_of_the_checkout(standin: StripeStandIn) -> None:
    portal_event = load_event("portal_session.json")
    before = invoke("portal_session", portal_event)
    assert before["statusCode"] == 404
    checkout()
    after = invoke("portal_session", load_event("portal_session.json"))
    assert after["statusCode"] == 200
    assert json_body(after)["portal_url"].startswith(f"{BASE}/portal/")


def test_a_body_missing_a_field_is_422_naming_it(standin: StripeStandIn) -> None:
    event = load_event("checkout_session.json")
    event["body"] = json.dumps({k: v for k, v in json.loads(event["body"]).items() if k != "mode"})
    response = invoke("checkout_session", event)
    assert response["statusCode"] == 422
    assert [e["field"] for e in json_body(response)["errors"]] == ["mode"]


@pytest.mark.parametrize("value", ["yes", "off", 1, 0, "true", None])
def test_allow_promotion_codes_is_a_json_boolean_or_422(standin: StripeStandIn, value: Any) -> None:
    """It was lax ("yes", "off", 1 went through) while usage's enforce was strict."""
    response = checkout(allow_promotion_codes=value)
    assert response["statusCode"] == 422, response["body"]
    assert [e["field"] for e in json_body(response)["errors"]] == ["allow_promotion_codes"]
    assert sdk(standin).v1.checkout.sessions.list().data == []
    assert checkout(allow_promotion_codes=True)["statusCode"] == 200


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("success_url", "https:// /"),
        ("cancel_url", "https://exa mple.com/"),
        ("success_url", " https://app.example.com/ok"),  # not stripped into a valid one
        ("cancel_url", "https://app.example.com/ok\n"),
        ("success_url", "https://@app.example.com/ok"),
    ],
)
def test_a_malformed_return_url_is_422_naming_it_and_stripe_sees_nothing(
    standin: StripeStandIn, field: str, url: str
) -> None:
    response = checkout(**{field: url})
    assert response["statusCode"] == 422, response["body"]
    assert [e["field"] for e in json_body(response)["errors"]] == [field]
    client = sdk(standin)
    assert client.v1.checkout.sessions.list().data == []
    assert client.v1.customers.list().data == []


def test_a_malformed_portal_return_url_is_422_naming_it(standin: StripeStandIn) -> None:
    checkout()
    event = load_event("portal_session.json")
    event["body"] = json.dumps({**json.loads(event["body"]), "return_url": "https://a\tb.com/"})
    response = invoke("portal_session", event)
    assert response["statusCode"] == 422, response["body"]
    assert [e["field"] for e in json_body(response)["errors"]] == ["return_url"]
