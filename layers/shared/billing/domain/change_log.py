"""The change log of entitlement records: one entry per change of a (project, user) record.

Every writer of the record (the webhook engine, reconciliation, grants and revokes) appends an
entry in the same transaction as the record, under the record's new version, which only grows
by one per write. An entry holds the whole state after the change (every source, with the
internal fields needed to evaluate it at any later moment) and what caused it, so:

- a project backend is pushed the full state and the version: it keeps the newest version it
  saw and ignores an older one, whatever order deliveries arrive in;
- what a user had at a past moment is the newest entry at or before it, evaluated then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from billing.domain.clock import to_iso
from billing.domain.entitlements import EntitlementSource, EntitlementView, evaluate

CauseKind = Literal["stripe_event", "reconciliation", "grant", "revoke"]
CHANGE_EVENT_TYPE = "entitlements.updated"


@dataclass(frozen=True)
class ChangeCause:
    """What made the change: a Stripe event (its id), a reconciliation run (its id and the
    object it repaired), or a support grant or revoke (the grant's id and who did it)."""

    kind: CauseKind
    event_id: str | None = None
    run_id: str | None = None
    grant_id: str | None = None
    actor: str | None = None

    def to_api(self) -> dict[str, str]:
        """Only the fields this kind of cause has."""
        fields = {
            "event_id": self.event_id,
            "run_id": self.run_id,
            "grant_id": self.grant_id,
            "actor": self.actor,
        }
        return {"kind": self.kind, **{k: v for k, v in fields.items() if v is not None}}


@dataclass(frozen=True)
class ChangeEntry:
    """The (project, user) record as one write left it: ``version`` is the record's."""

    project_id: str
    user_id: str
    version: int
    at: datetime
    sources: tuple[EntitlementSource, ...]
    cause: ChangeCause

    def views(self, moment: datetime | None = None) -> list[EntitlementView]:
        """The sources as the API shows them, evaluated at ``moment`` (default: the change)."""
        return evaluate(list(self.sources), moment or self.at)

    def to_api(self, moment: datetime | None = None) -> dict[str, object]:
        """One change as the history route and the outbound webhooks show it."""
        return {
            "version": self.version,
            "changed_at": to_iso(self.at),
            "cause": self.cause.to_api(),
            "entitlements": [view.to_api() for view in self.views(moment)],
        }


def stripe_event_cause(event_id: str) -> ChangeCause:
    return ChangeCause("stripe_event", event_id=event_id)


def reconciliation_cause(run_id: str, event_id: str) -> ChangeCause:
    """A repair of a run; ``event_id`` is the synthetic event the repair was applied as."""
    return ChangeCause("reconciliation", event_id=event_id, run_id=run_id)


def support_cause(action: Literal["grant", "revoke"], grant_id: str, actor: str) -> ChangeCause:
    return ChangeCause(action, grant_id=grant_id, actor=actor)


def dated_before(moment: datetime) -> datetime:
    """The exclusive upper bound of the changes in force at ``moment``. The API dates changes
    to the second (``changed_at``), so a change is in force from its second on: asking at the
    ``changed_at`` a change shows gives that change, not the one before it."""
    return moment.replace(microsecond=0) + timedelta(seconds=1)


def state_at(entries: list[ChangeEntry], moment: datetime) -> ChangeEntry | None:
    """The entry in force at ``moment``: the newest one changed at or before it, to the
    second (None: the user had no record yet). The highest version is the newest."""
    bound = dated_before(moment)
    earlier = [entry for entry in entries if entry.at < bound]
    return max(earlier, key=lambda entry: entry.version, default=None)


def change_payload(entry: ChangeEntry) -> dict[str, object]:
    """The body of an outbound ``entitlements.updated`` webhook (Standard Webhooks' shape:
    ``type``, ``timestamp``, ``data``): the full state after the change, its version and its
    cause, so a receiver keeps the highest version it saw and ignores older deliveries."""
    return {
        "type": CHANGE_EVENT_TYPE,
        "timestamp": to_iso(entry.at),
        "data": {
            "project_id": entry.project_id,
            "user_id": entry.user_id,
            **entry.to_api(),
        },
    }
