"""What the services need from the outside world, as Protocols; adapters implement them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from billing.domain.api_keys import ApiKeyGrant
from billing.domain.billing_facts import Fact, Owner
from billing.domain.checkout import CheckoutRequest, CheckoutSession
from billing.domain.dead_letters import DeadLetter
from billing.domain.entitlement_rules import PriceAnomaly
from billing.domain.entitlements import EntitlementSource
from billing.domain.grants import AuditEntry
from billing.domain.ledger import LedgerChange, LedgerState
from billing.domain.reconciliation import (
    Checkpoint,
    ObjectKind,
    PageOutcome,
    RepairError,
    RepairRecord,
    RunStatus,
    RunSummary,
    StripePage,
)
from billing.domain.stripe_events import StripeEventEnvelope
from billing.domain.stripe_reads import StripeRead
from billing.domain.tenancy import ApiKeyInfo, App, Price, Project

if TYPE_CHECKING:  # issue #22's domain: not imported at run time by the hot paths' ports
    from billing.domain.change_log import ChangeEntry
    from billing.domain.deliveries import Delivery
    from billing.domain.webhook_endpoints import EndpointUrl, WebhookEndpoint


class ApiKeyStore(Protocol):
    def find(self, key_hash: str) -> ApiKeyGrant | None:
        """The grant stored under this hash, or None. One read."""


class EntitlementStore(Protocol):
    def sources_of(self, project_id: str, user_id: str) -> list[EntitlementSource]:
        """Every stored source of (project, user); empty when none. One read."""


class EventQueue(Protocol):
    def enqueue(self, raw_event: str, event_id: str, event_type: str) -> str:
        """Put a raw Stripe event on the queue; return the message id."""


class HealthProbe(Protocol):
    def check(self) -> None:
        """Return when the dependency answers; raise DependencyUnavailableError otherwise."""


class ProjectStore(Protocol):
    def allocate_id(self) -> str:
        """A project id never handed out before."""

    def create(self, project: Project) -> None:
        """Store a new project; ConflictError when its id is taken."""

    def get(self, project_id: str) -> Project | None: ...

    def list(self) -> list[Project]: ...

    def replace(self, project: Project, now: datetime) -> None:
        """Overwrite an existing project; NotFoundError when it does not exist."""


class AppStore(Protocol):
    def create(self, app: App, key_hash: str, key_prefix: str) -> None:
        """Store the app and its first key together; ConflictError if the key is registered."""

    def get(self, app_id: str) -> App | None: ...

    def list(self, project_id: str) -> list[tuple[App, list[ApiKeyInfo]]]: ...

    def rotate(
        self, app: App, new_key_hash: str, new_key_prefix: str, old_keys_expire_at: datetime
    ) -> int:
        """Add a key; make the app's other keys expire at the given time. Returns how many."""

    def deactivate(self, app: App) -> None:
        """Turn the app and every key of it off, together."""


class PriceStore(Protocol):
    def put(self, price: Price) -> None:
        """Register or update a price; ConflictError when another project owns the id."""

    def get(self, stripe_price_id: str) -> Price | None: ...

    def list(self, project_id: str) -> list[Price]: ...

    def remove(self, stripe_price_id: str, project_id: str) -> None:
        """NotFoundError when that project has no such price."""


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


class BillingLedger(Protocol):
    """What the entitlement engine reads and writes; ``commit`` is one transaction."""

    def read(
        self,
        *,
        event_id: str | None = None,
        fact_ids: Iterable[str] = (),
        owner: Owner | None = None,
        price_ids: Iterable[str] = (),
    ) -> LedgerState:
        """Whatever of these is asked, in one round trip: the event's processed mark, the
        stored facts, the owner's entitlement record and project grace period, the prices."""

    def owner_of_customer(self, customer_id: str) -> Owner | None: ...

    def commit(self, change: LedgerChange, now: datetime) -> bool:
        """Write the processed mark, the facts and the entitlement record together, each
        conditional on what was read; False when a condition refused it (nothing written)."""

    def record(self, event: StripeEventEnvelope, outcome: str, now: datetime) -> bool:
        """Only the processed mark (events that change nothing); False if already there."""


class UserFacts(Protocol):
    def facts_of(self, owner: Owner) -> list[Fact]:
        """Every billing fact of one (project, user). One single-partition query."""


class StripeReader(Protocol):
    """Stripe's objects as they are now, for the events whose payload cannot decide.
    Each call is one Stripe request; ``None`` when Stripe has no such object. Stripe being
    unreachable, or out of time, raises PaymentProviderUnavailableError."""

    def subscription(self, subscription_id: str) -> StripeRead | None:
        """With ``latest_invoice`` expanded."""

    def payment_intent(self, payment_intent_id: str) -> StripeRead | None:
        """With ``latest_charge`` expanded."""

    def charge(self, charge_id: str) -> StripeRead | None: ...

    def invoice(self, invoice_id: str) -> StripeRead | None: ...

    def invoice_of_payment(self, payment_intent_id: str) -> str | None:
        """The invoice a payment intent paid (Stripe's invoice payments), or None."""

    def disputes(self, payment_intent_id: str) -> list[dict[str, Any]]:
        """Every dispute of the payment intent's charges."""


class DeadLetters(Protocol):
    """The webhook dead-letter queue, for operators."""

    def approximate_count(self) -> int:
        """About how many messages wait (visible) in the queue."""

    def peek(self, limit: int) -> list[DeadLetter]:
        """Up to ``limit`` messages, left in the queue (each read adds one to its receive
        count, nothing else changes)."""

    def redrive(
        self, limit: int, to_queue_url: str, progress: Callable[[int], None] | None = None
    ) -> int:
        """Move up to ``limit`` messages to ``to_queue_url`` (send first, then delete: a crash
        duplicates, never loses); return how many moved."""


class GrantStore(Protocol):
    def read(self, project_id: str, user_id: str) -> tuple[list[EntitlementSource], int]:
        """The (project, user) record's sources and version (0: none)."""

    def write(self, sources: list[EntitlementSource], version_read: int, entry: AuditEntry) -> bool:
        """The record and its audit entry in one transaction; False if the record changed."""

    def audit(
        self, project_id: str, user_id: str, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Audit entries newest first, from after the position ``after`` (None: the newest),
        and the position of the last entry when more may follow (None at the end). Positions
        are the store's own; clients see them only sealed (billing.domain.cursors)."""


class MetricsStore(Protocol):
    def facts_of_project(self, project_id: str) -> list[Fact]:
        """Every billing fact of one project (reads bounded by that project's size)."""


class StripeObjectPages(Protocol):
    """Stripe's lists, one page at a time, paced under Stripe's rate limits."""

    def page(
        self, kind: ObjectKind, *, since: int, starting_after: str | None, limit: int
    ) -> StripePage:
        """Subscriptions (every status), or paid invoices, payment intents, refunds and
        disputes created since ``since``; newest first, after ``starting_after``."""


class ReconciliationRuns(Protocol):
    """Runs and their reports."""

    def start(self, run: RunSummary) -> None: ...

    def get(self, run_id: str) -> RunSummary | None: ...

    def last(self) -> RunSummary | None:
        """The run started most recently, or None."""

    def last_completed(self) -> RunSummary | None:
        """The run started most recently of those that completed without errors, or None."""

    def count_invocation(self, run_id: str) -> None: ...

    def save_page(
        self,
        run: RunSummary,
        after: Checkpoint,
        outcome: PageOutcome,
        status: RunStatus,
        now: datetime,
    ) -> bool:
        """Store one page's repairs and errors, then move the run to ``after`` adding its
        counts, only if it still stands where ``run`` says; False when another
        invocation moved it first (nothing counted twice)."""

    def repairs(self, run_id: str) -> list[RepairRecord]: ...

    def errors(self, run_id: str) -> list[RepairError]: ...

    def anomalies(self, run_id: str) -> list[PriceAnomaly]:
        """The prices the run found granting nothing where they are used."""


class RunQueue(Protocol):
    def continue_run(self, run_id: str) -> None:
        """Ask for a fresh invocation to carry the run on from its checkpoint."""


# ---------------------------------------------------------------------- issue #22: pushed changes
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
