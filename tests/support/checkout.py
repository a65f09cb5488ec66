"""A subscription bought through the Python client over the local stack: the Checkout
session opened by the client, then paid on the Stripe stand-in's Checkout page."""

from __future__ import annotations

from http import HTTPStatus

import requests

from billing_client import BillingClient


def pay_subscription_checkout(
    client: BillingClient, *, user: str, project: int | str, price: str, origin: str
) -> None:
    """Open a subscription Checkout for ``user`` and pay it at the stand-in (its 303 back to
    the success URL). The features arrive later, through the webhooks: wait for them."""
    session = client.create_checkout_session(
        user_id=user,
        project_id=project,
        price_id=price,
        mode="subscription",
        success_url=f"{origin}/ok",
        cancel_url=f"{origin}/cancel",
    )
    paid = requests.post(f"{session.checkout_url}/pay", allow_redirects=False, timeout=30)
    assert paid.status_code == HTTPStatus.SEE_OTHER, paid.text
