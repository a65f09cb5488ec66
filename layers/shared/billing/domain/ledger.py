"""One change of the billing ledger: what an event makes the service write, all at once."""

from __future__ import annotations

from dataclasses import dataclass

from billing.domain.billing_facts import Fact
from billing.domain.entitlements import EntitlementSource
from billing.domain.stripe_events import StripeEventEnvelope


@dataclass(frozen=True)
class LedgerChange:
    """The event's processed mark, the fact it changed (``previous_version`` is what was read:
    None when the fact is new) and the (project, user) entitlement record rewritten from it
    (``record_version`` read: 0 when there was none)."""

    event: StripeEventEnvelope
    fact: Fact
    previous_version: int | None
    sources: list[EntitlementSource]
    record_version: int
