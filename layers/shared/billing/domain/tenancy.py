"""Projects, apps and prices: the tenancy the service is shared by, and its validation rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from billing.domain.allowances import FeatureLimit, validate_feature_limits
from billing.domain.ids import FEATURE_CODE_RULE, is_feature_code
from billing.errors import ValidationError

DEFAULT_GRACE_PERIOD_DAYS = 3
MAX_GRACE_PERIOD_DAYS = 60
MAX_INTERVAL_COUNT = 365
MAX_ACCESS_DAYS = 36_500
Interval = Literal["day", "week", "month", "year", "one_time"]
INTERVALS: tuple[Interval, ...] = ("day", "week", "month", "year", "one_time")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}")
_STRIPE_PRICE_ID = re.compile(r"price_[A-Za-z0-9_]{1,120}")
_CURRENCY = re.compile(r"[a-z]{3}")
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]"}


@dataclass(frozen=True)
class Project:
    project_id: str
    name: str
    allowed_origins: tuple[str, ...] = ()
    grace_period_days: int = DEFAULT_GRACE_PERIOD_DAYS
    created_at: datetime | None = None


@dataclass(frozen=True)
class App:
    """A client of one project; its keys carry a copy of ``active`` and ``scopes`` so that the
    authorizer needs one read."""

    app_id: str
    project_id: str
    name: str
    active: bool = True
    scopes: frozenset[str] = field(default_factory=frozenset)
    created_at: datetime | None = None


@dataclass(frozen=True)
class ApiKeyInfo:
    """What is known of a key without the key: its prefix, and until when it works."""

    key_prefix: str
    active: bool
    expires_at: datetime | None
    created_at: datetime | None


@dataclass(frozen=True)
class Price:
    """A Stripe price registered for a project, and the features it grants."""

    stripe_price_id: str
    project_id: str
    feature_codes: tuple[str, ...]
    amount: int
    currency: str
    interval: Interval
    interval_count: int = 1
    access_days: int | None = None
    limits: tuple[FeatureLimit, ...] = ()  # numeric limits on some of its features

    @property
    def recurring(self) -> bool:
        return self.interval != "one_time"


def validate_name(value: str, field_name: str = "name") -> str:
    if not _NAME.fullmatch(value):
        raise ValidationError(
            field_name, "must be 1-64 characters: letters, digits, space, _ . - (starting alnum)"
        )
    return value


def normalize_origin(value: str) -> str:
    """``https://app.example.com/any/path`` -> ``https://app.example.com``.

    Checkout and portal return URLs must start with an allowed origin. https only, except
    http on localhost for development.
    """
    try:
        parts = urlsplit(value.strip())
        port_number = parts.port
    except ValueError:  # a bad port, an unclosed [IPv6, a netloc NFKC would change...
        raise ValidationError("allowed_origins", f"{value!r} is not a valid URL") from None
    if port_number == 0:  # urlsplit takes it; no server listens there
        raise ValidationError("allowed_origins", f"{value!r} has no valid port (1-65535)")
    port = "" if port_number is None else f":{port_number}"
    host = (parts.hostname or "").lower()
    local = host in _LOCAL_HOSTS or f"[{host}]" in _LOCAL_HOSTS
    if parts.scheme not in ("https", "http") or not host:
        raise ValidationError("allowed_origins", f"{value!r} is not an http(s) origin")
    if parts.scheme == "http" and not local:
        raise ValidationError("allowed_origins", f"{value!r} must use https")
    if parts.username or parts.password:
        raise ValidationError("allowed_origins", f"{value!r} must not carry credentials")
    shown_host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown_host}{port}"


def normalize_origins(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(normalize_origin(v) for v in values))


def validate_grace_period_days(value: int) -> int:
    if not 0 <= value <= MAX_GRACE_PERIOD_DAYS:
        raise ValidationError("grace_period_days", f"must be 0-{MAX_GRACE_PERIOD_DAYS}")
    return value


def validate_price(price: Price) -> Price:
    """Check every field of a price; raise ValidationError naming the first bad one."""
    _validate_price_grants(price)
    _validate_price_terms(price)
    return price


def _validate_price_grants(price: Price) -> None:
    if not _STRIPE_PRICE_ID.fullmatch(price.stripe_price_id):
        raise ValidationError("price_id", "must be a Stripe price id (price_...)")
    if not price.feature_codes:
        raise ValidationError("feature_codes", "a price must grant at least one feature")
    for code in price.feature_codes:
        if not is_feature_code(code):
            raise ValidationError("feature_codes", f"{code!r}: {FEATURE_CODE_RULE}")
    validate_feature_limits(price.limits, price.feature_codes, recurring=price.recurring)


def _validate_price_terms(price: Price) -> None:
    if price.amount < 0:
        raise ValidationError("amount", "must be a non-negative integer in minor units")
    if not _CURRENCY.fullmatch(price.currency):
        raise ValidationError("currency", "must be a lowercase ISO 4217 code such as usd")
    if price.interval not in INTERVALS:
        raise ValidationError("interval", f"must be one of {', '.join(INTERVALS)}")
    if not 1 <= price.interval_count <= MAX_INTERVAL_COUNT:
        raise ValidationError("interval_count", f"must be 1-{MAX_INTERVAL_COUNT}")
    if price.access_days is not None:
        if price.recurring:
            raise ValidationError("access_days", "only one-time prices have an access duration")
        if not 1 <= price.access_days <= MAX_ACCESS_DAYS:
            raise ValidationError("access_days", f"must be 1-{MAX_ACCESS_DAYS} days")
