"""``expand[]`` as Stripe answers it: ids become objects on every retrieve and list, lists of
ids too, hashes on the way are walked through, and anything else is refused in Stripe's words."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.unit.devstack.stripe_standin.conftest import SUCCESS_URL, Harness

CHECKOUT = (
    "mode=subscription&line_items[0][price]=price_123&line_items[0][quantity]=1"
    f"&success_url={SUCCESS_URL}"
)


def paid(harness: Harness) -> dict[str, Any]:
    session = harness.call("POST", "/v1/checkout/sessions", CHECKOUT)[2]
    return harness.standin.pay_checkout(session["id"])


def get(harness: Harness, path: str) -> Any:
    status, _, answer = harness.call("GET", path)
    assert status == 200, answer
    return answer


def test_ids_expand_on_retrieves_and_lists(client: stripe.StripeClient, harness: Harness) -> None:
    ids = paid(harness)
    intent = client.v1.payment_intents.retrieve(
        ids["payment_intent"], params={"expand": ["latest_charge"]}
    )
    assert isinstance(intent.latest_charge, stripe.Charge)
    assert intent.latest_charge.id == ids["charge"]
    sub = client.v1.subscriptions.retrieve(
        ids["subscription"], params={"expand": ["latest_invoice.payments", "customer"]}
    )
    assert isinstance(sub.latest_invoice, stripe.Invoice)
    assert sub.latest_invoice.payments is not None
    assert sub.latest_invoice.payments.data[0].payment.payment_intent == ids["payment_intent"]
    assert isinstance(sub.customer, stripe.Customer)
    invoices = client.v1.invoices.list(
        params={"expand": ["data.parent.subscription_details.subscription"]}
    )
    details = invoices.data[0].parent
    assert details is not None and details.subscription_details is not None
    assert isinstance(details.subscription_details.subscription, stripe.Subscription)


def test_an_expanded_path_given_twice_is_expanded_once(harness: Harness) -> None:
    ids = paid(harness)
    sub = get(
        harness,
        f"/v1/subscriptions/{ids['subscription']}?expand[]=customer&expand[]=customer",
    )
    assert sub["customer"]["id"] == ids["customer"]


def test_a_null_id_expands_to_null(harness: Harness) -> None:
    customer = harness.call("POST", "/v1/customers", "email=a@x.io")[2]
    assert (
        get(harness, f"/v1/customers/{customer['id']}?expand[]=default_source")["default_source"]
        is None
    )


@pytest.mark.parametrize(
    ("path", "expand", "message"),
    [
        ("/v1/subscriptions/{sub}", "metadata", "This property cannot be expanded (metadata)."),
        ("/v1/subscriptions/{sub}", "parent", "This property cannot be expanded (parent)."),
        ("/v1/subscriptions/{sub}", "items.data.price.nope", None),
        (
            "/v1/subscriptions",
            "customer",
            "This property cannot be expanded (customer). You may want to try expanding "
            "'data.customer' instead.",
        ),
        ("/v1/invoices/{invoice}", "parent.subscription_details", None),
    ],
)
def test_what_cannot_be_expanded_is_refused_like_stripe(
    harness: Harness, path: str, expand: str, message: str | None
) -> None:
    ids = paid(harness)
    url = path.format(sub=ids["subscription"], invoice=ids["invoice"])
    status, _, answer = harness.call("GET", f"{url}?expand[]={expand}")
    assert status == 400
    assert set(answer["error"]) == {"message", "type", "request_log_url"}  # no param, as Stripe
    assert answer["error"]["message"] == (
        message or f"This property cannot be expanded ({expand})."
    )
