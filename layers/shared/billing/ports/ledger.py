"""The webhook consumer's ports: the billing ledger the engine reads and writes, and
Stripe's objects for the events whose payload cannot decide."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from billing.domain.billing_facts import Owner
from billing.domain.ledger import LedgerChange, LedgerState
from billing.domain.stripe_events import StripeEventEnvelope
from billing.domain.stripe_reads import StripeRead


class BillingLedger(Protocol):
    """What the entitlement engine reads and writes; ``commit`` is one transaction."""

    def read(
        self,
        *,
        event_id: str | None = None,
        fact_ids: Iterable[str] = (),
        owner: Owner | None = None,
        price_ids: Iterable[str] = (),
    ) -> LedgerState:
        """Whatever of these is asked, in one round trip: the event's processed mark, the
        stored facts, the owner's entitlement record and project grace period, the prices."""

    def owner_of_customer(self, customer_id: str) -> Owner | None: ...

    def commit(self, change: LedgerChange, now: datetime) -> bool:
        """Write the processed mark, the facts and the entitlement record together, each
        conditional on what was read; False when a condition refused it (nothing written)."""

    def record(self, event: StripeEventEnvelope, outcome: str, now: datetime) -> bool:
        """Only the processed mark (events that change nothing); False if already there."""


class StripeReader(Protocol):
    """Stripe's objects as they are now, for the events whose payload cannot decide.
    Each call is one Stripe request; ``None`` when Stripe has no such object. Stripe being
    unreachable, or out of time, raises PaymentProviderUnavailableError."""

    def subscription(self, subscription_id: str) -> StripeRead | None:
        """With ``latest_invoice`` expanded."""

    def payment_intent(self, payment_intent_id: str) -> StripeRead | None:
        """With ``latest_charge`` expanded."""

    def charge(self, charge_id: str) -> StripeRead | None: ...

    def invoice(self, invoice_id: str) -> StripeRead | None: ...

    def invoice_of_payment(self, payment_intent_id: str) -> str | None:
        """The invoice a payment intent paid (Stripe's invoice payments), or None."""

    def disputes(self, payment_intent_id: str) -> list[dict[str, Any]]:
        """Every dispute of the payment intent's charges."""
