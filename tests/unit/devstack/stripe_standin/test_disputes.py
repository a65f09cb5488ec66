"""Disputes: a chargeback opened, answered and decided on demand, with Stripe's objects and
events, read back through ``/v1/disputes`` with the SDK's typed params."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.unit.devstack.stripe_standin.conftest import START, SUCCESS_URL, Harness

CHECKOUT = (
    "mode=payment&line_items[0][price]=price_once&line_items[0][quantity]=1"
    f"&success_url={SUCCESS_URL}"
)
DAY = 86_400


def paid_charge(harness: Harness) -> dict[str, Any]:
    session = harness.call("POST", "/v1/checkout/sessions", CHECKOUT)[2]
    ids = harness.standin.pay_checkout(session["id"])
    harness.deliver()
    return ids


def control(harness: Harness, path: str, body: str = "") -> tuple[int, Any]:
    status, _, answer = harness.call("POST", f"/_standin/{path}", body, key=None)
    return status, answer


def disputed(harness: Harness, body: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    ids = paid_charge(harness)
    status, dispute = control(harness, f"charges/{ids['charge']}/dispute", body)
    assert status == 200, dispute
    return ids, dispute


def test_a_dispute_opens_needing_a_response_with_its_funds_withdrawn(harness: Harness) -> None:
    harness.clock.now += 60
    ids, dispute = disputed(harness)
    assert dispute["id"].startswith("dp_")
    assert (dispute["object"], dispute["status"], dispute["reason"]) == (
        "dispute",
        "needs_response",
        "fraudulent",
    )
    assert (dispute["charge"], dispute["payment_intent"]) == (ids["charge"], ids["payment_intent"])
    assert (dispute["amount"], dispute["currency"], dispute["created"]) == (2500, "usd", START + 60)
    assert dispute["is_charge_refundable"] is False
    assert dispute["evidence_details"] == {
        "due_by": START + 60 + 21 * DAY,
        "has_evidence": False,
        "past_due": False,
        "submission_count": 0,
        "enhanced_eligibility": {},
    }
    [withdrawal] = dispute["balance_transactions"]
    assert (withdrawal["object"], withdrawal["type"], withdrawal["reporting_category"]) == (
        "balance_transaction",
        "adjustment",
        "dispute",
    )
    assert (withdrawal["amount"], withdrawal["fee"], withdrawal["net"]) == (-2500, 1500, -4000)
    assert withdrawal["source"] == dispute["id"]
    assert harness.call("GET", f"/v1/charges/{ids['charge']}")[2]["disputed"] is True
    assert harness.deliver() == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]
    assert [event["data"]["object"]["id"] for event in harness.outbox.events()[-2:]] == [
        dispute["id"]
    ] * 2


def test_disputes_are_listed_and_expanded_through_the_sdk(
    client: stripe.StripeClient, harness: Harness
) -> None:
    ids, dispute = disputed(harness, '{"amount": 1000, "reason": "product_not_received"}')
    found = client.v1.disputes.list(params={"payment_intent": ids["payment_intent"]})
    [listed] = found.data
    assert isinstance(listed, stripe.Dispute)
    assert (listed.id, listed.amount, listed.reason) == (
        dispute["id"],
        1000,
        "product_not_received",
    )
    assert [item.id for item in client.v1.disputes.list(params={"charge": ids["charge"]})] == [
        dispute["id"]
    ]
    assert client.v1.disputes.list(params={"charge": "ch_other"}).data == []
    assert client.v1.disputes.list(params={"created": {"gt": START}}).data == []
    shown = client.v1.disputes.retrieve(
        dispute["id"], params={"expand": ["charge", "payment_intent"]}
    )
    assert isinstance(shown.charge, stripe.Charge)
    assert shown.charge.disputed is True
    assert isinstance(shown.payment_intent, stripe.PaymentIntent)
    assert shown.payment_intent.id == ids["payment_intent"]


def test_evidence_puts_it_under_review(harness: Harness) -> None:
    _, dispute = disputed(harness)
    harness.deliver()
    status, updated = control(harness, f"disputes/{dispute['id']}/update")
    assert (status, updated["status"]) == (200, "under_review")
    assert updated["evidence_details"]["has_evidence"] is True
    assert harness.deliver() == ["charge.dispute.updated"]
    previous = harness.outbox.events()[-1]["data"]["previous_attributes"]
    assert previous["status"] == "needs_response"
    assert previous["evidence_details"]["submission_count"] == 0
    status, answer = control(harness, f"disputes/{dispute['id']}/update")
    assert (status, answer["error"]["type"]) == (400, "invalid_request_error")


def test_a_won_dispute_gives_the_funds_back_and_closes_once(harness: Harness) -> None:
    _, dispute = disputed(harness)
    control(harness, f"disputes/{dispute['id']}/update")
    harness.deliver()
    status, closed = control(harness, f"disputes/{dispute['id']}/close", '{"outcome": "won"}')
    assert (status, closed["status"]) == (200, "won")
    assert harness.deliver() == ["charge.dispute.closed", "charge.dispute.funds_reinstated"]
    reinstated = closed["balance_transactions"][-1]
    assert (reinstated["amount"], reinstated["net"], reinstated["reporting_category"]) == (
        2500,
        2500,
        "dispute_reversal",
    )
    status, answer = control(harness, f"disputes/{dispute['id']}/close", '{"outcome": "lost"}')
    assert status == 400
    assert set(answer["error"]) == {"message", "type", "request_log_url"}
    assert "already closed" in answer["error"]["message"]
    assert harness.call("GET", f"/v1/disputes/{dispute['id']}")[2]["status"] == "won"
    assert harness.deliver() == []


def test_a_lost_dispute_keeps_the_funds(harness: Harness) -> None:
    _, dispute = disputed(harness)
    harness.deliver()
    status, closed = control(harness, f"disputes/{dispute['id']}/close", '{"outcome": "lost"}')
    assert (status, closed["status"], len(closed["balance_transactions"])) == (200, "lost", 1)
    assert harness.deliver() == ["charge.dispute.closed"]


def test_a_disputed_charge_cannot_be_refunded(
    client: stripe.StripeClient, harness: Harness
) -> None:
    ids, _ = disputed(harness)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create(params={"charge": ids["charge"]})
    assert (refused.value.code, refused.value.http_status) == ("charge_disputed", 400)
    assert client.v1.refunds.list().data == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ('{"amount": 0}', "amount"),
        ('{"amount": 2501}', "amount"),
        ('{"reason": "bored"}', "reason"),
        ('{"amount": "10"}', "amount"),
        ('{"evidence": 1}', "evidence"),
    ],
)
def test_the_dispute_control_refuses_bad_bodies(harness: Harness, body: str, param: str) -> None:
    ids = paid_charge(harness)
    status, answer = control(harness, f"charges/{ids['charge']}/dispute", body)
    assert (status, answer["error"]["param"]) == (400, param)
    assert harness.call("GET", "/v1/disputes")[2]["data"] == []
    assert harness.call("GET", f"/v1/charges/{ids['charge']}")[2]["disputed"] is False


@pytest.mark.parametrize(("body", "param"), [("{}", "outcome"), ('{"outcome": "draw"}', "outcome")])
def test_closing_needs_an_outcome(harness: Harness, body: str, param: str) -> None:
    _, dispute = disputed(harness)
    status, answer = control(harness, f"disputes/{dispute['id']}/close", body)
    assert (status, answer["error"]["param"]) == (400, param)


def test_a_charge_is_disputed_once_and_must_exist(harness: Harness) -> None:
    ids, _ = disputed(harness)
    status, answer = control(harness, f"charges/{ids['charge']}/dispute")
    assert (status, "already disputed" in answer["error"]["message"]) == (400, True)
    assert control(harness, "charges/ch_missing/dispute")[0] == 404
    assert control(harness, "disputes/dp_missing/close", '{"outcome": "won"}')[0] == 404
