"""The change log of entitlement records on DynamoDB: one item per (project#user, version).

Items are written only inside the transactions that write the entitlement record (the ledger's
commit, the grant store's write), through :func:`change_log_item`, with a does-not-exist
condition: a version is logged once, and never rewritten. The table's stream feeds the
outbound webhooks; its ``by_time`` index answers "as of a moment" with one Query.

Not imported by the hot paths (the entitlement read, the authorizer, the receiver): the
ledger and the grant store import it when they write.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import AllProjection, LocalSecondaryIndex
from pynamodb.models import Model

from billing.adapters.dynamo.errors import dynamo_errors, get_or_none
from billing.adapters.dynamo.models import (
    EntitlementSourceAttribute,
    _Meta,
    entitlement_key,
    register_models,
)
from billing.adapters.dynamo.stores import source_from_item, source_to_item
from billing.domain.change_log import CauseKind, ChangeCause, ChangeEntry, dated_before

# changed_at as stored: sortable text, to the microsecond (the API shows whole seconds).
_STORED_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"
_HASH, _RANGE, _TIME = "project_user", "version", "changed_at"  # the model's keys


class ChangeCauseAttribute(MapAttribute[str, Any]):
    kind = UnicodeAttribute()
    event_id = UnicodeAttribute(null=True)
    run_id = UnicodeAttribute(null=True)
    grant_id = UnicodeAttribute(null=True)
    actor = UnicodeAttribute(null=True)


class ChangesByTime(LocalSecondaryIndex["ChangeLogModel"]):  # type: ignore[no-untyped-call]
    """One user's changes in time order: "as of a moment" and "between two moments"."""

    class Meta:
        index_name = "by_time"
        projection = AllProjection()

    project_user = UnicodeAttribute(hash_key=True)
    changed_at = UnicodeAttribute(range_key=True)


class ChangeLogModel(Model):
    """One change of a (project, user) entitlement record, never updated or deleted."""

    class Meta(_Meta):
        pass

    project_user = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(range_key=True)
    project_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    changed_at = UnicodeAttribute()
    sources = ListAttribute(of=EntitlementSourceAttribute, default=list)
    cause = ChangeCauseAttribute()  # type: ignore[no-untyped-call]

    by_time = ChangesByTime()


register_models({ChangeLogModel: "entitlement_changes_table_name"})


def _stored_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_STORED_TIME)


def change_log_item(entry: ChangeEntry) -> tuple[ChangeLogModel, Condition]:
    """The item of one write of the record, and its condition: that version is not logged
    yet. Written in the record's own transaction, by its writers only."""
    cause = entry.cause
    item = ChangeLogModel(
        entitlement_key(entry.project_id, entry.user_id),
        entry.version,
        project_id=entry.project_id,
        user_id=entry.user_id,
        changed_at=_stored_time(entry.at),
        sources=[source_to_item(s) for s in entry.sources],
        cause=ChangeCauseAttribute(  # type: ignore[no-untyped-call]
            kind=cause.kind,
            event_id=cause.event_id,
            run_id=cause.run_id,
            grant_id=cause.grant_id,
            actor=cause.actor,
        ),
    )
    return item, ChangeLogModel.project_user.does_not_exist()


def entry_from_item(item: ChangeLogModel) -> ChangeEntry:
    cause = item.cause
    return ChangeEntry(
        project_id=item.project_id,
        user_id=item.user_id,
        version=int(item.version),
        at=datetime.strptime(item.changed_at, _STORED_TIME).replace(tzinfo=UTC),
        sources=tuple(source_from_item(s) for s in item.sources),
        cause=ChangeCause(
            kind=cast(CauseKind, cause.kind),
            event_id=cause.event_id,
            run_id=cause.run_id,
            grant_id=cause.grant_id,
            actor=cause.actor,
        ),
    )


class DynamoChangeLog:
    """Reads of the change log: one Query (or one GetItem) of one user's partition."""

    def entry(self, project_id: str, user_id: str, version: int) -> ChangeEntry | None:
        item = get_or_none(
            ChangeLogModel,
            entitlement_key(project_id, user_id),
            version,  # type: ignore[arg-type]
            operation="GetItem change",
        )
        return entry_from_item(item) if item else None

    def in_force_at(self, project_id: str, user_id: str, moment: datetime) -> ChangeEntry | None:
        """The newest change dated at or before ``moment`` (to the second)."""
        with dynamo_errors("Query change log"):
            found = ChangeLogModel.by_time.query(
                entitlement_key(project_id, user_id),
                ChangeLogModel.changed_at < _stored_time(dated_before(moment)),
                scan_index_forward=False,
                limit=1,
            )
            first = next(iter(found), None)
        return entry_from_item(first) if first else None

    def between(
        self,
        project_id: str,
        user_id: str,
        *,
        since: datetime,
        until: datetime,
        limit: int,
        after: str | None,
    ) -> tuple[list[ChangeEntry], str | None]:
        """The changes dated from ``since`` to ``until``, both to the second and included,
        oldest first, ``limit`` at a time from after the position ``after``; the position of
        the last one when more may follow (None at the end). A position outside the window
        (a cursor of the same list asked with another window) is still a position: before
        the window, the page starts at its beginning; past it, the page is empty."""
        partition = entitlement_key(project_id, user_id)
        low = _stored_time(since.replace(microsecond=0))
        high = _stored_time(dated_before(until))
        start = None
        if after is not None:
            changed_at, _, version = after.partition("#")
            if changed_at >= high:  # the position is past this window: nothing follows it
                return [], None
            if changed_at >= low:  # before the window, every change of it follows the position
                start = {
                    _HASH: {"S": partition},
                    _TIME: {"S": changed_at},
                    _RANGE: {"N": version},
                }
        with dynamo_errors("Query change log"):
            pages = ChangeLogModel.by_time.query(
                partition,
                ChangeLogModel.changed_at.between(low, high),
                limit=limit,
                last_evaluated_key=start,
            )
            items = [item for item in pages if item.changed_at < high]
            next_key = pages.last_evaluated_key
        entries = [entry_from_item(item) for item in items]
        if next_key is None or len(items) < limit:
            return entries, None
        return entries, f"{next_key[_TIME]['S']}#{next_key[_RANGE]['N']}"
