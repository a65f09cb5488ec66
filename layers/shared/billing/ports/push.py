"""Ports of issue #22 (pushed changes): the change log, outbound webhook endpoints and their
delivery, and the entitlement tokens' signing keys."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from billing.domain.change_log import ChangeEntry
    from billing.domain.deliveries import Delivery
    from billing.domain.webhook_endpoints import EndpointUrl, WebhookEndpoint


class ChangeLog(Protocol):
    """The change log of entitlement records (written by the record's writers only)."""

    def entry(self, project_id: str, user_id: str, version: int) -> ChangeEntry | None:
        """One version of the (project, user) record. One GetItem."""

    def in_force_at(self, project_id: str, user_id: str, moment: datetime) -> ChangeEntry | None:
        """The newest change dated at or before ``moment``, to the second. One Query."""

    def between(
        self,
        project_id: str,
        user_id: str,
        *,
        since: datetime,
        until: datetime,
        limit: int,
        after: str | None,
    ) -> tuple[list[ChangeEntry], str | None]:
        """Changes dated from ``since`` to ``until`` (to the second, both included), oldest
        first, a page from after the position ``after``, and the last one's position when
        more may follow. One Query."""


class WebhookEndpointStore(Protocol):
    """A project's outbound webhook endpoints, with their signing secrets."""

    def add(self, endpoint: WebhookEndpoint) -> None:
        """Store a new endpoint (its id is new)."""

    def list(self, project_id: str) -> list[WebhookEndpoint]:
        """Every endpoint of the project. One single-partition Query."""

    def get(self, project_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        """One GetItem."""

    def replace(self, endpoint: WebhookEndpoint) -> None:
        """Overwrite an existing endpoint (its secrets after a rotation); NotFoundError when
        it is gone."""

    def remove(self, project_id: str, endpoint_id: str) -> None:
        """NotFoundError when the project has no such endpoint."""


class AddressResolver(Protocol):
    def addresses(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to now (empty: none); DependencyUnavailableError
        when the resolver does not answer."""


class WebhookPoster(Protocol):
    def post(
        self,
        url: EndpointUrl,
        address: str,
        body: bytes,
        headers: dict[str, str],
        timeout: float,
    ) -> int:
        """POST ``body`` to ``url`` through a connection to ``address`` (checked, never
        resolved again), verifying TLS for ``url``'s host; the status code. OSError when
        there is no answer in ``timeout`` seconds."""


class DeliveryQueue(Protocol):
    def enqueue(self, deliveries: list[Delivery]) -> None:
        """Queue each delivery (SendMessageBatch, ten at a time); DependencyUnavailableError
        when SQS does not take them all (the caller retries the change: duplicates are
        harmless, a delivery's webhook-id is stable)."""

    def retry_after(self, receipt_handle: str, seconds: int) -> None:
        """Hide a failed delivery's message for ``seconds`` before its next attempt."""


class TokenSigner(Protocol):
    """Asymmetric keys that sign entitlement tokens and never leave their store (KMS)."""

    def sign(self, key: str, message: bytes) -> bytes:
        """The RS256 signature of ``message`` by ``key``; DependencyUnavailableError."""

    def public_key(self, key: str) -> bytes:
        """``key``'s public key, DER (SubjectPublicKeyInfo)."""
