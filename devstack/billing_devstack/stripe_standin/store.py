"""The stand-in's state: every object by id, in creation order, with Stripe's list pages.

One in-memory dict, guarded by the core's lock (the HTTP server is threaded), plus each kind's
ids in creation order and every id's place in that order, so a list page costs what it reads
(its ``limit`` and the objects its filters skip), not the size of the store. Objects are plain
JSON dicts shaped like Stripe's; readers always get deep copies, so an event's ``data.object``
keeps the object as it was when the event happened.
"""

from __future__ import annotations

import copy
import secrets
import string
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from billing_devstack.stripe_standin.errors import StripeError, invalid, no_such

_ALPHABET = string.ascii_letters + string.digits
_ID_LENGTH = 24
_SESSION_ID_LENGTH = 58

Obj = dict[str, Any]
Filter = Callable[[Obj], bool]
_ABSENT = object()
_DELETED = "deleted"  # the note a deleted object carries


def new_id(prefix: str) -> str:
    """A Stripe-looking id (``cus_...``); Checkout ids are long, like Stripe's ``cs_test_...``."""
    length = _SESSION_ID_LENGTH if prefix == "cs_test" else _ID_LENGTH
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


# Random bytes -> letters and digits in one C call (a byte modulo 62: the first few characters
# come up a little more often, which no id reader can tell).
_BYTE_TO_CHAR = bytes(ord(_ALPHABET[byte % len(_ALPHABET)]) for byte in range(256))


def new_ids(prefix: str, count: int) -> list[str]:
    """``count`` ids like :func:`new_id`'s, fast enough to seed 100k objects (bulk seeding)."""
    text = secrets.token_bytes(count * _ID_LENGTH).translate(_BYTE_TO_CHAR).decode("ascii")
    return [
        f"{prefix}_{text[start : start + _ID_LENGTH]}"
        for start in range(0, count * _ID_LENGTH, _ID_LENGTH)
    ]


def copy_json(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars): a third of ``copy.deepcopy``'s time,
    which matters for list pages and bulk seeding."""
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    return value


# The ``object`` value -> the noun Stripe uses in "No such ...: 'id'" messages.
_NOUNS = {
    "billing_portal.session": "billing portal session",
    "checkout.session": "checkout.session",
    "payment_intent": "payment_intent",
}


def noun(kind: str) -> str:
    """How Stripe's messages name an object of this kind."""
    return _NOUNS.get(kind, kind)


class Store:
    """Objects by id; ``hidden`` keeps what Stripe only shows on expand (line items...),
    ``notes`` what it never shows.

    A request that fails must change nothing, as at Stripe, even when it fails halfway (an
    ``expand`` refused after the object was built). So between :meth:`begin` and
    :meth:`commit`, every object handed out by :meth:`get` or replaced by :meth:`put` has its
    prior state journaled, and :meth:`rollback` restores it: the cost is one copy per object a
    request touches, not a copy of the store.

    Objects are never removed (a deleted one is only noted so), and an id keeps its kind and
    its place: ``_ids[kind]`` lists a
    kind's ids oldest first and ``_places[id]`` is the id's index there. Only a rollback removes
    ids, and only the ones its request added, which are the tail of their kind's list.
    """

    def __init__(self) -> None:
        self._objects: dict[str, Obj] = {}
        self._ids: dict[str, list[str]] = {}
        self._places: dict[str, int] = {}
        self._hidden: dict[tuple[str, str], Any] = {}
        self._notes: dict[tuple[str, str], Any] = {}
        self._journal: dict[str, Obj | None] | None = None
        self._side_journal: list[tuple[dict[tuple[str, str], Any], tuple[str, str], Any]] = []

    # ------------------------------------------------------------------ transactions
    def begin(self) -> None:
        """Start journaling (one request's changes)."""
        self._journal, self._side_journal = {}, []

    def commit(self) -> None:
        """Keep the changes made since :meth:`begin`."""
        self._journal, self._side_journal = None, []

    def rollback(self) -> None:
        """Undo every change made since :meth:`begin`."""
        added: dict[str, int] = {}  # kind -> the first place this request gave out
        for object_id, before in (self._journal or {}).items():
            if before is None:
                kind = self._objects.pop(object_id)["object"]
                place = self._places.pop(object_id)
                added[kind] = min(place, added.get(kind, place))
            else:
                self._objects[object_id] = before
        for kind, first in added.items():
            del self._ids[kind][first:]
        for mapping, key, value in reversed(self._side_journal):
            if value is _ABSENT:
                mapping.pop(key, None)
            else:
                mapping[key] = value
        self.commit()

    def _remember(self, object_id: str) -> None:
        if self._journal is not None and object_id not in self._journal:
            current = self._objects.get(object_id)
            self._journal[object_id] = None if current is None else copy.deepcopy(current)

    def _set_side(
        self, mapping: dict[tuple[str, str], Any], key: tuple[str, str], value: Any
    ) -> None:
        if self._journal is not None:
            self._side_journal.append((mapping, key, mapping.get(key, _ABSENT)))
        mapping[key] = value

    # ------------------------------------------------------------------ objects
    def put(self, obj: Obj) -> Obj:
        """Insert or replace; insertion order is creation order (lists show newest first).

        A replaced object keeps its place; an id already taken by another kind is refused (an
        id names one object for good, as at Stripe)."""
        object_id, kind = obj["id"], obj["object"]
        current = self._objects.get(object_id)
        if current is not None and current["object"] != kind:
            raise StripeError(
                f"The id '{object_id}' is already used by a {noun(current['object'])}.",
                code="resource_already_exists",
                param="id",
            )
        self._remember(object_id)
        self._objects[object_id] = obj
        if current is None:
            ids = self._ids.setdefault(kind, [])
            self._places[object_id] = len(ids)
            ids.append(object_id)
        return obj

    def has(self, object_id: str, kind: str | None = None) -> bool:
        """Whether the id names a stored object (of that kind, when given)."""
        obj = self._objects.get(object_id)
        return obj is not None and (kind is None or obj["object"] == kind)

    def get(self, kind: str, object_id: str, param: str | None = None) -> Obj:
        """The live object (callers mutate it); resource_missing when absent or deleted."""
        obj = self._objects.get(object_id)
        if obj is None or obj["object"] != kind or (object_id, _DELETED) in self._notes:
            raise no_such(noun(kind), object_id, param)
        self._remember(object_id)
        return obj

    def delete(self, kind: str, object_id: str) -> Obj:
        """``DELETE /v1/<kind>s/<id>``: from now on :meth:`get` and lists do not find it (what
        still names it, a discount its coupon, can expand it). Answers Stripe's stub."""
        self.get(kind, object_id)
        self.note(object_id, _DELETED, True)
        return {"id": object_id, "object": kind, "deleted": True}

    def snapshot(self, kind: str, object_id: str) -> Obj:
        """A deep copy, safe to hand out or put in an event."""
        return copy.deepcopy(self.get(kind, object_id))

    def of_kind(self, kind: str) -> list[Obj]:
        """Objects of one kind, oldest first, to read (change one through :meth:`get`)."""
        return [self._objects[object_id] for object_id in self._ids.get(kind, ())]

    def count(self, kind: str) -> int:
        """How many objects of one kind are stored."""
        return len(self._ids.get(kind, ()))

    def hide(self, object_id: str, field: str, value: Any) -> None:
        """Attach a value Stripe only returns when ``field`` is expanded."""
        self._set_side(self._hidden, (object_id, field), value)

    def hidden(self, object_id: str, field: str) -> Any:
        """The value behind an expand-only field, or None."""
        return self._hidden.get((object_id, field))

    def note(self, object_id: str, key: str, value: Any) -> None:
        """Remember something about an object that no API shape shows (a session's
        ``subscription_data``, for the subscription it will create)."""
        self._set_side(self._notes, (object_id, key), value)

    def noted(self, object_id: str, key: str, default: Any = None) -> Any:
        """What :meth:`note` remembered, or ``default``."""
        return self._notes.get((object_id, key), default)

    # ------------------------------------------------------------------ lists
    def page(
        self, kind: str, url: str, params: Mapping[str, Any], keep: Iterable[Filter] = ()
    ) -> Obj:
        """Stripe's list object: newest first, ``limit`` (10), cursors by object id.

        A cursor is a place in the kind's creation order, whether or not the filters keep its
        object (as at Stripe: a subscription canceled between two pages of ``status=active``
        still marks where the next page starts). Reading walks from that place, so a page
        costs its ``limit`` plus the objects the filters skip on the way.
        """
        filters = list(keep)
        limit = int(params.get("limit", 10))
        after, before = params.get("starting_after"), params.get("ending_before")
        if after is not None and before is not None:
            raise invalid(
                "You may only specify one of these parameters: ending_before, starting_after."
            )
        ids = self._ids.get(kind, [])
        if after is not None:
            start = self._place(kind, after, "starting_after") - 1
            data, has_more = self._walk(ids, range(start, -1, -1), filters, limit)
        elif before is not None:
            start = self._place(kind, before, "ending_before") + 1
            nearest, has_more = self._walk(ids, range(start, len(ids)), filters, limit)
            data = nearest[::-1]
        else:
            data, has_more = self._walk(ids, range(len(ids) - 1, -1, -1), filters, limit)
        return {"object": "list", "data": copy_json(data), "has_more": has_more, "url": url}

    def _walk(
        self, ids: list[str], places: range, filters: list[Filter], limit: int
    ) -> tuple[list[Obj], bool]:
        """The first ``limit`` objects the filters keep, in ``places`` order, and whether
        another one follows them."""
        kept: list[Obj] = []
        for place in places:
            obj = self._objects[ids[place]]
            if (obj["id"], _DELETED) in self._notes:
                continue
            if all(keep(obj) for keep in filters):
                if len(kept) == limit:
                    return kept, True
                kept.append(obj)
        return kept, False

    def _place(self, kind: str, cursor: str, param: str) -> int:
        if not self.has(cursor, kind):
            raise no_such(noun(kind), cursor, param)
        return self._places[cursor]

    # ------------------------------------------------------------------ expand
    def expand(self, obj: Obj, paths: Iterable[str]) -> Obj:
        """Replace ids by objects along each ``a.b.c`` path, as Stripe's ``expand[]`` does: a
        list of ids (``discounts``) becomes a list of objects, a list object is entered through
        ``data``, and a hash on the way (``parent.subscription_details``) is walked through."""
        for path in paths:
            self._expand(obj, path.split("."), path)
        return obj

    def _expand(self, node: Any, segments: list[str], path: str) -> None:
        if not segments or not isinstance(node, dict):
            return
        head, rest = segments[0], segments[1:]
        is_list = node.get("object") == "list"
        if head == "data" and is_list:
            for item in node["data"]:
                self._expand(item, rest, path)
            return
        hidden = self.hidden(node.get("id", ""), head)
        if head not in node and hidden is None:
            raise _not_expandable(path, is_list)
        value = copy.deepcopy(hidden) if hidden is not None else node[head]
        value = (
            [self._resolved(item, path) for item in value]
            if isinstance(value, list)
            else (self._resolved(value, path))
        )
        if not rest and not _expandable(value):
            raise _not_expandable(path, is_list)
        node[head] = value
        for child in value if isinstance(value, list) else [value]:
            self._expand(child, rest, path)

    def _resolved(self, value: Any, path: str) -> Any:
        """The object an id names (a copy); anything else unchanged."""
        if not isinstance(value, str):
            return value
        target = self._objects.get(value)
        if target is None:
            raise _not_expandable(path, is_list=False)
        return copy.deepcopy(target)


def _expandable(value: Any) -> bool:
    """What an expanded path ends on: objects (a list of them), or nothing (a null id)."""
    if isinstance(value, list):
        return all(_expandable(item) for item in value)
    return value is None or (isinstance(value, dict) and "object" in value)


def _not_expandable(path: str, is_list: bool) -> StripeError:
    """Stripe's answer (no ``param``); on a list it suggests the path under ``data``."""
    message = f"This property cannot be expanded ({path})."
    if is_list:
        message += f" You may want to try expanding 'data.{path}' instead."
    return invalid(message)
