"""A customer disputes a charge with their bank, and the dispute runs its course: what Stripe
does when a cardholder files a chargeback, on demand (``/_standin/charges/<id>/dispute``,
``/_standin/disputes/<id>/update`` and ``/close``).

The funds are withdrawn as the dispute opens (``charge.dispute.created``, then
``charge.dispute.funds_withdrawn``); submitting evidence puts it ``under_review``
(``charge.dispute.updated``); the bank's decision closes it ``won`` or ``lost``
(``charge.dispute.closed``, then ``charge.dispute.funds_reinstated`` when won).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from billing_devstack.stripe_standin import objects
from billing_devstack.stripe_standin.errors import invalid
from billing_devstack.stripe_standin.events import EventLog, changed
from billing_devstack.stripe_standin.store import Obj, Store

# Stripe's dispute.reason values.
REASONS = (
    "bank_cannot_process",
    "check_returned",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "noncompliant",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
)
_OPEN = ("needs_response", "under_review")


class Disputes:
    """Opens, updates and closes disputes, with Stripe's events."""

    def __init__(self, store: Store, events: EventLog, clock: Callable[[], int]) -> None:
        self._store = store
        self._events = events
        self._clock = clock

    def open(self, charge_id: str, amount: int | None, reason: str) -> Obj:
        """A chargeback of ``amount`` (default: all) of a succeeded charge, its first one."""
        charge = self._store.get("charge", charge_id)
        if charge["status"] != "succeeded":
            raise invalid(f"Charge {charge_id} did not succeed: there is nothing to dispute.")
        if charge["disputed"]:
            raise invalid(f"Charge {charge_id} is already disputed.")
        amount = charge["amount"] if amount is None else amount
        if not 1 <= amount <= charge["amount"]:
            raise invalid(
                f"amount must be between 1 and the charge's amount ({charge['amount']}).",
                param="amount",
            )
        dispute = self._store.put(objects.dispute(self._clock(), charge, amount, reason))
        charge["disputed"] = True
        self._events.emit("charge.dispute.created", dispute)
        self._events.emit("charge.dispute.funds_withdrawn", dispute)
        return dispute

    def submit_evidence(self, dispute_id: str) -> Obj:
        """The merchant answers: ``needs_response`` -> ``under_review``."""
        dispute = self._store.get("dispute", dispute_id)
        if dispute["status"] != "needs_response":
            raise invalid(
                f"Dispute {dispute_id} is {dispute['status']}: evidence is submitted while it "
                "needs_response."
            )
        before = copy.deepcopy(dispute)
        dispute["status"] = "under_review"
        details = dispute["evidence_details"]
        details.update(has_evidence=True, submission_count=details["submission_count"] + 1)
        self._events.emit("charge.dispute.updated", dispute, changed(before, dispute))
        return dispute

    def close(self, dispute_id: str, outcome: str) -> Obj:
        """The bank decides: ``won`` gives the funds back, ``lost`` keeps them withdrawn."""
        dispute = self._store.get("dispute", dispute_id)
        if dispute["status"] not in _OPEN:
            raise invalid(f"Dispute {dispute_id} is already closed ({dispute['status']}).")
        dispute["status"] = outcome
        if outcome == "won":
            reinstated = objects.balance_transaction(self._clock(), dispute["amount"], dispute)
            reinstated.update(
                description=f"Chargeback reversal for {dispute['charge']}",
                reporting_category="dispute_reversal",
            )
            dispute["balance_transactions"].append(reinstated)
        self._events.emit("charge.dispute.closed", dispute)
        if outcome == "won":
            self._events.emit("charge.dispute.funds_reinstated", dispute)
        return dispute
