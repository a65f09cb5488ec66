"""Checkout and portal rules: which price, which mode, which return URLs, which keys."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from billing.domain.tenancy import Price, Project, comparable_origin, url_origin
from billing.errors import ValidationError

CheckoutMode = Literal["subscription", "payment"]
MAX_QUANTITY = 100
MAX_TRIAL_DAYS = 730


@dataclass(frozen=True)
class CheckoutRequest:
    project_id: str
    user_id: str
    price_id: str
    mode: CheckoutMode
    success_url: str
    cancel_url: str
    quantity: int = 1
    trial_days: int | None = None
    allow_promotion_codes: bool = False


@dataclass(frozen=True)
class CheckoutSession:
    session_id: str
    url: str


def required_mode(price: Price) -> CheckoutMode:
    """Recurring prices are sold in ``subscription`` mode, one-time prices in ``payment``."""
    return "subscription" if price.recurring else "payment"


def check_mode(request: CheckoutRequest, price: Price) -> None:
    expected = required_mode(price)
    if request.mode != expected:
        kind = "recurring" if price.recurring else "one-time"
        raise ValidationError("mode", f"{price.stripe_price_id} is {kind}: use mode '{expected}'")
    if request.trial_days is not None and not price.recurring:
        raise ValidationError("trial_days", "only subscriptions have a trial")


def check_return_url(project: Project, url: str, field: str) -> str:
    """A redirect URL must be a well-formed https URL (:func:`url_origin`), and on one of the
    project's origins when it has any; ValidationError naming ``field`` otherwise.

    Without this a checkout could send a user to any site after paying, and Stripe would be
    handed URLs no browser reads the same way.
    """
    origin = url_origin(url, field)
    allowed = {comparable_origin(stored) for stored in project.allowed_origins}
    if allowed and origin not in allowed:
        raise ValidationError(field, f"{origin} is not an allowed origin of this project")
    return url


def idempotency_key(operation: str, material: object) -> str:
    """A Stripe idempotency key derived from what is asked: a retried request reuses it,
    so Stripe answers the first result instead of creating a second object."""
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"{operation}\n{canonical}".encode()).hexdigest()
    return f"billing-{operation}-{digest[:48]}"
