"""Send users to Stripe: Checkout, the customer portal, and whether the portal can open.

Idempotency keys come from what is asked, within a short window: a retried request (by a
client, API Gateway or the SDK) gets the first answer instead of a second Stripe object,
while the same purchase asked for again later gets a fresh session.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from billing.domain.billing_facts import FINAL_STATUSES, Owner, SubscriptionFact
from billing.domain.checkout import (
    CheckoutRequest,
    CheckoutSession,
    check_mode,
    check_return_url,
    idempotency_key,
)
from billing.domain.tenancy import Price, Project
from billing.errors import NotFoundError
from billing.ports.checkout import CustomerStore, PaymentGateway, UserFacts
from billing.ports.tenancy import PriceStore, ProjectStore
from billing.services.tenancy import get_project

CHECKOUT_RETRY_WINDOW_SECONDS = 600
PORTAL_RETRY_WINDOW_SECONDS = 60
NO_CUSTOMER = "customer not found: complete a checkout first"


@dataclass(frozen=True)
class PortalEligibility:
    eligible: bool
    reason: str


def _window(now: datetime, seconds: int) -> int:
    return int(now.timestamp()) // seconds


def registered_price(prices: PriceStore, project: Project, price_id: str) -> Price:
    """The price, if registered for this project; 404 otherwise (another project's price
    is as unknown to this caller as a made-up one)."""
    price = prices.get(price_id)
    if price is None or price.project_id != project.project_id:
        raise NotFoundError(f"price {price_id} is not registered for project {project.project_id}")
    return price


def customer_for(
    customers: CustomerStore,
    gateway: PaymentGateway,
    project_id: str,
    user_id: str,
    currency: str,
) -> str:
    """The user's Stripe customer in this currency, created in Stripe if there is none yet.

    Two first checkouts at once send the same idempotency key, so Stripe creates one customer
    and both get its id.
    """
    existing = customers.customer_of(project_id, user_id, currency)
    if existing:
        return existing
    key = idempotency_key(
        "customer", {"project_id": project_id, "user_id": user_id, "currency": currency}
    )
    return gateway.create_customer(project_id, user_id, currency, key)


def start_checkout(
    projects: ProjectStore,
    prices: PriceStore,
    customers: CustomerStore,
    gateway: PaymentGateway,
    *,
    request: CheckoutRequest,
    now: datetime,
) -> CheckoutSession:
    """Validate, then open a Stripe Checkout session; nothing is stored unless Stripe said yes."""
    project = get_project(projects, request.project_id)
    price = registered_price(prices, project, request.price_id)
    check_mode(request, price)
    check_return_url(project, request.success_url, "success_url")
    check_return_url(project, request.cancel_url, "cancel_url")
    customer_id = customer_for(
        customers, gateway, project.project_id, request.user_id, price.currency
    )
    key = idempotency_key(
        "checkout",
        {
            **asdict(request),
            "customer": customer_id,
            "window": _window(now, CHECKOUT_RETRY_WINDOW_SECONDS),
        },
    )
    session = gateway.create_checkout_session(request, customer_id, key)
    # The mapping is written once Stripe has the customer and a session for it.
    customers.remember(project.project_id, request.user_id, price.currency, customer_id, now)
    return session


def portal_customer(
    customers: CustomerStore, facts: UserFacts, owner: Owner, currency: str | None
) -> str:
    """The Stripe customer the portal opens on: the one of ``currency`` when asked; else the
    one holding the user's live subscription (newest first), so a user who later bought in a
    second currency can still reach the subscription to cancel it; else the newest."""
    if currency is not None:
        found = customers.customer_of(owner.project_id, owner.user_id, currency)
        if found is None:
            raise NotFoundError(f"{NO_CUSTOMER} in {currency}")
        return found
    live = sorted(
        (
            fact
            for fact in facts.facts_of(owner)
            if isinstance(fact, SubscriptionFact)
            and fact.status not in FINAL_STATUSES
            and fact.customer_id
        ),
        key=lambda fact: fact.started_at,
        reverse=True,
    )
    if live and live[0].customer_id:
        return live[0].customer_id
    newest = customers.any_customer_of(owner.project_id, owner.user_id)
    if newest is None:
        raise NotFoundError(NO_CUSTOMER)
    return newest


def open_portal(
    projects: ProjectStore,
    customers: CustomerStore,
    facts: UserFacts,
    gateway: PaymentGateway,
    *,
    project_id: str,
    user_id: str,
    return_url: str,
    now: datetime,
    currency: str | None = None,
) -> str:
    project = get_project(projects, project_id)
    check_return_url(project, return_url, "return_url")
    customer_id = portal_customer(customers, facts, Owner(project.project_id, user_id), currency)
    key = idempotency_key(
        "portal",
        {
            "customer": customer_id,
            "return_url": return_url,
            "window": _window(now, PORTAL_RETRY_WINDOW_SECONDS),
        },
    )
    return gateway.create_portal_session(customer_id, return_url, key)


def portal_eligibility(
    customers: CustomerStore, project_id: str, user_id: str
) -> PortalEligibility:
    """The portal opens for users who have a Stripe customer in this project. One read."""
    if customers.any_customer_of(project_id, user_id) is None:
        return PortalEligibility(False, "no Stripe customer yet: complete a checkout first")
    return PortalEligibility(True, "has a Stripe customer")
