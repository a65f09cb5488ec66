"""Record usage of a limited feature: counted once, within the limit or allowed over it.

One read (the user's sources and counters, and any record under the caller's key) and one
write (the counter's UpdateItem and the record's PutItem in one transaction). The write's
conditions, not the read, decide: two calls with the same key count once, and enforced calls
racing for the last units never take the counter past the limit. The answer's ``used`` is the
counter as read plus this usage: calls racing on the same feature may have counted more.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from billing.domain.clock import utc_now
from billing.domain.usage import (
    REPLAY_WINDOW,
    Balance,
    StoredUsage,
    UsageAnswer,
    UsageRefusal,
    UsageRequest,
    UsageWrite,
    counted,
    counters_expire_at,
    fits,
    record_key,
    stale_counters,
    usable_balance,
    validate_usage,
)
from billing.errors import DependencyUnavailableError, ValidationError
from billing.ports.usage import UsageStore

MAX_ATTEMPTS = 6
# Before attempt n+1 after a transaction conflict, a random pause of up to this * 2**n.
BACKOFF_SECONDS = 0.01

Pause = Callable[[float], None]
Clock = Callable[[], datetime]
Outcome = Literal["counted", "replayed", "refused"]


@dataclass(frozen=True)
class UsageResult:
    """``counted`` (201), ``replayed`` (200: the first answer again) or ``refused`` (409:
    enforced and over the limit; nothing counted), with the body to answer."""

    outcome: Outcome
    body: dict[str, Any]


def record_usage(
    store: UsageStore,
    request: UsageRequest,
    *,
    now: datetime,
    pause: Pause = time.sleep,
    clock: Clock = utc_now,
) -> UsageResult:
    """Count ``request`` once. A concurrent transaction on the same items (DynamoDB's
    ``TransactionConflict``) makes it read and try again after a jittered pause; still
    contended after MAX_ATTEMPTS: 503 (retrying with the same key is safe)."""
    checked = validate_usage(request)
    key = record_key(checked.project_id, checked.idempotency_key)
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            pause(random.uniform(0, BACKOFF_SECONDS * 2**attempt))  # noqa: S311 - jitter
            now = max(now, clock())
        state = store.read(checked.project_id, checked.user_id, key)
        if state.stored is not None and state.stored.replay_until >= now:
            return _replayed(state.stored, checked)
        balance = usable_balance(state.sources, checked.feature_code, now, state.counters)
        if checked.enforce and not fits(balance, checked.quantity):
            return _refused(balance, checked)
        answer = counted(balance, checked, now)
        outcome = store.record(_write(key, answer, state.counters))
        if outcome.status == "counted":
            return UsageResult("counted", answer.to_api())
        if outcome.status == "duplicate" and outcome.stored is not None:
            return _replayed(outcome.stored, checked)
        if outcome.status == "over_limit" and outcome.used is not None:
            return _refused(replace(balance, used=outcome.used), checked)
    raise DependencyUnavailableError("the usage counter is contended; retry with the same key")


def _write(key: str, answer: UsageAnswer, counters: dict[str, int]) -> UsageWrite:
    request, balance, now = answer.request, answer.balance, answer.recorded_at
    prune = stale_counters(counters, now)
    kept = [name for name in counters if name not in prune]
    return UsageWrite(
        key=key,
        request=request,
        counter=balance.counter,
        max_used_before=balance.limit - request.quantity if request.enforce else None,
        stored=StoredUsage(
            request.fingerprint,
            json.dumps(answer.to_api(), separators=(",", ":")),
            now + REPLAY_WINDOW,
        ),
        recorded_at=now,
        prune=tuple(prune),
        counters_expire_at=counters_expire_at([*kept, balance.counter]),
        meter=balance.meter,
        metered_source_id=balance.metered_source_id,
    )


def _replayed(stored: StoredUsage, request: UsageRequest) -> UsageResult:
    if stored.fingerprint != request.fingerprint:
        raise ValidationError(
            "idempotency_key",
            "was used in the last 24 hours for another usage (user, feature, quantity or "
            "enforce differ)",
        )
    body: dict[str, Any] = json.loads(stored.answer)
    return UsageResult("replayed", {**body, "replayed": True})


def _refused(balance: Balance, request: UsageRequest) -> UsageResult:
    return UsageResult("refused", UsageRefusal(request, balance).to_api())
