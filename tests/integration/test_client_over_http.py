"""billing-client against the local stack over real HTTP: every route, real answers.

One project of its own (301): billing-admin creates it, its key and a price (in the service
and in the Stripe stand-in); a checkout paid at the stand-in brings a subscription through the
webhooks, so portal, entitlements and metrics have something true to say.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from billing.domain.webhook_signature import signature_header
from billing_client import (
    BillingClient,
    BillingConnectionError,
    ForbiddenError,
    HttpClientTransport,
    HttpRequest,
    HttpResponse,
    InvalidRequestError,
    NotFoundError,
    UnauthorizedError,
)
from billing_devstack.config import STANDIN_WEBHOOK_SECRET
from billing_devstack.launcher import StackProcess, free_port
from tests.integration.test_checkout_over_http import register_price, standin_url
from tests.support.checkout import pay_subscription_checkout
from tests.support.waiting import read_until

pytestmark = pytest.mark.integration

PROJECT = 301
PRICE = "price_client_monthly"
ORIGIN = "https://client.example.com"
WAIT_SECONDS = 30.0


class RecordingTransport:
    """The real transport, remembering the status of every answer."""

    def __init__(self) -> None:
        self.inner = HttpClientTransport()
        self.statuses: list[int] = []

    def send(self, request: HttpRequest) -> HttpResponse:
        response = self.inner.send(request)
        self.statuses.append(response.status)
        return response


@dataclass(frozen=True)
class Tenant:
    stack: StackProcess
    key: str

    def client(self, **options: Any) -> BillingClient:
        return BillingClient(self.stack.url, self.key, timeout=30.0, **options)


@pytest.fixture(scope="module")
def tenant(stack: StackProcess) -> Tenant:
    stack.admin("project", "create", "--id", str(PROJECT), "--name", "client", "--origin", ORIGIN)
    register_price(stack, str(PROJECT), PRICE, recurring=True)
    key = stack.admin("app", "create", "--project", str(PROJECT), "--name", "client")["api_key"]
    return Tenant(stack, key)


def new_user() -> str:
    return f"user_{uuid.uuid4().hex[:10]}"


def eventually[T](read: Callable[[], T], done: Callable[[T], bool]) -> T:
    return read_until(read, done, seconds=WAIT_SECONDS)


@pytest.fixture(scope="module")
def subscriber(tenant: Tenant) -> str:
    """A user who checked out through the client and paid at the stand-in; the subscription's
    ``pro`` entitlement has arrived."""
    client, user = tenant.client(), new_user()
    pay_subscription_checkout(client, user=user, project=PROJECT, price=PRICE, origin=ORIGIN)
    eventually(
        lambda: client.entitlements(user_id=user, project_id=PROJECT),
        lambda found: any(e.feature_code == "pro" and e.active for e in found),
    )
    return user


# ---------------------------------------------------------------------- probes
def test_the_probes_answer(tenant: Tenant) -> None:
    client = tenant.client()

    assert client.health().status == "ok"
    assert client.live().status == "alive"
    readiness = client.ready()
    assert (readiness.ready, readiness.status, readiness.reason) == (True, "ready", None)


def test_the_openapi_document_is_served(tenant: Tenant) -> None:
    document = tenant.client().openapi()

    assert isinstance(document, dict)
    assert "openapi" in document
    assert "/api/v1/entitlements" in document["paths"]


# ---------------------------------------------------------------------- checkout and portal
def test_checkout_opens_a_session_at_the_standin(tenant: Tenant) -> None:
    session = tenant.client().create_checkout_session(
        user_id=new_user(),
        project_id=str(PROJECT),
        price_id=PRICE,
        mode="subscription",
        success_url=f"{ORIGIN}/ok",
        cancel_url=f"{ORIGIN}/cancel",
    )

    assert session.checkout_url.startswith(standin_url(tenant.stack))
    assert session.session_id is not None and session.session_id.startswith("cs_")


def test_the_portal_needs_a_checkout_first(tenant: Tenant, subscriber: str) -> None:
    client, stranger = tenant.client(), new_user()

    assert client.portal_eligibility(user_id=stranger, project_id=PROJECT).eligible is False
    with pytest.raises(NotFoundError, match="complete a checkout first"):
        client.create_portal_session(
            user_id=stranger, project_id=PROJECT, return_url=f"{ORIGIN}/account"
        )

    assert client.portal_eligibility(user_id=subscriber, project_id=PROJECT).eligible is True
    portal = client.create_portal_session(
        user_id=subscriber, project_id=PROJECT, return_url=f"{ORIGIN}/account"
    )
    assert portal.portal_url.startswith(standin_url(tenant.stack))


# ---------------------------------------------------------------------- entitlements
def test_the_subscription_shows_in_the_list_and_the_check(tenant: Tenant, subscriber: str) -> None:
    client = tenant.client()

    (pro,) = client.entitlements(user_id=subscriber, project_id=PROJECT)
    check = client.check_entitlement(user_id=subscriber, project_id=PROJECT, feature_code="pro")
    other = client.check_entitlement(user_id=subscriber, project_id=PROJECT, feature_code="team")

    assert (pro.feature_code, pro.active, pro.source) == ("pro", True, "subscription")
    assert pro.source_id.startswith("sub_")
    assert pro.valid_from.tzinfo is UTC
    assert pro.valid_from <= datetime.now(UTC)
    assert check.active is True
    assert (other.feature_code, other.active, other.valid_to) == ("team", False, None)


def test_a_stale_cached_answer_is_revalidated_with_a_304(tenant: Tenant, subscriber: str) -> None:
    transport = RecordingTransport()
    clock = [0.0]
    client = tenant.client(entitlement_cache_ttl=2.0, transport=transport, clock=lambda: clock[0])

    first = client.entitlements(user_id=subscriber, project_id=PROJECT)
    cached = client.entitlements(user_id=subscriber, project_id=PROJECT)
    clock[0] += 5
    revalidated = client.entitlements(user_id=subscriber, project_id=PROJECT)
    check = client.check_entitlement(user_id=subscriber, project_id=PROJECT, feature_code="pro")
    clock[0] += 5
    check_again = client.check_entitlement(
        user_id=subscriber, project_id=PROJECT, feature_code="pro"
    )

    assert first == cached == revalidated
    assert check == check_again
    assert transport.statuses == [200, 304, 200, 304]


# ---------------------------------------------------------------------- admin
def test_grant_revoke_and_the_audit_trail(tenant: Tenant) -> None:
    transport = RecordingTransport()
    client = tenant.client(entitlement_cache_ttl=60.0, transport=transport)
    user, ends = new_user(), datetime.now(UTC).replace(microsecond=0) + timedelta(days=7)
    beta = partial(client.check_entitlement, user_id=user, project_id=PROJECT, feature_code="beta")
    grant_beta = partial(
        client.grant,
        user_id=user,
        project_id=PROJECT,
        feature_code="beta",
        granted_by="support@example.com",
        reason="early access",
        valid_to=ends,
    )

    assert beta().active is False
    granted, again = grant_beta(), grant_beta()
    after_grant = beta()  # the cached "not active" was forgotten by the grant: no 60 s wait
    revoked = client.revoke(
        user_id=user,
        project_id=PROJECT,
        feature_code="beta",
        revoked_by="support@example.com",
        reason="beta over",
    )
    after_revoke = beta()

    assert (granted.created, again.created) == (True, False)
    assert transport.statuses[1:3] == [201, 200]
    assert (granted.project_id, granted.valid_to, granted.source) == (str(PROJECT), ends, "manual")
    assert (after_grant.active, after_grant.valid_to) == (True, ends)
    assert (revoked.revoked, revoked.source_id) == (True, granted.source_id)
    assert after_revoke.active is False
    (listed,) = client.entitlements(user_id=user, project_id=PROJECT)
    assert (listed.active, listed.reason) == (False, "revoked")

    page = client.audit(user_id=user, project_id=PROJECT, limit=1)
    assert [e.action for e in page.items] == ["revoke"]
    assert page.next_cursor is not None
    trail = list(client.iter_audit(user_id=user, project_id=PROJECT, page_size=1))
    assert [(e.action, e.actor) for e in trail] == [
        ("revoke", "support@example.com"),
        ("grant", "support@example.com"),
    ]
    assert trail[1].before is None
    assert trail[1].after is not None and trail[1].after.valid_to == ends
    assert trail[0].after is not None and trail[0].after.in_force is False

    with pytest.raises(NotFoundError, match="no active grant"):
        client.revoke(
            user_id=user, project_id=PROJECT, feature_code="beta", revoked_by="s", reason="again"
        )


# ---------------------------------------------------------------------- metrics
def test_the_subscription_counts_in_the_metrics(tenant: Tenant, subscriber: str) -> None:
    client = tenant.client()
    since = datetime.now(UTC) - timedelta(days=1)
    until = datetime.now(UTC) + timedelta(minutes=5)

    figures = client.subscription_metrics(project_id=PROJECT, since=since, until=until)
    revenue = client.revenue_metrics(project_id=str(PROJECT))

    assert figures.project_id == str(PROJECT)
    assert figures.since == since.replace(microsecond=0)
    assert figures.total_active == figures.new == 1
    assert figures.by_price[PRICE].active == 1
    assert figures.by_price[PRICE].feature_codes == ("pro",)
    assert figures.by_feature == {"pro": 1}
    assert revenue.until - revenue.since == timedelta(days=30)
    assert revenue.currencies["usd"].mrr == 900
    assert revenue.currencies["usd"].arr == 900 * 12


# ---------------------------------------------------------------------- webhooks
def test_a_relayed_webhook_is_received_and_a_forged_one_refused(tenant: Tenant) -> None:
    client = tenant.client()
    event_id = f"evt_client_{uuid.uuid4().hex[:16]}"
    payload = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "customer.created",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": {"id": "cus_client", "object": "customer"}},
        }
    ).encode()
    signature = signature_header(payload, STANDIN_WEBHOOK_SECRET, int(time.time()))

    receipt = client.post_stripe_webhook(payload, signature=signature)

    assert (receipt.received, receipt.id) == (True, event_id)
    forged = signature_header(payload, "whsec_not_the_secret", int(time.time()))
    with pytest.raises(InvalidRequestError, match="invalid signature") as raised:
        client.post_stripe_webhook(payload, signature=forged)
    assert raised.value.status == 400


# ---------------------------------------------------------------------- errors
def test_the_services_refusals_arrive_by_kind(tenant: Tenant) -> None:
    client = tenant.client()

    with pytest.raises(InvalidRequestError) as invalid:
        client.create_checkout_session(
            user_id=new_user(),
            project_id=PROJECT,
            price_id=PRICE,
            mode="subscription",
            success_url=f"{ORIGIN}/ok",
            cancel_url=f"{ORIGIN}/cancel",
            quantity=0,
        )
    with pytest.raises(ForbiddenError, match="Project ID does not match"):
        client.entitlements(user_id="user_1", project_id=PROJECT + 1)
    with pytest.raises(UnauthorizedError) as unauthorized:
        BillingClient(tenant.stack.url, "bk_neverIssued_000").entitlements(
            user_id="user_1", project_id=PROJECT
        )

    assert invalid.value.status == 422
    assert "quantity" in [problem.field for problem in invalid.value.errors]
    assert unauthorized.value.message == "Unauthorized"
    assert "bk_neverIssued_000" not in str(unauthorized.value)


def test_no_service_listening_is_a_connection_error_after_the_retries() -> None:
    waits: list[float] = []
    client = BillingClient(
        f"http://127.0.0.1:{free_port()}", "bk_any", max_retries=1, sleep=waits.append
    )

    with pytest.raises(BillingConnectionError, match="no answer after 2 attempt"):
        client.health()

    assert len(waits) == 1
