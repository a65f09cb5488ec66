"""Acceptance: subscriptions made in localstripe, delivered as its signed webhooks to the local
stack, drive the entitlements the API answers.

localstripe speaks Stripe API 2017-08-15: the subscription carries `plan` (no `price`) and
`current_period_end` at the top level; a cancellation (`DELETE /v1/subscriptions/<id>`) sends
`customer.subscription.deleted` with status `canceled`; it never sends
`customer.subscription.updated`. It delivers each event once, about a second after the call,
in no guaranteed order, and does not retry.
"""

from __future__ import annotations

from typing import Any

import pytest

from billing_devstack.launcher import wait_until
from tests.acceptance.conftest import FEATURE, PRICE_ID, PROJECT_ID, Acceptance

pytestmark = pytest.mark.acceptance

FOLLOW_TIMEOUT = 30.0
# A card localstripe attaches and charges without complaint (its declining numbers differ).
CARD = {
    "type": "card",
    "card[number]": "4242424242424242",
    "card[exp_month]": "12",
    "card[exp_year]": "2099",
    "card[cvc]": "123",
}


def subscribe(acceptance: Acceptance, user_id: str) -> str:
    """A paying customer of localstripe subscribed to PRICE_ID, both tagged with the owner;
    returns the subscription id (active: its first invoice is paid at once)."""
    stripe = acceptance.stripe
    owner = {"metadata[project_id]": PROJECT_ID, "metadata[user_id]": user_id}
    card = stripe.call("POST", "/v1/payment_methods", CARD)["id"]
    customer = stripe.call(
        "POST",
        "/v1/customers",
        {"payment_method": card, "invoice_settings[default_payment_method]": card, **owner},
    )["id"]
    subscription: dict[str, Any] = stripe.call(
        "POST", "/v1/subscriptions", {"customer": customer, "items[0][plan]": PRICE_ID, **owner}
    )
    assert subscription["status"] == "active", subscription
    return str(subscription["id"])


def cancel(acceptance: Acceptance, subscription_id: str) -> None:
    canceled = acceptance.stripe.call("DELETE", f"/v1/subscriptions/{subscription_id}")
    assert canceled["status"] == "canceled", canceled


def events_about(acceptance: Acceptance, subscription_id: str) -> dict[str, str]:
    """event id → type of the subscription events localstripe made for ``subscription_id``."""
    listed = acceptance.stripe.call("GET", "/v1/events", {"limit": "100"})
    return {
        event["id"]: event["type"]
        for event in listed["data"]
        if event["type"].startswith("customer.subscription.")
        and event["data"]["object"]["id"] == subscription_id
    }


def test_localstripe_webhooks_reach_the_stack_signed_and_are_recorded(
    acceptance: Acceptance,
) -> None:
    """The plumbing under the acceptance: localstripe's signature is accepted by the receiver,
    and the consumer records each event (by id) in WebhookEventsTable."""
    subscription = subscribe(acceptance, "user_acc_events")
    cancel(acceptance, subscription)
    sent = events_about(acceptance, subscription)
    assert sorted(sent.values()) == [
        "customer.subscription.created",
        "customer.subscription.deleted",
    ]

    def all_recorded() -> bool:
        recorded = acceptance.recorded_events()
        return all(recorded.get(event_id) == kind for event_id, kind in sent.items())

    assert wait_until(all_recorded, FOLLOW_TIMEOUT, 0.5), acceptance.report("user_acc_events")
    deliveries = [
        line for line in acceptance.stripe.log_text().splitlines() if line.startswith("webhook ")
    ]
    assert deliveries, acceptance.stripe.log_text()[-2000:]
    assert all("successfully delivered" in line for line in deliveries), deliveries


def test_entitlements_follow_a_localstripe_subscription_through_create_and_cancel(
    acceptance: Acceptance,
) -> None:
    user = "user_acc"
    assert not acceptance.feature_active(user, FEATURE), acceptance.entitlements(user)

    subscription = subscribe(acceptance, user)
    assert wait_until(lambda: acceptance.feature_active(user, FEATURE), FOLLOW_TIMEOUT, 0.5), (
        f"{FEATURE} never became active:\n{acceptance.report(user)}"
    )

    cancel(acceptance, subscription)
    assert wait_until(lambda: not acceptance.feature_active(user, FEATURE), FOLLOW_TIMEOUT, 0.5), (
        f"{FEATURE} stayed active after the cancellation:\n{acceptance.report(user)}"
    )
