"""Stripe objects as the API version the SDK pins returns them, built from Stripe's fixtures.

``shapes.json`` holds one example of each resource, copied from Stripe's published
``fixtures3.json`` with example noise (random amounts, placeholder URLs) replaced by what a
fresh test-mode object carries. Builders fill in what the stand-in knows, so every object has
every field a client may read. API version notes: periods live on subscription items, an
invoice names its subscription under ``parent.subscription_details``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from billing_devstack.stripe_standin.store import Obj, new_id

API_VERSION = "2026-10-28.endive"
_SHAPES = Path(__file__).with_name("shapes.json")


@cache
def _shapes() -> Mapping[str, Obj]:
    loaded: dict[str, Obj] = json.loads(_SHAPES.read_text(encoding="utf-8"))
    return loaded


def template(kind: str) -> Obj:
    """A fresh copy of the example object of ``kind`` (a key of shapes.json)."""
    return copy.deepcopy(_shapes()[kind])


def merge_metadata(current: Mapping[str, str], update: Mapping[str, str]) -> dict[str, str]:
    """Stripe's metadata update: keys are set one by one; an empty value deletes the key."""
    merged = {**current, **update}
    return {key: value for key, value in merged.items() if value != ""}


def update_metadata(obj: Obj, raw: Mapping[str, Any], params: Mapping[str, Any]) -> None:
    """Apply an update's ``metadata``: merged key by key, and ``metadata=`` (empty) clears it
    all, as at Stripe."""
    if "metadata" not in params:
        return
    if raw.get("metadata") == "":
        obj["metadata"] = {}
    else:
        obj["metadata"] = merge_metadata(obj["metadata"], params["metadata"])


def customer(created: int, params: Mapping[str, Any]) -> Obj:
    """``POST /v1/customers``: the parameters the stand-in takes, over the fixture."""
    obj = template("customer")
    obj.update(id=new_id("cus"), created=created, invoice_prefix=new_id("")[1:9].upper())
    for key in ("email", "name", "description", "phone", "metadata", "preferred_locales"):
        if key in params:
            obj[key] = params[key]
    return obj


def product(object_id: str, created: int, name: str, params: Mapping[str, Any]) -> Obj:
    """A product; Stripe lets callers choose its id."""
    obj = template("product")
    obj.update(id=object_id, created=created, updated=created, name=name)
    for key in ("description", "metadata", "active"):
        if key in params:
            obj[key] = params[key]
    return obj


def price(object_id: str, created: int, product_id: str, params: Mapping[str, Any]) -> Obj:
    """A price; ``recurring`` (interval, interval_count) makes it a subscription price."""
    obj = template("price")
    amount = int(params["unit_amount"])
    obj.update(
        id=object_id,
        created=created,
        product=product_id,
        currency=str(params["currency"]).lower(),
        unit_amount=amount,
        unit_amount_decimal=str(amount),
    )
    recurring = params.get("recurring")
    if recurring:
        obj["type"] = "recurring"
        obj["recurring"] = {
            "interval": recurring["interval"],
            "interval_count": int(recurring.get("interval_count") or 1),
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        }
    for key in ("nickname", "lookup_key", "metadata", "active"):
        if key in params:
            obj[key] = params[key]
    return obj


def plan_of(price_obj: Obj) -> Obj:
    """The legacy ``plan`` Stripe still puts beside ``price`` on subscription items."""
    obj = template("plan")
    recurring = price_obj["recurring"] or {}
    obj.update(
        id=price_obj["id"],
        created=price_obj["created"],
        currency=price_obj["currency"],
        amount=price_obj["unit_amount"],
        amount_decimal=price_obj["unit_amount_decimal"],
        product=price_obj["product"],
        nickname=price_obj["nickname"],
        metadata=copy.deepcopy(price_obj["metadata"]),
        interval=recurring.get("interval", "month"),
        interval_count=recurring.get("interval_count", 1),
        active=price_obj["active"],
    )
    return obj


def checkout_item(price_obj: Obj, quantity: int, description: str) -> Obj:
    """One of a Checkout Session's ``line_items`` (shown on expand only)."""
    amount = price_obj["unit_amount"] * quantity
    return {
        "id": new_id("li"),
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": price_obj["currency"],
        "description": description,
        "metadata": {},
        "price": copy.deepcopy(price_obj),
        "quantity": quantity,
    }


def portal_session(created: int, base_url: str, params: Mapping[str, Any]) -> Obj:
    """A billing portal session; its ``url`` is the stand-in's own portal page."""
    obj = template("portal.session")
    session_id = new_id("bps")
    obj.update(
        id=session_id,
        created=created,
        customer=params["customer"],
        return_url=params.get("return_url"),
        locale=params.get("locale"),
        configuration=params.get("configuration") or "bpc_standin_default",
        url=f"{base_url}/portal/{session_id}",
    )
    return obj


def subscription_item(price_obj: Obj, quantity: int, created: int, period: tuple[int, int]) -> Obj:
    """An item with its own billing period (API 2025-03-31 and later)."""
    obj = template("subscription_item")
    obj.update(
        id=new_id("si"),
        created=created,
        price=copy.deepcopy(price_obj),
        plan=plan_of(price_obj),
        quantity=quantity,
        current_period_start=period[0],
        current_period_end=period[1],
    )
    return obj


def subscription(created: int, customer_id: str, item: Obj, metadata: Mapping[str, str]) -> Obj:
    """A subscription around one item; the caller sets status, trial and latest invoice."""
    obj = template("subscription")
    sub_id = new_id("sub")
    item["subscription"] = sub_id
    obj.update(
        id=sub_id,
        created=created,
        start_date=created,
        billing_cycle_anchor=created,
        customer=customer_id,
        currency=item["price"]["currency"],
        metadata=dict(metadata),
        items={
            "object": "list",
            "data": [item],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
    )
    return obj


def invoice(
    created: int,
    sub: Obj,
    billing_reason: str,
    subtotal: int,
    label: str,
    *,
    discounts: Sequence[tuple[str, int]] = (),
) -> Obj:
    """A finalized invoice for the subscription's current period (one line per item), less
    ``discounts`` (each discount's id and what it takes off)."""
    obj = template("invoice")
    invoice_id = new_id("in")
    item = sub["items"]["data"][0]
    period = (item["current_period_start"], item["current_period_end"])
    discount_amounts = [{"amount": off, "discount": discount_id} for discount_id, off in discounts]
    amount = subtotal - sum(off for _, off in discounts)
    line = invoice_line(invoice_id, sub, item, subtotal, label)
    line["discount_amounts"] = copy.deepcopy(discount_amounts)
    obj.update(
        id=invoice_id,
        created=created,
        customer=sub["customer"],
        currency=sub["currency"],
        billing_reason=billing_reason,
        number=f"{invoice_id[3:11].upper()}-0001",
        period_start=period[0],
        period_end=period[1],
        effective_at=created,
        amount_due=amount,
        amount_remaining=amount,
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=amount,
        total_excluding_tax=amount,
        discounts=[discount_id for discount_id, _ in discounts],
        total_discount_amounts=discount_amounts,
        parent={
            "quote_details": None,
            "subscription_details": {
                "metadata": copy.deepcopy(sub["metadata"]),
                "subscription": sub["id"],
            },
            "type": "subscription_details",
        },
        lines={
            "object": "list",
            "data": [line],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
    )
    obj["status_transitions"]["finalized_at"] = created
    return obj


def invoice_line(invoice_id: str, sub: Obj, item: Obj, amount: int, label: str) -> Obj:
    """The line of a subscription invoice, pointing at the subscription item it bills."""
    obj = template("line_item")
    price_obj = item["price"]
    obj.update(
        id=new_id("il"),
        invoice=invoice_id,
        amount=amount,
        subtotal=amount,
        currency=price_obj["currency"],
        quantity=item["quantity"],
        description=f"{item['quantity']} \N{MULTIPLICATION SIGN} {label}",
        metadata=copy.deepcopy(sub["metadata"]),
        period={"start": item["current_period_start"], "end": item["current_period_end"]},
        parent={
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        pricing={
            "price_details": {"price": price_obj["id"], "product": price_obj["product"]},
            "type": "price_details",
            "unit_amount_decimal": price_obj["unit_amount_decimal"],
        },
    )
    return obj


def invoice_payment(created: int, invoice_obj: Obj, intent_id: str) -> Obj:
    """The payment of an invoice by a payment intent (``/v1/invoice_payments``, and the
    invoice's ``payments`` on expand), ``paid`` once the invoice is."""
    obj = template("invoice_payment")
    obj.update(
        id=new_id("inpay"),
        created=created,
        currency=invoice_obj["currency"],
        invoice=invoice_obj["id"],
        amount_requested=invoice_obj["amount_due"],
        payment={"type": "payment_intent", "payment_intent": intent_id},
    )
    if invoice_obj["status"] == "paid":
        settle_payment(obj, invoice_obj)
    return obj


def settle_payment(payment: Obj, invoice_obj: Obj) -> None:
    """The invoice is paid: so is its payment, at the same time."""
    payment.update(status="paid", amount_paid=invoice_obj["amount_paid"])
    payment["status_transitions"]["paid_at"] = invoice_obj["status_transitions"]["paid_at"]


def payment_intent(created: int, amount: int, currency: str, customer_id: str | None) -> Obj:
    """A payment intent that succeeded by card (the caller may turn it into a failure)."""
    obj = template("payment_intent")
    intent_id = new_id("pi")
    obj.update(
        id=intent_id,
        created=created,
        amount=amount,
        amount_received=amount,
        currency=currency,
        customer=customer_id,
        client_secret=f"{intent_id}_secret_{new_id('')[1:]}",
        payment_method=new_id("pm"),
    )
    return obj


def charge(created: int, intent: Obj, base_url: str) -> Obj:
    """The charge of a payment intent, succeeded unless the intent failed."""
    obj = template("charge")
    charge_id = new_id("ch")
    amount = intent["amount"]
    obj.update(
        id=charge_id,
        created=created,
        amount=amount,
        amount_captured=amount,
        currency=intent["currency"],
        customer=intent["customer"],
        payment_intent=intent["id"],
        payment_method=intent["payment_method"],
        metadata=copy.deepcopy(intent["metadata"]),
        balance_transaction=new_id("txn"),
        receipt_url=f"{base_url}/receipts/{charge_id}",
        refunds={
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/charges/{charge_id}/refunds",
        },
    )
    obj["payment_method_details"]["card"]["amount_authorized"] = amount
    return obj


def refund(created: int, charge_obj: Obj, amount: int, reason: str | None) -> Obj:
    """A succeeded card refund of part or all of a charge."""
    obj = template("refund")
    obj.update(
        id=new_id("re"),
        created=created,
        amount=amount,
        currency=charge_obj["currency"],
        charge=charge_obj["id"],
        payment_intent=charge_obj["payment_intent"],
        payment_method=charge_obj["payment_method"],
        balance_transaction=new_id("txn"),
        reason=reason,
    )
    return obj


def coupon(coupon_id: str, created: int, params: Mapping[str, Any]) -> Obj:
    """A coupon: ``percent_off`` or ``amount_off`` in ``currency``, for a ``duration``."""
    obj = template("coupon")
    obj.update(id=coupon_id, created=created)
    for key in (
        "percent_off",
        "amount_off",
        "duration",
        "duration_in_months",
        "name",
        "metadata",
        "max_redemptions",
        "redeem_by",
    ):
        if key in params:
            obj[key] = params[key]
    if "currency" in params:
        obj["currency"] = str(params["currency"]).lower()
    return obj


def discount(
    start: int, coupon_id: str, customer_id: str, subscription_id: str | None, end: int | None
) -> Obj:
    """A coupon applied to a subscription from ``start`` (until ``end``, if it ends)."""
    obj = template("discount")
    obj.update(
        id=new_id("di"),
        start=start,
        end=end,
        customer=customer_id,
        subscription=subscription_id,
        source={"coupon": coupon_id, "type": "coupon"},
    )
    return obj


# Visa's reason code for each dispute reason a test may give (the stand-in's cards are Visa).
_VISA_REASON_CODES = {
    "credit_not_processed": "13.6",
    "duplicate": "12.6.1",
    "fraudulent": "10.4",
    "product_not_received": "13.1",
    "product_unacceptable": "13.3",
    "subscription_canceled": "13.2",
}
DISPUTE_FEE = 1500  # what Stripe withdraws for handling a dispute (15.00 USD)
EVIDENCE_WINDOW = 21 * 86_400  # how long the merchant has to answer


def dispute(created: int, charge_obj: Obj, amount: int, reason: str) -> Obj:
    """A card chargeback of ``amount`` of a charge, waiting for the merchant's evidence; its
    funds are withdrawn at once (the first of its ``balance_transactions``)."""
    obj = template("dispute")
    dispute_id = new_id("dp")
    obj.update(
        id=dispute_id,
        created=created,
        amount=amount,
        currency=charge_obj["currency"],
        charge=charge_obj["id"],
        payment_intent=charge_obj["payment_intent"],
        reason=reason,
    )
    obj["evidence_details"]["due_by"] = created + EVIDENCE_WINDOW
    obj["payment_method_details"]["card"]["network_reason_code"] = _VISA_REASON_CODES.get(reason)
    withdrawal = balance_transaction(created, -amount, obj, fee=DISPUTE_FEE)
    withdrawal["description"] = f"Chargeback withdrawal for {charge_obj['id']}"
    obj["balance_transactions"] = [withdrawal]
    return obj


def balance_transaction(created: int, amount: int, source: Obj, *, fee: int = 0) -> Obj:
    """A movement of the account's balance caused by ``source`` (a dispute's withdrawal or
    reinstatement), net of Stripe's fee."""
    obj = template("balance_transaction")
    obj.update(
        id=new_id("txn"),
        created=created,
        available_on=created,
        amount=amount,
        currency=source["currency"],
        fee=fee,
        net=amount - fee,
        source=source["id"],
    )
    if fee:
        obj["fee_details"] = [
            {
                "amount": fee,
                "application": None,
                "currency": source["currency"],
                "description": "Dispute fee",
                "type": "stripe_fee",
            }
        ]
    return obj


def event(
    created: int,
    event_type: str,
    *,
    data_object: Obj,
    previous: Mapping[str, Any] | None,
    request: Mapping[str, str | None],
    pending_webhooks: int,
) -> Obj:
    """An event carrying a full copy of the object; ``previous_attributes`` on updates."""
    obj = template("event")
    data: Obj = {"object": copy.deepcopy(data_object)}
    if previous is not None:
        data["previous_attributes"] = copy.deepcopy(dict(previous))
    obj.update(
        id=new_id("evt"),
        api_version=API_VERSION,
        created=created,
        type=event_type,
        data=data,
        request=dict(request),
        pending_webhooks=pending_webhooks,
    )
    return obj
