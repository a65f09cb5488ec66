"""Outbound webhooks: a project's endpoints, the fan-out of each change to them, and the
signed delivery of one change to one endpoint.

Delivery is at least once and order-free: the change log's stream feeds :func:`dispatch`,
which queues one delivery per endpoint; :func:`deliver` sends it (the full state and the
version, signed per Standard Webhooks) and raises DeliveryFailedError for anything but a 2xx,
which the sender answers with a growing wait before the next attempt (billing.domain.
deliveries). A receiver keeps the highest version it saw per user, so duplicates and late
deliveries change nothing there.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from billing.domain.change_log import change_payload
from billing.domain.deliveries import Delivery, DeliveryFailedError
from billing.domain.standard_webhooks import delivery_id, signed_headers
from billing.domain.text import validate_text
from billing.domain.webhook_endpoints import (
    MAX_ENDPOINTS_PER_PROJECT,
    SECRET_BYTES,
    EndpointSecret,
    EndpointUrl,
    WebhookEndpoint,
    check_addresses,
    new_secret,
    parse_endpoint_url,
    with_new_secret,
)
from billing.errors import ConflictError, NotFoundError, ValidationError
from billing.ports.push import (
    AddressResolver,
    ChangeLog,
    DeliveryQueue,
    WebhookEndpointStore,
    WebhookPoster,
)
from billing.ports.tenancy import ProjectStore

MAX_DESCRIPTION_LENGTH = 200
DELIVERY_TIMEOUT_SECONDS = 5.0  # a receiver answers quickly, or the delivery is retried later
RandomBytes = Callable[[int], bytes]


# ---------------------------------------------------------------------- endpoints
def _addresses(resolver: AddressResolver, url: EndpointUrl) -> list[str]:
    """What the host is: itself when it is an address, else what DNS answers now."""
    literal = url.literal_address
    return [str(literal)] if literal is not None else resolver.addresses(url.host, url.port)


def add_endpoint(
    projects: ProjectStore,
    store: WebhookEndpointStore,
    resolver: AddressResolver,
    *,
    project_id: str,
    url: str,
    description: str = "",
    allow_loopback: bool,
    now: datetime,
    random_bytes: RandomBytes = secrets.token_bytes,
) -> WebhookEndpoint:
    """A new endpoint with its own signing secret, once its URL and every address its host
    resolves to pass the rules (ValidationError naming ``url``: nothing is stored)."""
    if projects.get(project_id) is None:
        raise NotFoundError(f"project {project_id} does not exist")
    description = description.strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise ValidationError("description", f"must be at most {MAX_DESCRIPTION_LENGTH} chars")
    validate_text(description, "description")
    endpoint_url = parse_endpoint_url(url, allow_loopback=allow_loopback)
    check_addresses(endpoint_url, _addresses(resolver, endpoint_url), allow_loopback=allow_loopback)
    if len(store.list(project_id)) >= MAX_ENDPOINTS_PER_PROJECT:
        raise ConflictError("url", f"a project has at most {MAX_ENDPOINTS_PER_PROJECT} endpoints")
    endpoint = WebhookEndpoint(
        project_id=project_id,
        endpoint_id=f"we_{uuid.uuid4().hex[:20]}",
        url=url,
        secrets=(EndpointSecret(new_secret(random_bytes(SECRET_BYTES)), now),),
        created_at=now,
        description=description,
    )
    store.add(endpoint)
    return endpoint


def endpoint_of(store: WebhookEndpointStore, project_id: str, endpoint_id: str) -> WebhookEndpoint:
    found = store.get(project_id, endpoint_id)
    if found is None:
        raise NotFoundError(f"project {project_id} has no webhook endpoint {endpoint_id}")
    return found


def rotate_secret(
    store: WebhookEndpointStore,
    *,
    project_id: str,
    endpoint_id: str,
    overlap: timedelta,
    now: datetime,
    random_bytes: RandomBytes = secrets.token_bytes,
) -> WebhookEndpoint:
    """A new secret signs first; the ones in use keep signing for ``overlap`` (a delivery
    then carries a signature of each), so the receiver can switch without losing one."""
    if overlap < timedelta(0) or overlap > timedelta(days=30):
        raise ValidationError("overlap", "must be 0 to 30 days")
    endpoint = endpoint_of(store, project_id, endpoint_id)
    rotated = with_new_secret(endpoint, new_secret(random_bytes(SECRET_BYTES)), now, overlap)
    store.replace(rotated)
    return rotated


# ---------------------------------------------------------------------- fan-out
@dataclass(frozen=True)
class LoggedChange:
    """A change-log entry as its stream names it."""

    project_id: str
    user_id: str
    version: int


def dispatch(
    changes: Iterable[LoggedChange], store: WebhookEndpointStore, queue: DeliveryQueue
) -> int:
    """Queue one delivery of each change per endpoint of its project (each project's
    endpoints read once); how many were queued. A project without endpoints costs its Query."""
    endpoints: dict[str, list[WebhookEndpoint]] = {}
    deliveries: list[Delivery] = []
    for change in changes:
        if change.project_id not in endpoints:
            endpoints[change.project_id] = store.list(change.project_id)
        deliveries.extend(
            Delivery(change.project_id, change.user_id, change.version, e.endpoint_id)
            for e in endpoints[change.project_id]
        )
    if deliveries:
        queue.enqueue(deliveries)
    return len(deliveries)


# ---------------------------------------------------------------------- one delivery
@dataclass(frozen=True)
class Sent:
    """A delivery the endpoint took (2xx), or one with nothing left to send (``gone``: the
    endpoint was removed, or the change is not in the log)."""

    endpoint_id: str
    status: int | None
    message_id: str | None
    gone: bool = False


def deliver(
    delivery: Delivery,
    *,
    log: ChangeLog,
    store: WebhookEndpointStore,
    resolver: AddressResolver,
    poster: WebhookPoster,
    allow_loopback: bool,
    now: datetime,
    timeout: float = DELIVERY_TIMEOUT_SECONDS,
) -> Sent:
    """Send one change to one endpoint, signed with its secrets in use; DeliveryFailedError
    when it is not taken (the host resolving to a refused address counts as not taken)."""
    endpoint = store.get(delivery.project_id, delivery.endpoint_id)
    entry = log.entry(delivery.project_id, delivery.user_id, delivery.version)
    if endpoint is None or entry is None:
        return Sent(delivery.endpoint_id, None, None, gone=True)
    message_id = delivery_id(
        delivery.project_id, delivery.user_id, delivery.version, delivery.endpoint_id
    )
    body = json.dumps(change_payload(entry), separators=(",", ":")).encode()
    headers = signed_headers(message_id, int(now.timestamp()), body, endpoint.signing_secrets(now))
    try:
        url = parse_endpoint_url(endpoint.url, allow_loopback=allow_loopback)
        address = check_addresses(url, _addresses(resolver, url), allow_loopback=allow_loopback)
    except ValidationError as exc:
        raise DeliveryFailedError(endpoint.endpoint_id, f"address refused: {exc.reason}") from None
    try:
        status = poster.post(url, str(address), body, headers, timeout)
    except OSError as exc:
        raise DeliveryFailedError(endpoint.endpoint_id, f"no answer ({exc})") from None
    if not 200 <= status < 300:  # noqa: PLR2004 - HTTP's success range
        raise DeliveryFailedError(endpoint.endpoint_id, f"answered {status}")
    return Sent(endpoint.endpoint_id, status, message_id)
