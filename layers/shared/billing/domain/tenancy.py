"""Projects, apps and prices: the tenancy the service is shared by, and its validation rules."""

from __future__ import annotations

import ipaddress
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


@dataclass(frozen=True)
class StripePriceTerms:
    """What Stripe bills for a price: the terms the service keeps from Stripe, never from
    what someone typed. ``amount`` None: not a per-unit price (tiers, customer's choice)."""

    amount: int | None
    currency: str
    interval: Interval
    interval_count: int = 1


@dataclass(frozen=True)
class PriceRequest:
    """A price to register: its grants, and the terms the operator gave, if any (None:
    take Stripe's)."""

    stripe_price_id: str
    project_id: str
    feature_codes: tuple[str, ...]
    access_days: int | None = None
    amount: int | None = None
    currency: str | None = None
    interval: Interval | None = None
    interval_count: int | None = None
    limits: tuple[FeatureLimit, ...] = ()  # numeric limits on some of its features


def terms_of(price: Price) -> StripePriceTerms:
    return StripePriceTerms(price.amount, price.currency, price.interval, price.interval_count)


def terms_differing(mine: StripePriceTerms, stripe: StripePriceTerms) -> list[tuple[str, str]]:
    """(field, what Stripe says against what is given) for each term that differs."""
    return [
        (name, f"Stripe says {theirs!r}, not {ours!r}")
        for name in ("amount", "currency", "interval", "interval_count")
        if (ours := getattr(mine, name)) != (theirs := getattr(stripe, name))
    ]


def check_against_stripe(price: Price, stripe: StripePriceTerms | None) -> Price:
    """``price`` if its terms are Stripe's; ValidationError naming the first that is not
    (or ``price_id`` when Stripe has no such price)."""
    if stripe is None:
        raise ValidationError("price_id", f"Stripe has no price {price.stripe_price_id}")
    for name, reason in terms_differing(terms_of(price), stripe):
        raise ValidationError(name, f"{price.stripe_price_id}: {reason}")
    return price


def price_from_stripe(request: PriceRequest, stripe: StripePriceTerms | None) -> Price:
    """The price with Stripe's terms; each term the request gives must be Stripe's
    (ValidationError naming the first that is not)."""
    if stripe is None:
        raise ValidationError("price_id", f"Stripe has no price {request.stripe_price_id}")
    if stripe.amount is None:
        raise ValidationError(
            "price_id", f"{request.stripe_price_id} is not a per-unit price at Stripe"
        )
    given = StripePriceTerms(
        request.amount if request.amount is not None else stripe.amount,
        request.currency.lower() if request.currency is not None else stripe.currency,
        request.interval or stripe.interval,
        request.interval_count if request.interval_count is not None else stripe.interval_count,
    )
    for name, reason in terms_differing(given, stripe):
        raise ValidationError(name, f"{request.stripe_price_id}: {reason}")
    return Price(
        stripe_price_id=request.stripe_price_id,
        project_id=request.project_id,
        feature_codes=request.feature_codes,
        amount=stripe.amount,
        currency=stripe.currency,
        interval=stripe.interval,
        interval_count=stripe.interval_count,
        access_days=request.access_days,
        limits=request.limits,
    )


def validate_name(value: str, field_name: str = "name") -> str:
    if not _NAME.fullmatch(value):
        raise ValidationError(
            field_name, "must be 1-64 characters: letters, digits, space, _ . - (starting alnum)"
        )
    return value


URL_RULE = (
    "must be an absolute https URL (http only on localhost) naming a valid host, with no "
    "spaces, control characters, backslashes or user info"
)
DEFAULT_PORTS = {"https": 443, "http": 80}
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PORT = re.compile(r"[0-9]{1,5}")
MAX_HOST_LENGTH = 253
MAX_PORT = 65535


def url_origin(url: str, field: str) -> str:
    """The origin of an absolute http(s) URL, ``scheme://host[:port]`` in lowercase, the
    default port (443 for https, 80 for http) left out; ValidationError naming ``field`` and
    the reason otherwise.

    The rules are those of a URL a browser is sent to (a checkout's return URL, an allowed
    origin): no whitespace or control character anywhere (Unicode ones too) and no backslash
    (browsers read it as ``/``, so ``https://a.example\\@evil.example`` would go elsewhere
    than it reads); an authority of a host and an optional port only (no ``@``, not even an
    empty user info); a host of LDH labels (letters, digits, hyphens; an IDN as punycode
    ``xn--``, no trailing dot, the last label starting with a letter, so nothing a browser reads
    as an IPv4 address), an IPv4 address or a bracketed IPv6 one (no zone); a port 1-65535.
    https only, except http on localhost, 127.0.0.1 and [::1] for development. Path, query and
    fragment are the caller's.
    """
    odd = next((char for char in url if char.isspace() or not char.isprintable()), None)
    if odd is not None:
        raise ValidationError(
            field, f"must not contain spaces or control characters (found U+{ord(odd):04X})"
        )
    if "\\" in url:
        raise ValidationError(field, "must not contain a backslash")
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [IPv6, a netloc NFKC would change...
        raise ValidationError(field, URL_RULE) from None
    if parts.scheme not in DEFAULT_PORTS or not parts.netloc:
        raise ValidationError(field, URL_RULE)
    if "@" in parts.netloc:
        raise ValidationError(field, "must not carry a user name or password (no @ in the host)")
    written_host, port = _host_and_port(parts.netloc, field)
    host = _valid_host(written_host.lower(), field)
    if parts.scheme == "http" and host not in _LOCAL_HOSTS:
        raise ValidationError(field, "must use https (http only on localhost)")
    shown_host = f"[{host}]" if ":" in host else host
    shown_port = "" if port in (None, DEFAULT_PORTS[parts.scheme]) else f":{port}"
    return f"{parts.scheme}://{shown_host}{shown_port}"


def _host_and_port(netloc: str, field: str) -> tuple[str, int | None]:
    """``netloc`` split into its host (IPv6 checked, without brackets) and its port (None: not
    given)."""
    if netloc.startswith("["):
        inside, bracket, rest = netloc[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValidationError(field, URL_RULE)
        host, has_port, port = _ipv6(inside, field), bool(rest), rest[1:]
    else:
        host, colon, port = netloc.partition(":")
        has_port = bool(colon)
    if not has_port:
        return host, None
    if not _PORT.fullmatch(port) or not 1 <= int(port) <= MAX_PORT:
        raise ValidationError(field, "has an invalid port (1-65535)")
    return host, int(port)


def _ipv6(text: str, field: str) -> str:
    """An IPv6 address as written in brackets, compressed; a zone (``%eth0``: an interface of
    whichever machine reads the URL) is refused."""
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        address = None
    if address is None or address.scope_id is not None:
        raise ValidationError(field, "has an invalid IPv6 address (and no zone)")
    return address.compressed


def _valid_host(host: str, field: str) -> str:
    """``host`` (lowercase; IPv6 already checked), if it is a valid host name or address."""
    if ":" in host:
        return host
    if not host:
        raise ValidationError(field, "must name a host")
    labels = host.split(".")
    if all(label.isascii() and label.isdigit() for label in labels):
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise ValidationError(field, "has an invalid IPv4 address") from None
    if (
        len(host) > MAX_HOST_LENGTH
        or not all(label.isascii() and _HOST_LABEL.fullmatch(label) for label in labels)
        or not labels[-1][0].isalpha()
    ):
        raise ValidationError(
            field,
            "must name a valid host: dot-separated labels of letters, digits and hyphens "
            "(an IDN in punycode, xn--...), no trailing dot",
        )
    return host


def normalize_origin(value: str) -> str:
    """``https://app.example.com:443/any/path`` -> ``https://app.example.com``: an allowed
    origin of a project, by the rules of :func:`url_origin`.

    Checkout and portal return URLs must start with an allowed origin.
    """
    try:
        return url_origin(value, "allowed_origins")
    except ValidationError as exc:
        raise ValidationError("allowed_origins", f"{value!r}: {exc.reason}") from None


def comparable_origin(stored: str) -> str:
    """An origin as stored (earlier rules kept a default port, ``https://x:443``) in the form
    :func:`url_origin` gives, to compare with one; unchanged if it no longer passes."""
    try:
        return url_origin(stored, "allowed_origins")
    except ValidationError:
        return stored


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
