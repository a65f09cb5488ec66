"""The fake of the StripeReader port: Stripe's objects over time, read as of a moment.

:class:`StripeTimeline` keeps every object's state after each change, at its second (several
changes in one second: the last is what Stripe shows). :class:`FakeStripe` reads it as the
engine's adapter does (``latest_invoice``, ``latest_charge`` and an invoice's ``payments``
expanded; disputes and invoice payments found by the payment intent they name) at ``now``,
every change of that second included, and logs each call. Stories told as events (the
lifecycle property, the webhook benchmark) record what each event carries; unit tests
``put`` objects as they are now.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from billing.domain.stripe_reads import StripeRead
from billing.errors import PaymentProviderUnavailableError

# What the engine may read; an event carrying one of these records its state.
READABLE = frozenset(
    {"subscription", "invoice", "payment_intent", "charge", "dispute", "refund", "invoice_payment"}
)


class StripeTimeline:
    """Stripe's objects as a story changes them."""

    def __init__(self) -> None:
        self._changes: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        self._naming: dict[str, list[str]] = defaultdict(list)  # an id -> objects naming it

    def record(self, when: int, obj: dict[str, Any]) -> None:
        """``obj`` is what Stripe shows from second ``when`` on."""
        object_id = str(obj["id"])
        changes = self._changes[object_id]
        assert not changes or changes[-1][0] <= when, f"{object_id} changed back in time"
        if not changes:
            paid_by = (obj.get("payment") or {}).get("payment_intent")  # an invoice payment's
            for named in (obj.get("payment_intent"), obj.get("invoice"), paid_by):
                if isinstance(named, str):
                    self._naming[named].append(object_id)
        changes.append((when, copy.deepcopy(obj)))

    def as_of(self, object_id: str, when: int) -> dict[str, Any] | None:
        """The object as Stripe showed it at the end of second ``when`` (None: not yet)."""
        found = None
        for changed, state in self._changes.get(object_id, ()):
            if changed > when:
                break
            found = state
        return copy.deepcopy(found) if found is not None else None

    def naming(self, object_id: str, kind: str, when: int) -> list[dict[str, Any]]:
        """The objects of ``kind`` (``dispute``, ``invoice_payment``) that name ``object_id``
        (their payment intent or invoice), as of ``when``."""
        found = (self.as_of(other, when) for other in self._naming.get(object_id, ()))
        return [obj for obj in found if obj is not None and obj["object"] == kind]


@dataclass
class FakeStripe:
    """Stripe as the engine reads it: the timeline as of ``now``. ``down`` makes every call
    fail as Stripe unreachable; ``calls`` names each call made."""

    timeline: StripeTimeline = field(default_factory=StripeTimeline)
    now: int = 0
    down: bool = False
    calls: list[str] = field(default_factory=list)

    def put(self, *objects: dict[str, Any]) -> None:
        """These objects as they are from ``now`` on."""
        for obj in objects:
            self.timeline.record(self.now, obj)

    def within(self, _seconds: float) -> FakeStripe:
        """As the consumer asks of its reader: the same reader."""
        return self

    def _call(self, kind: str) -> None:
        self.calls.append(kind)
        if self.down:
            raise PaymentProviderUnavailableError(f"Stripe {kind}: APIConnectionError", 503)

    def _read(self, kind: str, object_id: str, expand: str | None = None) -> StripeRead | None:
        self._call(kind)
        obj = self.timeline.as_of(object_id, self.now)
        if obj is None:
            return None
        if expand is not None and isinstance(obj.get(expand), str):
            obj[expand] = self.timeline.as_of(obj[expand], self.now)
        return StripeRead(obj, self.now)

    def subscription(self, subscription_id: str) -> StripeRead | None:
        return self._read("subscription", subscription_id, "latest_invoice")

    def payment_intent(self, payment_intent_id: str) -> StripeRead | None:
        return self._read("payment_intent", payment_intent_id, "latest_charge")

    def charge(self, charge_id: str) -> StripeRead | None:
        return self._read("charge", charge_id)

    def invoice(self, invoice_id: str) -> StripeRead | None:
        read = self._read("invoice", invoice_id)
        if read is not None:
            payments = self.timeline.naming(invoice_id, "invoice_payment", self.now)
            read.obj["payments"] = {"object": "list", "data": payments, "has_more": False}
        return read

    def invoice_of_payment(self, payment_intent_id: str) -> str | None:
        self._call("invoice_payments")
        payments = self.timeline.naming(payment_intent_id, "invoice_payment", self.now)
        return str(payments[0]["invoice"]) if payments else None

    def disputes(self, payment_intent_id: str) -> list[dict[str, Any]]:
        self._call("disputes")
        return self.timeline.naming(payment_intent_id, "dispute", self.now)
