"""What the services need from the outside world, as Protocols; adapters implement them."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from billing.domain.api_keys import ApiKeyGrant
from billing.domain.entitlements import EntitlementSource
from billing.domain.stripe_events import StripeEventEnvelope


class ApiKeyStore(Protocol):
    def find(self, key_hash: str) -> ApiKeyGrant | None:
        """The grant stored under this hash, or None. One read."""


class EntitlementStore(Protocol):
    def sources_of(self, project_id: str, user_id: str) -> list[EntitlementSource]:
        """Every stored source of (project, user); empty when none. One read."""


class WebhookEventLog(Protocol):
    def record_once(self, event: StripeEventEnvelope, outcome: str, now: datetime) -> bool:
        """Record an event by id; False (and nothing written) when it was already recorded."""


class EventQueue(Protocol):
    def enqueue(self, raw_event: str, event_id: str, event_type: str) -> str:
        """Put a raw Stripe event on the queue; return the message id."""


class HealthProbe(Protocol):
    def check(self) -> None:
        """Return when the dependency answers; raise DependencyUnavailableError otherwise."""
