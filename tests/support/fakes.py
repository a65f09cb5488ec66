"""Fakes of the ports, with helpers to assert on what they were asked."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from billing.domain.checkout import CheckoutRequest, CheckoutSession
from billing.domain.entitlements import EntitlementSource
from billing.domain.metering import MeteredUsage
from billing.domain.usage import StoredUsage, UsageState, UsageWrite, WriteOutcome
from billing.errors import PaymentProviderUnavailableError


@dataclass
class FakePaymentGateway:
    """Stripe as the service sees it: objects by idempotency key, so a replayed key returns
    the first answer, as Stripe does. ``fail_on`` makes one operation fail like a 5xx."""

    fail_on: set[str] = field(default_factory=set)
    customers: dict[str, dict[str, str]] = field(default_factory=dict)
    sessions: dict[str, tuple[CheckoutRequest, str]] = field(default_factory=dict)
    portal_sessions: dict[str, tuple[str, str]] = field(default_factory=dict)
    _by_key: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _once(self, operation: str, key: str, make: str) -> tuple[str, bool]:
        if operation in self.fail_on:
            raise PaymentProviderUnavailableError(
                f"Stripe {operation}: APIError 500", 502, "req_fake"
            )
        with self._lock:
            if key in self._by_key:
                return self._by_key[key], False
            self._by_key[key] = make
            return make, True

    def create_customer(
        self, project_id: str, user_id: str, currency: str, idempotency_key: str
    ) -> str:
        customer_id, new = self._once("customer", idempotency_key, f"cus_{len(self._by_key) + 1}")
        if new:
            self.customers[customer_id] = {"project_id": project_id, "user_id": user_id}
        return customer_id

    def create_checkout_session(
        self, request: CheckoutRequest, customer_id: str, idempotency_key: str
    ) -> CheckoutSession:
        session_id, new = self._once("checkout", idempotency_key, f"cs_{len(self._by_key) + 1}")
        if new:
            self.sessions[session_id] = (request, customer_id)
        return CheckoutSession(session_id, f"https://checkout.stripe.test/{session_id}")

    def create_portal_session(self, customer_id: str, return_url: str, idempotency_key: str) -> str:
        session_id, new = self._once("portal", idempotency_key, f"bps_{len(self._by_key) + 1}")
        if new:
            self.portal_sessions[session_id] = (customer_id, return_url)
        return f"https://billing.stripe.test/{session_id}"


@dataclass
class FakeUsageStore:
    """The usage store's conditions in memory: the record is written only if none is in its
    replay window, the counter moved only while at most ``max_used_before``, both or neither.
    ``conflicts`` is how many writes fail as a concurrent transaction would; ``before_write``
    runs between a read and the next write (another caller getting there first)."""

    sources: dict[tuple[str, str], list[EntitlementSource]] = field(default_factory=dict)
    counters: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    records: dict[str, tuple[StoredUsage, UsageWrite]] = field(default_factory=dict)
    conflicts: int = 0
    before_write: Callable[[], None] | None = None
    reads: int = 0
    writes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, project_id: str, user_id: str, record_key: str) -> UsageState:
        with self._lock:
            self.reads += 1
            stored = self.records.get(record_key)
            return UsageState(
                list(self.sources.get((project_id, user_id), [])),
                dict(self.counters.get((project_id, user_id), {})),
                stored[0] if stored else None,
            )

    def record(self, write: UsageWrite) -> WriteOutcome:
        hook, self.before_write = self.before_write, None
        if hook is not None:
            hook()
        with self._lock:
            self.writes += 1
            if self.conflicts:
                self.conflicts -= 1
                return WriteOutcome("conflict")
            user = (write.request.project_id, write.request.user_id)
            counters = self.counters.setdefault(user, {})
            stored = self.records.get(write.key)
            if stored is not None and stored[0].replay_until >= write.recorded_at:
                return WriteOutcome("duplicate", stored=stored[0])
            used = counters.get(write.counter, 0)
            if write.max_used_before is not None and used > write.max_used_before:
                return WriteOutcome("over_limit", used=used)
            counters[write.counter] = used + write.request.quantity
            for name in write.prune:
                counters.pop(name, None)
            self.records[write.key] = (write.stored, write)
            return WriteOutcome("counted")


@dataclass
class FakeMeterEvents:
    """Stripe's meters: events by identifier (one count each), totals per (meter, customer,
    day); ``fail`` makes the next sends fail with that error."""

    meters: dict[str, str] = field(default_factory=lambda: {"api_requests": "mtr_1"})
    sent: dict[str, tuple[str, str, int, int]] = field(default_factory=dict)
    fail: list[Exception] = field(default_factory=list)
    calls: int = 0

    def send(
        self, meter: str, customer_id: str, value: int, identifier: str, timestamp: int
    ) -> None:
        self.calls += 1
        if self.fail:
            raise self.fail.pop(0)
        self.sent.setdefault(identifier, (meter, customer_id, value, timestamp))

    def active_meters(self) -> dict[str, str]:
        return dict(self.meters)

    def daily_totals(
        self, meter_id: str, customer_id: str, start: datetime, end: datetime
    ) -> dict[datetime, int]:
        names = {mid: name for name, mid in self.meters.items()}
        totals: dict[datetime, int] = {}
        for meter, customer, value, timestamp in self.sent.values():
            moment = datetime.fromtimestamp(timestamp, UTC)
            if meter == names[meter_id] and customer == customer_id and start <= moment < end:
                day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
                totals[day] = totals.get(day, 0) + value
        return totals


@dataclass
class FakeMeterDeadLetters:
    parked: list[tuple[str, str]] = field(default_factory=list)

    def park(self, usage: MeteredUsage, reason: str) -> None:
        self.parked.append((usage.key, reason))


@dataclass
class FakeMeteredUsageStore:
    """Metered usage by key, the customers of subscriptions, and the marks made."""

    usages: dict[str, MeteredUsage] = field(default_factory=dict)
    customers: dict[str, str] = field(default_factory=dict)
    marks: list[tuple[str, str]] = field(default_factory=list)

    def add(self, usage: MeteredUsage) -> None:
        self.usages[usage.key] = usage

    def unreported(self, limit: int) -> list[MeteredUsage]:
        waiting = [u for u in self.usages.values() if not u.reported and not u.dead_lettered]
        return sorted(waiting, key=lambda u: u.recorded_at)[:limit]

    def customers_of(self, subscription_ids: Iterable[str]) -> dict[str, str]:
        return {s: self.customers[s] for s in subscription_ids if s in self.customers}

    def mark_reported(self, usage: MeteredUsage, customer_id: str, now: datetime) -> None:
        self.marks.append((usage.key, "reported"))
        self.usages[usage.key] = replace(usage, reported=True, customer_id=customer_id)

    def mark_retry(self, usage: MeteredUsage, error: str, retry_at: datetime) -> None:
        self.marks.append((usage.key, "retry"))
        self.usages[usage.key] = replace(
            usage, attempts=usage.attempts + 1, next_attempt_at=retry_at
        )

    def mark_dead_lettered(self, usage: MeteredUsage, error: str, now: datetime) -> None:
        self.marks.append((usage.key, "dead_lettered"))
        self.usages[usage.key] = replace(usage, dead_lettered=True)

    def of_meter(self, meter: str, start: datetime, end: datetime) -> list[MeteredUsage]:
        return [
            u for u in self.usages.values() if u.meter == meter and start <= u.recorded_at < end
        ]
