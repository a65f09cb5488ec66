"""Stripe's truth over time, for stories told as events (benchmarks, property tests): every
object's state after each change, and a StripeReader answering as Stripe would at ``now``."""

from __future__ import annotations

import bisect
import copy
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from billing.domain.stripe_reads import StripeRead


@dataclass
class StripeTimeline:
    """``record`` what an object became at a second; reads answer the newest state recorded
    at or before ``now`` (a payment intent with its latest charge expanded). ``calls`` counts
    the reads by kind."""

    now: int = 0
    _states: dict[str, list[tuple[int, int, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    _invoice_of: dict[str, str] = field(default_factory=dict)
    _charge_of: dict[str, str] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def record(self, object_id: str, at: int, obj: dict[str, Any]) -> None:
        """``object_id`` is ``obj`` from second ``at`` on (later records of a second win)."""
        states = self._states[object_id]
        bisect.insort(states, (at, len(states), copy.deepcopy(obj)), key=lambda s: s[:2])
        if obj.get("object") == "charge" and isinstance(obj.get("payment_intent"), str):
            self._charge_of[obj["payment_intent"]] = object_id

    def link_invoice(self, payment_intent_id: str, invoice_id: str) -> None:
        """A subscription invoice's payment, as Stripe's invoice payments say."""
        self._invoice_of[payment_intent_id] = invoice_id

    def state(self, object_id: str) -> dict[str, Any] | None:
        """The object as it stands at ``now`` (None before it exists)."""
        return self._at(object_id, self.now)

    def state_at(self, object_id: str, at: int) -> dict[str, Any]:
        """The object as it stands at ``at``, for a story telling its next change."""
        found = self._at(object_id, at)
        if found is None:
            raise KeyError(f"{object_id} does not exist at {at}")
        return found

    def _at(self, object_id: str, at: int) -> dict[str, Any] | None:
        states = self._states.get(object_id, [])
        index = bisect.bisect_right(states, at, key=lambda s: s[0])
        return copy.deepcopy(states[index - 1][2]) if index else None

    def within(self, _seconds: float) -> StripeTimeline:
        """As the consumer asks of its reader: the same reader."""
        return self

    def _read(self, kind: str, obj: dict[str, Any] | None) -> StripeRead | None:
        self.calls[kind] += 1
        return StripeRead(obj, self.now) if obj is not None else None

    def subscription(self, subscription_id: str) -> StripeRead | None:
        return self._read("subscription", self.state(subscription_id))

    def payment_intent(self, payment_intent_id: str) -> StripeRead | None:
        intent = self.state(payment_intent_id)
        if intent is not None:
            charge_id = self._charge_of.get(payment_intent_id)
            intent["latest_charge"] = self.state(charge_id) if charge_id else None
        return self._read("payment_intent", intent)

    def charge(self, charge_id: str) -> StripeRead | None:
        return self._read("charge", self.state(charge_id))

    def invoice(self, invoice_id: str) -> StripeRead | None:
        return self._read("invoice", self.state(invoice_id))

    def invoice_of_payment(self, payment_intent_id: str) -> str | None:
        self.calls["invoice_payments"] += 1
        return self._invoice_of.get(payment_intent_id)

    def disputes(self, payment_intent_id: str) -> list[dict[str, Any]]:
        self.calls["disputes"] += 1
        return []
