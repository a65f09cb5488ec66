"""A short-lived in-process cache of entitlement answers, for hot paths.

Within the TTL an answer is served from memory. After it, the answer is revalidated with
``If-None-Match`` and the ETag the service sent: an unchanged answer comes back as a bodyless
304 and is kept for another TTL. Answers from before an invalidation are never stored after
it (a read in flight while this client grants or revokes cannot put the old answer back).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple


class CacheKey(NamedTuple):
    """Whose answer: ``feature_code`` is None for the full entitlement list."""

    project_id: str
    user_id: str
    feature_code: str | None = None


@dataclass(frozen=True, slots=True)
class Fetched[V]:
    """What a fetch brought: a new value, or None when the service answered 304 (the cached
    value still holds), and the ETag to revalidate with next time."""

    value: V | None
    etag: str | None


@dataclass(frozen=True, slots=True)
class _Entry[V]:
    value: V
    etag: str | None
    fresh_until: float


class EntitlementCache[V]:
    """At most ``max_entries`` answers, the least recently stored evicted first; thread-safe.

    Two threads missing the same key both fetch (no request coalescing): the cache is a
    short TTL in front of a fast read, not a shield for a slow one.
    """

    def __init__(self, ttl: float, *, max_entries: int = 1024, clock: Callable[[], float]) -> None:
        if ttl < 0:
            raise ValueError("the entitlement cache TTL must be >= 0 seconds")
        if max_entries < 1:
            raise ValueError("the entitlement cache must hold at least one entry")
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[CacheKey, _Entry[V]] = OrderedDict()
        self._generation = 0  # bumped by every invalidation
        self._lock = threading.Lock()

    def get(self, key: CacheKey, fetch: Callable[[str | None], Fetched[V]]) -> V:
        """The cached value while fresh; else ``fetch(etag_to_revalidate)`` and keep what it
        brings. ``fetch`` runs outside the lock; its errors propagate and change nothing."""
        with self._lock:
            entry = self._entries.get(key)
            generation = self._generation
            if entry is not None and self._clock() < entry.fresh_until:
                return entry.value
        fetched = fetch(entry.etag if entry is not None else None)
        if fetched.value is not None:
            value = fetched.value
        elif entry is not None:
            value = entry.value
        else:
            raise ValueError("a 304 answer to a request that sent no ETag")
        self._store(key, value, fetched.etag, generation)
        return value

    def _store(self, key: CacheKey, value: V, etag: str | None, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return  # invalidated while the answer was on its way: it may be stale
            self._entries.pop(key, None)
            self._entries[key] = _Entry(value, etag, self._clock() + self._ttl)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def invalidate(self, project_id: str, user_id: str) -> None:
        """Forget every answer about this user of this project."""
        with self._lock:
            self._generation += 1
            for key in [k for k in self._entries if k[:2] == (project_id, user_id)]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries
