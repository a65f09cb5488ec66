"""The service's answers as frozen dataclasses, parsed from its JSON.

Fields the API documents are required and type-checked; fields it may add later are ignored.
Times are aware ``datetime`` objects in UTC (the API writes ISO 8601 with a ``Z``).
tests/unit/client/test_contract.py holds each class to its schema in the OpenAPI document
(functions/openapi_document/openapi.json): the same fields, types and nullability.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast, get_args


class ResponseShapeError(ValueError):
    """A documented field is missing or has the wrong type."""


# ---------------------------------------------------------------------- field readers
def _field(data: Mapping[str, Any], key: str) -> Any:
    if key not in data:
        raise ResponseShapeError(f"missing field {key!r}")
    return data[key]


def _str(data: Mapping[str, Any], key: str) -> str:
    value = _field(data, key)
    if not isinstance(value, str):
        raise ResponseShapeError(f"{key!r} is not a string")
    return value


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    return None if data.get(key) is None else _str(data, key)


def _bool(data: Mapping[str, Any], key: str) -> bool:
    value = _field(data, key)
    if not isinstance(value, bool):
        raise ResponseShapeError(f"{key!r} is not a boolean")
    return value


def _int(data: Mapping[str, Any], key: str) -> int:
    value = _field(data, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ResponseShapeError(f"{key!r} is not an integer")
    return value


def _object(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = _field(data, key)
    if not isinstance(value, Mapping):
        raise ResponseShapeError(f"{key!r} is not an object")
    return value


def _opt_int(data: Mapping[str, Any], key: str) -> int | None:
    return None if data.get(key) is None else _int(data, key)


Reset = Literal["never", "billing_period", "day", "month"]
_RESETS = get_args(Reset)


def _opt_reset(data: Mapping[str, Any], key: str) -> Reset | None:
    value = _opt_str(data, key)
    if value is not None and value not in _RESETS:
        raise ResponseShapeError(f"{key!r} is not one of {', '.join(_RESETS)}")
    return cast(Reset | None, value)


def _opt_object(data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    return None if data.get(key) is None else _object(data, key)


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = _field(data, key)
    if not isinstance(value, list):
        raise ResponseShapeError(f"{key!r} is not a list")
    return value


def _opt_float(data: Mapping[str, Any], key: str) -> float | None:
    value = _field(data, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ResponseShapeError(f"{key!r} is not a number")
    return float(value)


def _counts(data: Mapping[str, Any], key: str) -> dict[str, int]:
    counts = _object(data, key)
    return {name: _int(counts, name) for name in counts}


def parse_time(text: str) -> datetime:
    """An ISO 8601 time as an aware UTC datetime (a time without an offset is taken as UTC)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """An aware datetime as the API's ISO 8601 in UTC with a ``Z``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("times sent to the API must be timezone-aware (e.g. tzinfo=UTC)")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _time(data: Mapping[str, Any], key: str) -> datetime:
    text = _str(data, key)
    try:
        return parse_time(text)
    except ValueError:
        raise ResponseShapeError(f"{key!r} is not an ISO 8601 time") from None


def _opt_time(data: Mapping[str, Any], key: str) -> datetime | None:
    return None if data.get(key) is None else _time(data, key)


# ---------------------------------------------------------------------- probes
@dataclass(frozen=True, slots=True)
class HealthStatus:
    """``/health`` and ``/live``: the process answers."""

    status: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HealthStatus:
        return cls(status=_str(data, "status"))


@dataclass(frozen=True, slots=True)
class Readiness:
    """``/ready``: ``ready`` is False when the service answered 503 (``reason`` says why)."""

    ready: bool
    status: str
    reason: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, ready: bool) -> Readiness:
        reason = _opt_str(data, "reason") or (None if ready else _opt_str(data, "message"))
        return cls(ready=ready, status=_opt_str(data, "status") or "", reason=reason)


# ---------------------------------------------------------------------- checkout and portal
@dataclass(frozen=True, slots=True)
class CheckoutSession:
    checkout_url: str
    session_id: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckoutSession:
        return cls(checkout_url=_str(data, "checkout_url"), session_id=_str(data, "session_id"))


@dataclass(frozen=True, slots=True)
class PortalSession:
    portal_url: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PortalSession:
        return cls(portal_url=_str(data, "portal_url"))


@dataclass(frozen=True, slots=True)
class PortalEligibility:
    eligible: bool
    reason: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PortalEligibility:
        return cls(eligible=_bool(data, "eligible"), reason=_opt_str(data, "reason"))


# ---------------------------------------------------------------------- entitlements
@dataclass(frozen=True, slots=True)
class Entitlement:
    """One source of a feature; ``reason`` is set only when it is not active."""

    feature_code: str
    active: bool
    source: str  # "subscription", "purchase" or "manual"
    source_id: str
    valid_from: datetime
    valid_to: datetime | None
    reason: str | None = None
    limit: int | None = None  # what this source gives of a limited feature, per ``reset``
    reset: Reset | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Entitlement:
        return cls(
            feature_code=_str(data, "feature_code"),
            active=_bool(data, "active"),
            source=_str(data, "source"),
            source_id=_str(data, "source_id"),
            valid_from=_time(data, "valid_from"),
            valid_to=_opt_time(data, "valid_to"),
            reason=_opt_str(data, "reason"),
            limit=_opt_int(data, "limit"),
            reset=_opt_reset(data, "reset"),
        )


def parse_entitlements(data: Mapping[str, Any]) -> tuple[Entitlement, ...]:
    """The ``{"entitlements": [...]}`` answer."""
    return tuple(Entitlement.from_json(item) for item in _list(data, "entitlements"))


@dataclass(frozen=True, slots=True)
class FeatureUsage:
    """A limited feature now: its limit (all its active sources), what was used of it this
    period, what remains, and when the count starts over (None: never)."""

    feature_code: str
    limit: int
    used: int
    remaining: int
    resets_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureUsage:
        return cls(
            feature_code=_str(data, "feature_code"),
            limit=_int(data, "limit"),
            used=_int(data, "used"),
            remaining=_int(data, "remaining"),
            resets_at=_opt_time(data, "resets_at"),
        )


def parse_usage(data: Mapping[str, Any]) -> tuple[FeatureUsage, ...]:
    """The ``usage`` of the ``/entitlements`` answer."""
    return tuple(FeatureUsage.from_json(item) for item in _list(data, "usage"))


@dataclass(frozen=True, slots=True)
class EntitlementCheck:
    """One feature: active or not, and until when (None: no end, or not active)."""

    feature_code: str
    active: bool
    valid_to: datetime | None
    # For a limited feature (else None): its limit now, used this period, what remains, and
    # when the count starts over (None there too when it never does).
    limit: int | None = None
    used: int | None = None
    remaining: int | None = None
    resets_at: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EntitlementCheck:
        return cls(
            feature_code=_str(data, "feature_code"),
            active=_bool(data, "active"),
            valid_to=_opt_time(data, "valid_to"),
            limit=_opt_int(data, "limit"),
            used=_opt_int(data, "used"),
            remaining=_opt_int(data, "remaining"),
            resets_at=_opt_time(data, "resets_at"),
        )


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """A usage counted (or, ``replayed``, the first answer to the same idempotency key):
    the feature's limit, what is used this period with it, what remains, the overage when
    counted over the limit, and when the count starts over (None: never)."""

    project_id: str
    user_id: str
    feature_code: str
    quantity: int
    idempotency_key: str
    limit: int
    used: int
    remaining: int
    overage: int
    resets_at: datetime | None
    recorded_at: datetime
    replayed: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UsageRecord:
        return cls(
            project_id=_str(data, "project_id"),
            user_id=_str(data, "user_id"),
            feature_code=_str(data, "feature_code"),
            quantity=_int(data, "quantity"),
            idempotency_key=_str(data, "idempotency_key"),
            limit=_int(data, "limit"),
            used=_int(data, "used"),
            remaining=_int(data, "remaining"),
            overage=_int(data, "overage"),
            resets_at=_opt_time(data, "resets_at"),
            recorded_at=_time(data, "recorded_at"),
            replayed=_bool(data, "replayed"),
        )


# ---------------------------------------------------------------------- grants and audit
@dataclass(frozen=True, slots=True)
class Grant:
    """A manual grant; ``created`` is False when the same grant already existed (HTTP 200)."""

    project_id: str
    user_id: str
    feature_code: str
    active: bool
    source: str
    source_id: str
    valid_from: datetime
    valid_to: datetime | None
    granted_by: str
    reason: str
    created: bool
    quantity: int | None = None  # credits of a limited feature; None: no limit

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Grant:
        return cls(
            project_id=_str(data, "project_id"),
            user_id=_str(data, "user_id"),
            feature_code=_str(data, "feature_code"),
            active=_bool(data, "active"),
            source=_str(data, "source"),
            source_id=_str(data, "source_id"),
            valid_from=_time(data, "valid_from"),
            valid_to=_opt_time(data, "valid_to"),
            granted_by=_str(data, "granted_by"),
            reason=_str(data, "reason"),
            created=_bool(data, "created"),
            quantity=_opt_int(data, "quantity"),
        )


@dataclass(frozen=True, slots=True)
class Revocation:
    project_id: str
    user_id: str
    feature_code: str
    revoked: bool
    source: str
    source_id: str
    revoked_by: str
    reason: str
    revoked_at: datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Revocation:
        return cls(
            project_id=_str(data, "project_id"),
            user_id=_str(data, "user_id"),
            feature_code=_str(data, "feature_code"),
            revoked=_bool(data, "revoked"),
            source=_str(data, "source"),
            source_id=_str(data, "source_id"),
            revoked_by=_str(data, "revoked_by"),
            reason=_str(data, "reason"),
            revoked_at=_time(data, "revoked_at"),
        )


@dataclass(frozen=True, slots=True)
class AuditedSource:
    """A feature's manual source as an audit entry records it, before or after a change."""

    feature_code: str
    source: str
    source_id: str
    valid_from: datetime
    valid_to: datetime | None
    in_force: bool
    reason: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditedSource:
        return cls(
            feature_code=_str(data, "feature_code"),
            source=_str(data, "source"),
            source_id=_str(data, "source_id"),
            valid_from=_time(data, "valid_from"),
            valid_to=_opt_time(data, "valid_to"),
            in_force=_bool(data, "in_force"),
            reason=_opt_str(data, "reason"),
        )


def _opt_source(data: Mapping[str, Any], key: str) -> AuditedSource | None:
    value = _opt_object(data, key)
    return None if value is None else AuditedSource.from_json(value)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who changed a user's access, when and why (``action``: grant, revoke or reconcile)."""

    action: str
    feature_code: str
    actor: str
    reason: str
    at: datetime
    app_id: str
    before: AuditedSource | None
    after: AuditedSource | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditEntry:
        return cls(
            action=_str(data, "action"),
            feature_code=_str(data, "feature_code"),
            actor=_str(data, "actor"),
            reason=_str(data, "reason"),
            at=_time(data, "at"),
            app_id=_str(data, "app_id"),
            before=_opt_source(data, "before"),
            after=_opt_source(data, "after"),
        )


@dataclass(frozen=True, slots=True)
class AuditPage:
    """Newest first; pass ``next_cursor`` back for the next page (None: no more)."""

    items: tuple[AuditEntry, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditPage:
        return cls(
            items=tuple(AuditEntry.from_json(item) for item in _list(data, "items")),
            next_cursor=_opt_str(data, "next_cursor"),
        )


# ---------------------------------------------------------------------- history
def _entitlements(data: Mapping[str, Any], key: str) -> tuple[Entitlement, ...]:
    return tuple(Entitlement.from_json(item) for item in _list(data, key))


@dataclass(frozen=True, slots=True)
class ChangeCause:
    """What changed a user's entitlements: a Stripe event, a reconciliation run, or a
    support grant or revoke (``kind``); the other fields are set as the kind has them."""

    kind: str  # "stripe_event", "reconciliation", "grant" or "revoke"
    event_id: str | None = None
    run_id: str | None = None
    grant_id: str | None = None
    actor: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChangeCause:
        return cls(
            kind=_str(data, "kind"),
            event_id=_opt_str(data, "event_id"),
            run_id=_opt_str(data, "run_id"),
            grant_id=_opt_str(data, "grant_id"),
            actor=_opt_str(data, "actor"),
        )


@dataclass(frozen=True, slots=True)
class EntitlementChange:
    """One change of a user's entitlements: its version (grows by one per change), when,
    why, and the full state it left."""

    version: int
    changed_at: datetime
    cause: ChangeCause
    entitlements: tuple[Entitlement, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EntitlementChange:
        return cls(
            version=_int(data, "version"),
            changed_at=_time(data, "changed_at"),
            cause=ChangeCause.from_json(_object(data, "cause")),
            entitlements=_entitlements(data, "entitlements"),
        )


@dataclass(frozen=True, slots=True)
class EntitlementHistory:
    """``history(at=...)``: ``entitlements`` as they were at ``at`` (``version`` None: no
    record yet). ``history(since=...)``: ``changes`` of the window, oldest first."""

    project_id: str
    user_id: str
    at: datetime | None = None
    version: int | None = None
    changed_at: datetime | None = None
    cause: ChangeCause | None = None
    entitlements: tuple[Entitlement, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None
    changes: tuple[EntitlementChange, ...] | None = None
    next_cursor: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EntitlementHistory:
        cause = _opt_object(data, "cause")
        changes = data.get("changes")
        return cls(
            project_id=_str(data, "project_id"),
            user_id=_str(data, "user_id"),
            at=_opt_time(data, "at"),
            version=_opt_int(data, "version"),
            changed_at=_opt_time(data, "changed_at"),
            cause=ChangeCause.from_json(cause) if cause is not None else None,
            entitlements=None
            if data.get("entitlements") is None
            else _entitlements(data, "entitlements"),
            since=_opt_time(data, "since"),
            until=_opt_time(data, "until"),
            changes=None
            if changes is None
            else tuple(EntitlementChange.from_json(c) for c in _list(data, "changes")),
            next_cursor=_opt_str(data, "next_cursor"),
        )


# ---------------------------------------------------------------------- tokens
@dataclass(frozen=True, slots=True)
class EntitlementTokenIssued:
    """``issue_token``: a signed JWT of the user's active features (verify it offline with
    :class:`billing_client.TokenVerifier`), its key id, expiry and the features it lists
    (each with its end, epoch seconds; None: no end)."""

    token: str
    token_type: str
    kid: str
    expires_at: datetime
    features: dict[str, int | None]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EntitlementTokenIssued:
        listed = _object(data, "features")
        return cls(
            token=_str(data, "token"),
            token_type=_str(data, "token_type"),
            kid=_str(data, "kid"),
            expires_at=_time(data, "expires_at"),
            features={code: _opt_int(listed, code) for code in listed},
        )


@dataclass(frozen=True, slots=True)
class Jwk:
    """One RSA public key of the tokens (RS256)."""

    kty: str
    kid: str
    use: str
    alg: str
    n: str
    e: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Jwk:
        return cls(**{name: _str(data, name) for name in ("kty", "kid", "use", "alg", "n", "e")})


@dataclass(frozen=True, slots=True)
class JwksDocument:
    """``jwks``: every key a token may be signed with (two during a rotation)."""

    keys: tuple[Jwk, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JwksDocument:
        return cls(keys=tuple(Jwk.from_json(key) for key in _list(data, "keys")))


# ---------------------------------------------------------------------- metrics
@dataclass(frozen=True, slots=True)
class PriceSubscriptions:
    active: int
    feature_codes: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PriceSubscriptions:
        codes = _list(data, "feature_codes")
        if not all(isinstance(code, str) for code in codes):
            raise ResponseShapeError("'feature_codes' holds a non-string")
        return cls(active=_int(data, "active"), feature_codes=tuple(codes))


@dataclass(frozen=True, slots=True)
class MrrMovements:
    """What moved MRR over the window (positive amounts, minor units): mrr_start + new +
    reactivation + expansion - contraction - churned = mrr_end."""

    new: int
    reactivation: int
    expansion: int
    contraction: int
    churned: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MrrMovements:
        return cls(
            new=_int(data, "new"),
            reactivation=_int(data, "reactivation"),
            expansion=_int(data, "expansion"),
            contraction=_int(data, "contraction"),
            churned=_int(data, "churned"),
        )


@dataclass(frozen=True, slots=True)
class CustomerCounts:
    """Customers (users of the project) paying in one currency."""

    at_start: int
    at_end: int
    new: int
    reactivated: int
    churned: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CustomerCounts:
        return cls(
            at_start=_int(data, "at_start"),
            at_end=_int(data, "at_end"),
            new=_int(data, "new"),
            reactivated=_int(data, "reactivated"),
            churned=_int(data, "churned"),
        )


@dataclass(frozen=True, slots=True)
class CurrencyRevenue:
    """One currency's figures, amounts in its minor unit (cents for usd); rates are fractions
    (0.25: 25 %), None when nothing paid at the window's start."""

    gross: int
    refunded: int
    disputed: int
    net: int
    mrr: int
    arr: int
    mrr_start: int
    mrr_end: int
    movements: MrrMovements
    customers: CustomerCounts
    customer_churn_rate: float | None
    revenue_churn_rate: float | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CurrencyRevenue:
        return cls(
            gross=_int(data, "gross"),
            refunded=_int(data, "refunded"),
            disputed=_int(data, "disputed"),
            net=_int(data, "net"),
            mrr=_int(data, "mrr"),
            arr=_int(data, "arr"),
            mrr_start=_int(data, "mrr_start"),
            mrr_end=_int(data, "mrr_end"),
            movements=MrrMovements.from_json(_object(data, "movements")),
            customers=CustomerCounts.from_json(_object(data, "customers")),
            customer_churn_rate=_opt_float(data, "customer_churn_rate"),
            revenue_churn_rate=_opt_float(data, "revenue_churn_rate"),
        )


def _currencies(data: Mapping[str, Any]) -> dict[str, CurrencyRevenue]:
    currencies = _object(data, "currencies")
    return {code: CurrencyRevenue.from_json(_object(currencies, code)) for code in currencies}


@dataclass(frozen=True, slots=True)
class SubscriptionMetrics:
    """Subscription figures of a project over ``[since, until)``, and per currency its MRR,
    movements, churn and revenue."""

    project_id: str
    since: datetime
    until: datetime
    counts_by_status: Mapping[str, int]
    total_active: int
    new: int
    churned: int
    by_price: Mapping[str, PriceSubscriptions]
    by_feature: Mapping[str, int]
    currencies: Mapping[str, CurrencyRevenue]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubscriptionMetrics:
        by_price = _object(data, "by_price")
        return cls(
            project_id=_str(data, "project_id"),
            since=_time(data, "since"),
            until=_time(data, "until"),
            counts_by_status=_counts(data, "counts_by_status"),
            total_active=_int(data, "total_active"),
            new=_int(data, "new"),
            churned=_int(data, "churned"),
            by_price={
                price: PriceSubscriptions.from_json(_object(by_price, price)) for price in by_price
            },
            by_feature=_counts(data, "by_feature"),
            currencies=_currencies(data),
        )


@dataclass(frozen=True, slots=True)
class RevenueMetrics:
    """Revenue of a project over ``[since, until)``, per currency (never summed across)."""

    project_id: str
    since: datetime
    until: datetime
    currencies: Mapping[str, CurrencyRevenue]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RevenueMetrics:
        return cls(
            project_id=_str(data, "project_id"),
            since=_time(data, "since"),
            until=_time(data, "until"),
            currencies=_currencies(data),
        )


# ---------------------------------------------------------------------- webhooks
@dataclass(frozen=True, slots=True)
class WebhookReceipt:
    """The receiver's 2xx: the event was verified and queued (``id``: the Stripe event id)."""

    received: bool
    id: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WebhookReceipt:
        return cls(received=_bool(data, "received"), id=_str(data, "id"))
