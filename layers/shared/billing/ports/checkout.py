"""Checkout and the customer portal: Stripe customers, sessions, and the user's facts."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from billing.domain.billing_facts import Fact, Owner
from billing.domain.checkout import CheckoutRequest, CheckoutSession


class CustomerStore(Protocol):
    def customer_of(self, project_id: str, user_id: str, currency: str) -> str | None:
        """The Stripe customer of (project, user) in that currency."""

    def any_customer_of(self, project_id: str, user_id: str) -> str | None:
        """A Stripe customer of (project, user) in any currency (the newest), or None."""

    def remember(
        self, project_id: str, user_id: str, currency: str, customer_id: str, now: datetime
    ) -> str:
        """Store the mapping unless one exists; return the customer that is stored."""


class PaymentGateway(Protocol):
    def create_customer(
        self, project_id: str, user_id: str, currency: str, idempotency_key: str
    ) -> str:
        """A new Stripe customer with metadata project_id/user_id; returns its id."""

    def create_checkout_session(
        self, request: CheckoutRequest, customer_id: str, idempotency_key: str
    ) -> CheckoutSession: ...

    def create_portal_session(self, customer_id: str, return_url: str, idempotency_key: str) -> str:
        """A customer portal session; returns its URL."""


class UserFacts(Protocol):
    def facts_of(self, owner: Owner) -> list[Fact]:
        """Every billing fact of one (project, user). One single-partition query."""
