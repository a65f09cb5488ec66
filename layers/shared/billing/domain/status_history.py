"""The status history of subscriptions: each state a subscription fact took, and the moment it
took effect, appended in the same transaction as the fact and never rewritten. The metrics
read it, so a past window is computed from what was true then, whatever happened later.

When a state took effect:
- applied from an event: the event's ``created``;
- read from Stripe (a payload that could not decide) or observed by reconciliation: the
  state's own start (its end, its current period's start, the payment that revived it) or
  the event about this subscription that made the engine read it, whichever is later, and
  never before the stored version it replaces nor after the read itself.

A fact stored before the service kept a history has none: the first change of it also
appends the stored state, at its version (``BASELINE``), so nothing known is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from billing.domain.billing_facts import Fact, SubscriptionFact, same_state

BASELINE = "baseline"  # the cause of an entry for a state stored before the history began


@dataclass(frozen=True)
class StatusEntry:
    """One state of a subscription, in force from ``effective_at``; ``cause`` is the event (or
    reconciliation run) that wrote it, so an entry is written once whatever retries happen."""

    subscription: SubscriptionFact
    effective_at: int
    cause: str
    # When the service wrote it (None: not written yet). Two states can share the second they
    # took effect and their version (a repair observed in the second of the event it
    # corrects): the later write is the later state.
    recorded_at: datetime | None = None

    @property
    def version(self) -> int:
        return self.subscription.version


def effective_at(
    fact: SubscriptionFact,
    previous: Fact | None,
    *,
    event_created: int | None,
    began: int | None,
) -> int:
    """The moment ``fact`` took effect (see the module's rules): ``event_created`` is the
    time of the event about this subscription that brought it (None: the event was about
    something else), ``began`` the state's own start when it was read from Stripe."""
    floors = [t for t in (event_created, began) if t is not None]
    if previous is not None:
        floors.append(previous.version)
    return min(fact.version, max(floors, default=fact.version))


def entries_for(
    fact: Fact,
    previous: Fact | None,
    *,
    effective: int,
    cause: str,
    previous_recorded: bool,
) -> tuple[StatusEntry, ...]:
    """What a change of ``previous`` into ``fact`` appends: nothing for a payment, nor for a
    subscription whose state did not change (only its version); the stored state first when
    it was stored before the history began."""
    if not isinstance(fact, SubscriptionFact):
        return ()
    entries: list[StatusEntry] = []
    if isinstance(previous, SubscriptionFact) and not previous_recorded:
        entries.append(StatusEntry(previous, previous.version, BASELINE))
    if previous is None or not same_state(fact, previous):
        entries.append(StatusEntry(fact, effective, cause))
    return tuple(entries)
