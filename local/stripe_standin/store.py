"""The stand-in's state: every object by id, in creation order, with Stripe's list pages.

One in-memory dict, guarded by the core's lock (the HTTP server is threaded). Objects are plain
JSON dicts shaped like Stripe's; readers always get deep copies, so an event's ``data.object``
keeps the object as it was when the event happened.
"""

from __future__ import annotations

import copy
import secrets
import string
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from local.stripe_standin.errors import StripeError, invalid, no_such

_ALPHABET = string.ascii_letters + string.digits
_ID_LENGTH = 24
_SESSION_ID_LENGTH = 58

Obj = dict[str, Any]
Filter = Callable[[Obj], bool]
_ABSENT = object()


def new_id(prefix: str) -> str:
    """A Stripe-looking id (``cus_...``); Checkout ids are long, like Stripe's ``cs_test_...``."""
    length = _SESSION_ID_LENGTH if prefix == "cs_test" else _ID_LENGTH
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


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
    """

    def __init__(self) -> None:
        self._objects: dict[str, Obj] = {}
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
        for object_id, before in (self._journal or {}).items():
            if before is None:
                self._objects.pop(object_id, None)
            else:
                self._objects[object_id] = before
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
        """Insert or replace; insertion order is creation order (lists show newest first)."""
        self._remember(obj["id"])
        self._objects[obj["id"]] = obj
        return obj

    def has(self, object_id: str, kind: str | None = None) -> bool:
        """Whether the id names a stored object (of that kind, when given)."""
        obj = self._objects.get(object_id)
        return obj is not None and (kind is None or obj["object"] == kind)

    def get(self, kind: str, object_id: str, param: str | None = None) -> Obj:
        """The live object (callers mutate it); resource_missing when absent."""
        obj = self._objects.get(object_id)
        if obj is None or obj["object"] != kind:
            raise no_such(noun(kind), object_id, param)
        self._remember(object_id)
        return obj

    def snapshot(self, kind: str, object_id: str) -> Obj:
        """A deep copy, safe to hand out or put in an event."""
        return copy.deepcopy(self.get(kind, object_id))

    def of_kind(self, kind: str) -> list[Obj]:
        """Objects of one kind, oldest first, to read (change one through :meth:`get`)."""
        return [obj for obj in self._objects.values() if obj["object"] == kind]

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
        """Stripe's list object: newest first, ``limit`` (10), cursors by object id."""
        filters = list(keep)
        matching = [obj for obj in reversed(self.of_kind(kind)) if all(f(obj) for f in filters)]
        limit = int(params.get("limit", 10))
        after, before = params.get("starting_after"), params.get("ending_before")
        if after is not None and before is not None:
            raise invalid(
                "You may only specify one of these parameters: ending_before, starting_after."
            )
        if after is not None:
            window = matching[self._position(matching, kind, after, "starting_after") + 1 :]
            data, has_more = window[:limit], len(window) > limit
        elif before is not None:
            window = matching[: self._position(matching, kind, before, "ending_before")]
            data, has_more = window[-limit:], len(window) > limit
        else:
            data, has_more = matching[:limit], len(matching) > limit
        return {"object": "list", "data": copy.deepcopy(data), "has_more": has_more, "url": url}

    def _position(self, matching: list[Obj], kind: str, cursor: str, param: str) -> int:
        if not self.has(cursor, kind):
            raise no_such(noun(kind), cursor, param)
        ids = [obj["id"] for obj in matching]
        return ids.index(cursor) if cursor in ids else len(ids)

    # ------------------------------------------------------------------ expand
    def expand(self, obj: Obj, paths: Iterable[str]) -> Obj:
        """Replace ids by objects along each ``a.b.c`` path, as Stripe's ``expand[]`` does."""
        for path in paths:
            self._expand(obj, path.split("."), path)
        return obj

    def _expand(self, node: Any, segments: list[str], path: str) -> None:
        if not segments or not isinstance(node, dict):
            return
        head, rest = segments[0], segments[1:]
        if head == "data" and node.get("object") == "list":
            for item in node["data"]:
                self._expand(item, rest, path)
            return
        hidden = self.hidden(node.get("id", ""), head)
        if head not in node and hidden is None:
            raise _not_expandable(path)
        value = copy.deepcopy(hidden) if hidden is not None else node[head]
        if isinstance(value, str):
            target = self._objects.get(value)
            if target is None:
                raise _not_expandable(path)
            value = copy.deepcopy(target)
        node[head] = value
        self._expand(value, rest, path)


def _not_expandable(path: str) -> StripeError:
    return invalid(f"This property cannot be expanded ({path}).", param="expand")
