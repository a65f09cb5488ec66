"""What happens at Stripe between API calls: a customer pays, a period renews, a card fails,
someone cancels or refunds. Each flow changes the objects, then emits Stripe's events.

Event order within a flow is fixed (see README.md) so tests can rely on it; Stripe itself
promises no order, which the service must tolerate anyway. Time does not move: a renewal starts
the next period at the end of the current one, whatever the clock says (like a test clock
advanced to the period's end).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from billing_devstack.stripe_standin import objects
from billing_devstack.stripe_standin.coupons import Coupons
from billing_devstack.stripe_standin.errors import invalid
from billing_devstack.stripe_standin.events import EventLog, changed
from billing_devstack.stripe_standin.periods import DAY, period_after
from billing_devstack.stripe_standin.store import Obj, Store, new_id

RETRY_AFTER = 3 * DAY  # when Stripe's smart retries would try a failed invoice again
_ENDED = ("canceled", "incomplete_expired")


class Flows:
    """The state changes of the stand-in's pages and ``/_standin`` controls."""

    def __init__(
        self,
        store: Store,
        events: EventLog,
        coupons: Coupons,
        clock: Callable[[], int],
        base_url: Callable[[], str],
    ) -> None:
        self._store = store
        self._events = events
        self._coupons = coupons
        self._clock = clock
        self._base_url = base_url

    # ------------------------------------------------------------------ checkout
    def complete_checkout(self, session_id: str) -> dict[str, Any]:
        """Pay an open session as a customer would; returns the ids of what it created."""
        session = self._store.get("checkout.session", session_id)
        self._check_open(session)
        created_customer = self._ensure_customer(session)
        customer = self._store.get("customer", session["customer"])
        session["customer_details"] = _customer_details(customer)
        line = self._store.hidden(session_id, "line_items")["data"][0]
        if session["mode"] == "subscription":
            emit = self._start_subscription(session, customer, line)
        else:
            emit = self._pay_once(session, line)
        session["status"] = "complete"
        self._events.emit("checkout.session.completed", session)
        for event_type, obj in emit:
            self._events.emit(event_type, obj)
        return {
            "checkout_session": session_id,
            "customer": session["customer"],
            "customer_created": created_customer,
            "subscription": session["subscription"],
            "invoice": session["invoice"],
            "payment_intent": self._paying_intent(session),
            "charge": self._paying_charge(session),
            "success_url": session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id),
        }

    def expire_checkout(self, session_id: str) -> Obj:
        """An open session reaches ``expires_at`` unpaid (``checkout.session.expired``)."""
        session = self._store.get("checkout.session", session_id)
        self._check_open(session)
        session.update(status="expired", url=None)
        self._events.emit("checkout.session.expired", session)
        return session

    def _check_open(self, session: Obj) -> None:
        if session["status"] != "open":
            raise invalid(f"This Checkout Session is {session['status']}: it cannot be paid.")
        if self._clock() > session["expires_at"]:
            raise invalid("This Checkout Session has expired.")

    def _ensure_customer(self, session: Obj) -> bool:
        if session["customer"]:
            return False
        email = session["customer_email"] or "customer@example.com"
        customer = self._store.put(objects.customer(self._clock(), {"email": email}))
        session["customer"] = customer["id"]
        self._events.emit("customer.created", customer)
        return True

    def _start_subscription(self, session: Obj, customer: Obj, line: Obj) -> list[tuple[str, Obj]]:
        now = self._clock()
        price = self._store.get("price", line["price"]["id"])
        data: dict[str, Any] = self._store.noted(session["id"], "subscription_data", {})
        trial_days = data.get("trial_period_days")
        period = (now, now + trial_days * DAY) if trial_days else period_after(now, price)
        item = objects.subscription_item(price, line["quantity"], now, period)
        sub = self._store.put(
            objects.subscription(now, customer["id"], item, data.get("metadata", {}))
        )
        if trial_days:
            sub.update(
                status="trialing",
                trial_start=now,
                trial_end=period[1],
                billing_cycle_anchor=period[1],
            )
        discounts = [
            self._coupons.apply(coupon, customer["id"], sub["id"])
            for coupon in self._session_coupons(session)
        ]
        sub["discounts"] = [discount["id"] for discount in discounts]
        subtotal = 0 if trial_days else line["amount_subtotal"]
        invoice, intent = self._invoice(sub, "subscription_create", subtotal, paid=True)
        customer["currency"] = sub["currency"]
        session.update(
            subscription=sub["id"],
            invoice=invoice["id"],
            payment_status="paid" if intent else "no_payment_required",
        )
        emit = [("customer.subscription.created", sub)]
        emit += [("customer.discount.created", discount) for discount in discounts]
        emit += [("invoice.payment_succeeded", invoice), ("invoice.paid", invoice)]
        return emit + ([("payment_intent.succeeded", intent)] if intent else [])

    def _session_coupons(self, session: Obj) -> list[Obj]:
        """The coupons a session's ``discounts`` name (checked when it was created)."""
        return [self._store.get("coupon", entry["coupon"]) for entry in session["discounts"] or []]

    def _pay_once(self, session: Obj, line: Obj) -> list[tuple[str, Obj]]:
        for coupon in self._session_coupons(session):
            self._coupons.redeem(coupon)
        if not session["amount_total"]:  # all discounted: nothing to pay, no payment intent
            session["payment_status"] = "no_payment_required"
            return []
        now = self._clock()
        intent = objects.payment_intent(
            now, session["amount_total"], session["currency"], session["customer"]
        )
        data: dict[str, Any] = self._store.noted(session["id"], "payment_intent_data", {})
        intent["metadata"] = dict(data.get("metadata", {}))
        intent["description"] = line["description"]
        self._charge(intent, now)
        session.update(payment_intent=intent["id"], payment_status="paid")
        return [("payment_intent.succeeded", intent)]

    def _paying_intent(self, session: Obj) -> str | None:
        if session["payment_intent"]:
            return str(session["payment_intent"])
        payments = self._store.hidden(session["invoice"] or "", "payments")
        return str(payments["data"][0]["payment"]["payment_intent"]) if payments else None

    def _paying_charge(self, session: Obj) -> str | None:
        intent_id = self._paying_intent(session)
        if intent_id is None:
            return None
        return str(self._store.get("payment_intent", intent_id)["latest_charge"])

    # ------------------------------------------------------------------ money
    def _charge(self, intent: Obj, now: int) -> Obj:
        charge = self._store.put(objects.charge(now, intent, self._base_url()))
        intent["latest_charge"] = charge["id"]
        self._store.put(intent)
        return charge

    def _invoice(
        self, sub: Obj, reason: str, subtotal: int, *, paid: bool
    ) -> tuple[Obj, Obj | None]:
        """A subscription invoice for its current period, less the discounts in force, paid
        (or failed) by card; no payment when nothing is due (then it is paid anyway)."""
        now = self._clock()
        item = sub["items"]["data"][0]
        label = self._product_name(item["price"]["product"])
        start = item["current_period_start"]
        discounts = self._coupons.take_off(sub["discounts"], subtotal, at=start)
        invoice = self._store.put(
            objects.invoice(now, sub, reason, subtotal, label, discounts=discounts)
        )
        amount = invoice["amount_due"]
        paid = paid or not amount
        invoice.update(attempted=True, attempt_count=1)
        sub["latest_invoice"] = invoice["id"]
        intent = None
        if amount:
            intent = objects.payment_intent(now, amount, sub["currency"], sub["customer"])
            intent["description"] = (
                "Subscription creation"
                if reason == "subscription_create"
                else "Subscription update"
            )
            charge = self._charge(intent, now)
            sub["default_payment_method"] = intent["payment_method"]
            if not paid:
                _decline(intent, charge)
        if paid:
            invoice.update(status="paid", amount_paid=amount, amount_remaining=0)
            invoice["status_transitions"]["paid_at"] = now
        else:
            invoice.update(status="open", next_payment_attempt=now + RETRY_AFTER)
        if intent is not None:
            self._record_payment(objects.invoice_payment(now, invoice, intent["id"]))
        return invoice, intent

    def _record_payment(self, payment: Obj) -> None:
        """Store (or replace) an invoice's payment, and show it as the invoice's ``payments``."""
        self._store.put(payment)
        invoice_id = payment["invoice"]
        url = f"/v1/invoice_payments?invoice={invoice_id}"
        self._store.hide(invoice_id, "payments", _list([copy.deepcopy(payment)], url))

    def _product_name(self, product_id: str) -> str:
        if self._store.has(product_id, "product"):
            return str(self._store.get("product", product_id)["name"])
        return product_id

    # ------------------------------------------------------------------ subscriptions
    def renew(self, sub_id: str, *, paid: bool = True) -> dict[str, Any]:
        """The period ends: a new period and its invoice (its price x quantity, less the
        discounts still in force), paid or declined; a subscription set to cancel by then
        ends instead. Discounts that ended are removed (``customer.discount.deleted``)."""
        sub = self.live_subscription(sub_id)
        item = sub["items"]["data"][0]
        if sub["cancel_at"] is not None and sub["cancel_at"] <= item["current_period_end"]:
            return self._end(sub)
        before = copy.deepcopy(sub)
        start, end = period_after(item["current_period_end"], item["price"])
        item.update(current_period_start=start, current_period_end=end)
        ended = [
            self._store.get("discount", discount_id)
            for discount_id in sub["discounts"]
            if not self._coupons.in_force(discount_id, start)
        ]
        sub["discounts"] = [d for d in sub["discounts"] if d not in {e["id"] for e in ended}]
        subtotal = item["price"]["unit_amount"] * item["quantity"]
        invoice, intent = self._invoice(sub, "subscription_cycle", subtotal, paid=paid)
        paid = invoice["status"] == "paid"
        sub["status"] = "active" if paid else "past_due"
        for event_type, obj in _renewal_events(invoice, intent, paid=paid):
            self._events.emit(event_type, obj)
        self._events.emit("customer.subscription.updated", sub, changed(before, sub))
        for discount in ended:
            self._events.emit("customer.discount.deleted", discount)
        return {
            "subscription": sub_id,
            "status": sub["status"],
            "invoice": invoice["id"],
            "payment_intent": intent["id"] if intent else None,
            "charge": intent["latest_charge"] if intent else None,
        }

    def mark_unpaid(self, sub_id: str) -> Obj:
        """A ``past_due`` subscription whose retries ran out: ``unpaid`` (Stripe's setting
        for what to do after the last retry)."""
        sub = self._store.get("subscription", sub_id)
        if sub["status"] != "past_due":
            raise invalid(
                f"Subscription {sub_id} is {sub['status']}: only a past_due one becomes unpaid."
            )
        before = copy.deepcopy(sub)
        sub["status"] = "unpaid"
        self._events.emit("customer.subscription.updated", sub, changed(before, sub))
        return sub

    def pay_invoice(self, invoice_id: str, payment_method: str | None = None) -> Obj:
        """Pay an open invoice now (``POST /v1/invoices/<id>/pay``): its payment intent
        succeeds with a new charge; the subscription it is the latest invoice of, when
        ``past_due`` or ``unpaid``, is ``active`` again. Everything is dated this second."""
        invoice = self._store.get("invoice", invoice_id)
        if invoice["status"] == "paid":
            raise invalid("Invoice is already paid")
        if invoice["status"] != "open":
            raise invalid(f"Invoice {invoice_id} is {invoice['status']}: it cannot be paid.")
        now = self._clock()
        sub = self._store.get("subscription", _subscription_of(invoice))
        before = copy.deepcopy(sub)
        invoice.update(
            status="paid",
            amount_paid=invoice["amount_due"],
            amount_remaining=0,
            attempted=True,
            attempt_count=invoice["attempt_count"] + 1,
            next_payment_attempt=None,
        )
        invoice["status_transitions"]["paid_at"] = now
        intent = self._settle_intent(invoice, now, payment_method)
        if sub["latest_invoice"] == invoice_id and sub["status"] in ("past_due", "unpaid"):
            sub["status"] = "active"
        for event_type, obj in _renewal_events(invoice, intent, paid=True):
            self._events.emit(event_type, obj)
        if sub != before:
            self._events.emit("customer.subscription.updated", sub, changed(before, sub))
        return invoice

    def _settle_intent(self, invoice: Obj, now: int, payment_method: str | None) -> Obj | None:
        """The invoice's payment intent succeeds, with a new charge, and so does its invoice
        payment; None when the invoice had no payment intent."""
        payments = self._store.hidden(invoice["id"], "payments")
        if not payments:
            return None
        payment = self._store.get("invoice_payment", payments["data"][0]["id"])
        intent = self._store.get("payment_intent", payment["payment"]["payment_intent"])
        intent.update(
            status="succeeded",
            amount_received=intent["amount"],
            last_payment_error=None,
            payment_method=payment_method or intent["payment_method"],
        )
        self._charge(intent, now)
        objects.settle_payment(payment, invoice)
        self._record_payment(payment)
        return intent

    def cancel(self, sub_id: str, *, at_period_end: bool) -> dict[str, Any]:
        """Cancel now (``customer.subscription.deleted``) or at the period's end (an update)."""
        sub = self.live_subscription(sub_id)
        if not at_period_end:
            sub["canceled_at"] = self._clock()
            sub["cancellation_details"]["reason"] = "cancellation_requested"
            return self._end(sub)
        before = copy.deepcopy(sub)
        self.schedule_cancel(sub, sub["items"]["data"][0]["current_period_end"], at_period_end=True)
        self._events.emit("customer.subscription.updated", sub, changed(before, sub))
        return {"subscription": sub_id, "status": sub["status"], "cancel_at": sub["cancel_at"]}

    def schedule_cancel(self, sub: Obj, cancel_at: int | None, *, at_period_end: bool) -> None:
        """Set when the subscription will end (``cancel_at_period_end`` only when asked so:
        a ``cancel_at`` is a time of its own), or with None, that it will not."""
        requested = cancel_at is not None
        sub.update(
            cancel_at=cancel_at,
            cancel_at_period_end=requested and at_period_end,
            canceled_at=self._clock() if requested else None,
        )
        sub["cancellation_details"]["reason"] = "cancellation_requested" if requested else None

    def _end(self, sub: Obj) -> dict[str, Any]:
        now = self._clock()
        sub.update(status="canceled", ended_at=now, canceled_at=sub["canceled_at"] or now)
        self._events.emit("customer.subscription.deleted", sub)
        return {"subscription": sub["id"], "status": "canceled", "ended_at": now}

    def live_subscription(self, sub_id: str) -> Obj:
        """A subscription that has not ended (anything else is refused, as at Stripe)."""
        sub = self._store.get("subscription", sub_id)
        if sub["status"] in _ENDED:
            raise invalid(
                "A canceled subscription can only update its cancellation_details and metadata."
            )
        return sub

    # ------------------------------------------------------------------ refunds
    def refund(
        self,
        charge_id: str,
        amount: int | None,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Obj:
        """Refund all that is left of a charge, or ``amount`` of it."""
        charge = self._store.get("charge", charge_id, param="charge")
        if charge["disputed"]:
            raise invalid(
                f"Charge {charge_id} has been charged back; cannot issue a refund.",
                code="charge_disputed",
            )
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        if charge["status"] != "succeeded" or remaining <= 0:
            raise invalid(
                f"Charge {charge_id} has already been refunded."
                if charge["refunded"]
                else f"Charge {charge_id} has no captured amount to refund.",
                code="charge_already_refunded" if charge["refunded"] else None,
            )
        amount = remaining if amount is None else amount
        if not 1 <= amount <= remaining:
            raise invalid(
                f"Refund amount ({amount}) must be between 1 and the unrefunded amount on the "
                f"charge ({remaining}).",
                param="amount",
            )
        before = copy.deepcopy(charge)
        refund = self._store.put(objects.refund(self._clock(), charge, amount, reason))
        refund["metadata"] = dict(metadata or {})
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        refunds = charge["refunds"]
        refunds["data"].insert(0, copy.deepcopy(refund))
        refunds["total_count"] = len(refunds["data"])
        self._events.emit("charge.refunded", charge, changed(before, charge))
        self._events.emit("refund.created", refund)
        return refund

    def fail_refund(self, refund_id: str, failure_reason: str) -> Obj:
        """The card could not take the money back: the refund ``failed`` and its amount is
        the charge's again (``refund.updated``, ``refund.failed``, ``charge.refund.updated``)."""
        refund = self._store.get("refund", refund_id)
        if refund["status"] not in ("succeeded", "pending"):
            raise invalid(
                f"Refund {refund_id} is {refund['status']}: only a succeeded or pending refund "
                "can fail."
            )
        before = copy.deepcopy(refund)
        refund.update(
            status="failed",
            failure_reason=failure_reason,
            failure_balance_transaction=new_id("txn"),
        )
        charge = self._store.get("charge", refund["charge"])
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = False
        charge["refunds"]["data"] = [
            copy.deepcopy(refund) if shown["id"] == refund_id else shown
            for shown in charge["refunds"]["data"]
        ]
        previous = changed(before, refund)
        self._events.emit("refund.updated", refund, previous)
        self._events.emit("refund.failed", refund)
        self._events.emit("charge.refund.updated", refund, previous)
        return refund


def _renewal_events(invoice: Obj, intent: Obj | None, *, paid: bool) -> list[tuple[str, Obj]]:
    """Stripe's invoice and payment events of a renewal, before the subscription's update."""
    if paid:
        emit = [("invoice.payment_succeeded", invoice), ("invoice.paid", invoice)]
        return emit + ([("payment_intent.succeeded", intent)] if intent else [])
    emit = [("invoice.payment_failed", invoice)]
    return emit + ([("payment_intent.payment_failed", intent)] if intent else [])


def _subscription_of(invoice: Obj) -> str:
    """The subscription a subscription invoice bills (under ``parent`` in this API version)."""
    return str(invoice["parent"]["subscription_details"]["subscription"])


def _decline(intent: Obj, charge: Obj) -> None:
    """Turn a paid intent and its charge into Stripe's generic card decline."""
    error = {
        "charge": charge["id"],
        "code": "card_declined",
        "decline_code": "generic_decline",
        "doc_url": "https://stripe.com/docs/error-codes/card-declined",
        "message": "Your card was declined.",
        "type": "card_error",
    }
    intent.update(status="requires_payment_method", amount_received=0, last_payment_error=error)
    charge.update(
        status="failed",
        paid=False,
        captured=False,
        amount_captured=0,
        failure_code="card_declined",
        failure_message="Your card was declined.",
    )
    charge["outcome"].update(
        network_status="declined_by_network",
        reason="generic_decline",
        seller_message="The bank did not return any further details with this decline.",
        type="issuer_declined",
    )


def _customer_details(customer: Obj) -> Obj:
    return {
        "address": None,
        "business_name": None,
        "email": customer["email"],
        "individual_name": None,
        "name": customer["name"],
        "phone": customer["phone"],
        "tax_exempt": "none",
        "tax_ids": [],
    }


def _list(data: list[Obj], url: str) -> Obj:
    return {"object": "list", "data": data, "has_more": False, "total_count": len(data), "url": url}
