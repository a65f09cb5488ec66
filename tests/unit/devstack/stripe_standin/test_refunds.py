"""Refunds: created through the API with Stripe's events, and failing afterwards (the card
could not take the money back), which gives the amount back to the charge."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.unit.devstack.stripe_standin.conftest import SUCCESS_URL, Harness

CHECKOUT = (
    "mode=payment&line_items[0][price]=price_once&line_items[0][quantity]=1"
    f"&success_url={SUCCESS_URL}"
)


def paid_charge(harness: Harness) -> dict[str, Any]:
    session = harness.call("POST", "/v1/checkout/sessions", CHECKOUT)[2]
    ids = harness.standin.pay_checkout(session["id"])
    harness.deliver()
    return ids


def control(harness: Harness, path: str, body: str = "") -> tuple[int, Any]:
    status, _, answer = harness.call("POST", f"/_standin/{path}", body, key=None)
    return status, answer


def test_a_refund_through_the_sdk_emits_stripes_events_with_its_metadata(
    client: stripe.StripeClient, harness: Harness
) -> None:
    ids = paid_charge(harness)
    refund = client.v1.refunds.create(
        params={
            "payment_intent": ids["payment_intent"],
            "amount": 500,
            "reason": "requested_by_customer",
            "metadata": {"ticket": "42"},
        }
    )
    assert (refund.status, refund.amount, refund.charge) == ("succeeded", 500, ids["charge"])
    assert harness.deliver() == ["charge.refunded", "refund.created"]
    charge_event, refund_event = harness.outbox.events()[-2:]
    assert charge_event["data"]["object"]["amount_refunded"] == 500
    assert charge_event["data"]["previous_attributes"] == {
        "amount_refunded": 0,
        "refunds": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/charges/{ids['charge']}/refunds",
        },
    }
    assert refund_event["data"]["object"]["metadata"] == {"ticket": "42"}
    assert "failure_reason" not in refund_event["data"]["object"]  # only once it failed


def test_a_failed_refund_gives_the_amount_back_to_the_charge(
    client: stripe.StripeClient, harness: Harness
) -> None:
    ids = paid_charge(harness)
    refund = client.v1.refunds.create(params={"charge": ids["charge"]})
    assert client.v1.charges.retrieve(ids["charge"]).refunded is True
    harness.deliver()

    status, failed = control(harness, f"refunds/{refund.id}/fail")
    assert status == 200
    assert harness.deliver() == ["refund.updated", "refund.failed", "charge.refund.updated"]
    assert (failed["status"], failed["failure_reason"]) == ("failed", "expired_or_canceled_card")
    assert failed["failure_balance_transaction"].startswith("txn_")
    updated, _, charge_refund_updated = harness.outbox.events()[-3:]
    previous = {"status": "succeeded", "failure_reason": None, "failure_balance_transaction": None}
    assert updated["data"]["previous_attributes"] == previous
    assert charge_refund_updated["data"]["previous_attributes"] == previous
    charge = client.v1.charges.retrieve(ids["charge"])
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    assert charge.refunds is not None
    assert [(item.id, item.status) for item in charge.refunds.data] == [(refund.id, "failed")]
    assert client.v1.refunds.retrieve(refund.id).status == "failed"
    again = client.v1.refunds.create(params={"charge": ids["charge"], "amount": 100})
    assert again.status == "succeeded"  # what failed can be refunded again


def test_a_partial_refund_fails_with_the_reason_given(harness: Harness) -> None:
    ids = paid_charge(harness)
    _, first = control(harness, f"charges/{ids['charge']}/refund", '{"amount": 1000}')
    control(harness, f"charges/{ids['charge']}/refund", '{"amount": 300}')
    status, failed = control(
        harness, f"refunds/{first['id']}/fail", '{"failure_reason": "lost_or_stolen_card"}'
    )
    assert (status, failed["failure_reason"]) == (200, "lost_or_stolen_card")
    charge = harness.call("GET", f"/v1/charges/{ids['charge']}")[2]
    assert (charge["amount_refunded"], charge["refunded"]) == (300, False)


@pytest.mark.parametrize(
    ("body", "param"), [('{"failure_reason": "bored"}', "failure_reason"), ('{"why": 1}', "why")]
)
def test_the_fail_control_refuses_bad_bodies(harness: Harness, body: str, param: str) -> None:
    ids = paid_charge(harness)
    _, refund = control(harness, f"charges/{ids['charge']}/refund")
    status, answer = control(harness, f"refunds/{refund['id']}/fail", body)
    assert (status, answer["error"]["param"]) == (400, param)
    assert harness.call("GET", f"/v1/refunds/{refund['id']}")[2]["status"] == "succeeded"


def test_a_refund_fails_once_and_must_exist(harness: Harness) -> None:
    ids = paid_charge(harness)
    _, refund = control(harness, f"charges/{ids['charge']}/refund")
    assert control(harness, f"refunds/{refund['id']}/fail")[0] == 200
    status, answer = control(harness, f"refunds/{refund['id']}/fail")
    assert (status, answer["error"]["type"]) == (400, "invalid_request_error")
    assert "failed" in answer["error"]["message"]
    status, answer = control(harness, "refunds/re_missing/fail")
    assert (status, answer["error"]["code"]) == (404, "resource_missing")
