"""Fakes of the ports, with helpers to assert on what they were asked."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from billing.domain.checkout import CheckoutRequest, CheckoutSession
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
