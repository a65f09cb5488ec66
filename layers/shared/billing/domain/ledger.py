"""One change of the billing ledger: what an event makes the service write, all at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from billing.domain.billing_facts import Fact, Owner
from billing.domain.entitlement_rules import PriceTerms
from billing.domain.entitlements import EntitlementSource
from billing.domain.grants import AuditEntry
from billing.domain.status_history import StatusEntry
from billing.domain.stripe_events import StripeEventEnvelope

if TYPE_CHECKING:  # not at run time: the entitlement read imports this module, not the log's
    from billing.domain.change_log import ChangeCause


@dataclass(frozen=True)
class FactChange:
    """A fact to write, and the version it had when read (None: it is new)."""

    fact: Fact
    previous_version: int | None


@dataclass(frozen=True)
class LedgerChange:
    """The event's processed mark, the facts it changed (one object's, and for a paid invoice
    the payment too; all of one user) and the (project, user) entitlement record rewritten
    from them (``record_version`` read: 0 when there was none), with the audit entries of a
    repair (webhooks write none), the status history entries of the subscription's
    changed state, and ``cause``, which goes into the change log beside the record
    (None: the Stripe event itself)."""

    event: StripeEventEnvelope
    facts: tuple[FactChange, ...]
    sources: list[EntitlementSource]
    record_version: int
    audit: tuple[AuditEntry, ...] = ()
    history: tuple[StatusEntry, ...] = ()
    cause: ChangeCause | None = None

    @property
    def owner(self) -> Owner:
        return self.facts[0].fact.owner


@dataclass(frozen=True)
class LedgerState:
    """What one read of the ledger found (one round trip): whether the event is processed,
    the stored facts asked for, and, when an owner was named, the (project, user) record (its
    sources and version: 0 when none) and the project's grace period; the prices asked for;
    which of the subscription facts found were stored before the status history began."""

    processed: bool = False
    facts: dict[str, Fact] = field(default_factory=dict)
    record: tuple[list[EntitlementSource], int] | None = None
    grace_days: int | None = None
    prices: dict[str, PriceTerms] = field(default_factory=dict)
    unrecorded: frozenset[str] = frozenset()
