"""Stripe events built from Stripe's own fixture objects (tests/fixtures/stripe/), changing only
what a test is about, in the current API shape or the older one."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe"
OWNER = {"project_id": "1", "user_id": "user_42"}


@cache
def _fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def fixture(name: str) -> dict[str, Any]:
    return copy.deepcopy(_fixture(name))


def applied_at(created: int, not_before: datetime) -> datetime:
    """When a test's consumer applies an event created at ``created``: never before Stripe sent
    it (the engine refuses an event dated in its future), and not before ``not_before``."""
    return max(not_before, datetime.fromtimestamp(created, UTC))


def event(event_type: str, obj: dict[str, Any], created: int, event_id: str | None = None) -> str:
    """A raw Stripe event, as the queue holds it."""
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": created,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
            "data": {"object": obj},
        }
    )


def subscription(
    sub_id: str = "sub_1",
    *,
    status: str = "active",
    prices: tuple[str, ...] = ("price_pro",),
    period_end: int = 2_000_000_000,
    metadata: dict[str, str] | None = None,
    customer: str = "cus_1",
    cancel_at_period_end: bool = False,
    trial_end: int | None = None,
    start: int = 1_700_000_000,
    legacy: bool = False,
    quantities: tuple[int, ...] = (),
    discounts: list[Any] | None = None,
    terms: Mapping[str, tuple[int, str, str, int]] | None = None,
) -> dict[str, Any]:
    """A subscription; ``terms`` gives a price's (unit_amount, currency, interval,
    interval_count) as its item embeds it (otherwise the fixture's: 2000 usd a month)."""
    sub = fixture("subscription")
    template = sub["items"]["data"][0]
    items = []
    for index, price_id in enumerate(prices):
        item = copy.deepcopy(template)
        item.update(id=f"si_{sub_id}_{index}", subscription=sub_id)
        item["price"]["id"] = price_id
        item["plan"]["id"] = price_id
        item.update(current_period_start=start, current_period_end=period_end)
        item["quantity"] = quantities[index] if index < len(quantities) else 1
        if terms and price_id in terms:
            amount, currency, interval, count = terms[price_id]
            item["price"].update(unit_amount=amount, unit_amount_decimal=str(amount),
                                 currency=currency)  # fmt: skip
            item["price"]["recurring"].update(interval=interval, interval_count=count)
            item["plan"].update(amount=amount, amount_decimal=str(amount), currency=currency,
                                interval=interval, interval_count=count)  # fmt: skip
        if legacy:
            del item["current_period_start"], item["current_period_end"]
        items.append(item)
    sub["items"]["data"] = items
    sub.update(
        id=sub_id,
        status=status,
        customer=customer,
        metadata=OWNER if metadata is None else metadata,
        cancel_at_period_end=cancel_at_period_end,
        trial_end=trial_end,
        start_date=start,
        created=start,
        ended_at=None,
        canceled_at=None,
        cancel_at=None,
        discounts=list(discounts or []),
    )
    if legacy:  # before 2025-03-31: the period on the subscription, one plan
        sub.update(current_period_start=start, current_period_end=period_end)
        sub["plan"] = copy.deepcopy(items[0]["plan"])
    return sub


def invoice(
    sub_id: str = "sub_1",
    *,
    period_end: int,
    legacy: bool = False,
    amount_paid: int = 900,
    currency: str = "usd",
) -> dict[str, Any]:
    inv = fixture("invoice")
    inv["id"] = f"in_{uuid.uuid4().hex[:12]}"
    inv.update(amount_paid=amount_paid, currency=currency)
    for line in inv["lines"]["data"]:
        line["period"] = {"start": period_end - 2_592_000, "end": period_end}
    if legacy:
        inv["parent"] = None
        inv["subscription"] = sub_id
    else:
        inv["parent"] = {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": OWNER, "subscription": sub_id},
        }
    return inv


def checkout_session(
    *,
    mode: str = "payment",
    payment_intent: str = "pi_1",
    price_id: str = "price_life",
    payment_status: str = "paid",
    amount: int = 4900,
    currency: str = "usd",
) -> dict[str, Any]:
    session = fixture("checkout_session")
    session.update(
        id=f"cs_{uuid.uuid4().hex[:12]}",
        mode=mode,
        payment_intent=payment_intent if mode == "payment" else None,
        subscription="sub_1" if mode == "subscription" else None,
        customer="cus_1",
        payment_status=payment_status,
        amount_total=amount,
        currency=currency,
        metadata={**OWNER, "price_id": price_id},
        client_reference_id="1:user_42",
    )
    return session


def payment_intent(
    pi_id: str = "pi_1", *, price_id: str | None = "price_life", amount: int = 4900
) -> dict[str, Any]:
    intent = fixture("payment_intent")
    metadata = {**OWNER, "price_id": price_id} if price_id else {}
    intent.update(id=pi_id, amount=amount, currency="usd", customer="cus_1", metadata=metadata)
    return intent


def charge(pi_id: str = "pi_1", *, amount: int = 4900, amount_refunded: int) -> dict[str, Any]:
    ch = fixture("charge")
    ch.update(
        id=f"ch_{uuid.uuid4().hex[:12]}",
        payment_intent=pi_id,
        amount=amount,
        amount_refunded=amount_refunded,
        refunded=amount_refunded >= amount,
        metadata={},
    )
    return ch


def dispute(
    dispute_id: str = "dp_1",
    *,
    pi_id: str = "pi_1",
    charge_id: str = "ch_1",
    status: str = "needs_response",
    amount: int = 4900,
    created: int = 1_700_000_000,
) -> dict[str, Any]:
    found = fixture("dispute")
    found.update(
        id=dispute_id,
        payment_intent=pi_id,
        charge=charge_id,
        status=status,
        amount=amount,
        currency="usd",
        created=created,
    )
    return found


def invoice_payment(invoice_id: str, pi_id: str, *, amount: int, paid_at: int) -> dict[str, Any]:
    """Stripe's link between a subscription invoice and the payment intent that paid it."""
    found = fixture("invoice_payment")
    found.update(
        id=f"inpay_{invoice_id}",
        invoice=invoice_id,
        amount_paid=amount,
        amount_requested=amount,
        currency="usd",
        created=paid_at,
        livemode=False,
        is_default=True,
        status="paid",
        payment={"type": "payment_intent", "payment_intent": pi_id},
        status_transitions={"canceled_at": None, "paid_at": paid_at},
    )
    return found


def refund(
    refund_id: str = "re_1",
    *,
    pi_id: str = "pi_1",
    charge_id: str = "ch_1",
    amount: int = 4900,
    status: str = "succeeded",
) -> dict[str, Any]:
    found = fixture("refund")
    found.update(id=refund_id, payment_intent=pi_id, charge=charge_id, amount=amount, status=status)
    return found
