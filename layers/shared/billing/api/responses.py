"""Response bodies of the API as pydantic models, and the errors each route can answer.

The route decorators pass them to Powertools, which writes them into the OpenAPI document
(`make openapi`); shapes and field names are API.md's. Handlers that answer through a plain
``Response`` (ETag, 201/200) build the same shapes; the schemathesis run in `make test` checks
that every answer matches its model.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Literal

from aws_lambda_powertools.event_handler.openapi.types import (
    OpenAPIResponse,
    OpenAPIResponseHeader,
)
from pydantic import BaseModel, ConfigDict, Field


class Answer(BaseModel):
    """A response body. Each function uses one or two of these models: building the others'
    validators at import would cost every cold start, so pydantic builds them on first use."""

    model_config = ConfigDict(defer_build=True)


IsoTime = Field(description="ISO 8601, UTC, e.g. 2026-01-31T12:00:00Z")
OptionalIsoTime = Field(description="ISO 8601, UTC; null: no end")


class FieldProblem(Answer):
    field: str = Field(description="the field at fault, dotted for nested fields")
    reason: str


class ErrorBody(Answer):
    """Every error: a human-readable message, plus the fields at fault on validation errors."""

    message: str
    errors: list[FieldProblem] | None = Field(
        default=None, description="on 415 and 422: each field at fault and why"
    )
    stripe_request_id: str | None = Field(
        default=None, description="when Stripe refused or failed: its request id, for support"
    )


class StatusBody(Answer):
    status: str


class Readiness(Answer):
    status: Literal["ready", "unavailable"]
    reason: str | None = Field(default=None, description="why not ready (503 only)")


class CheckoutSessionCreated(Answer):
    checkout_url: str = Field(description="send the user here: Stripe Checkout")
    session_id: str = Field(description="the Checkout Session id (cs_...)")


class PortalSessionCreated(Answer):
    portal_url: str = Field(description="send the user here: the Stripe customer portal")


class PortalEligibility(Answer):
    eligible: bool
    reason: str | None = Field(description="why not eligible; null when eligible")


class Entitlement(Answer):
    feature_code: str
    active: bool
    source: Literal["subscription", "purchase", "manual"]
    source_id: str = Field(description="the subscription, payment or grant behind the access")
    valid_from: str = IsoTime
    valid_to: str | None = OptionalIsoTime
    reason: str | None = Field(
        default=None, description="only when inactive: why (e.g. canceled, past_due, revoked)"
    )
    limit: int | None = Field(
        default=None,
        description="only when this source limits its feature: how much it gives per period "
        "(the feature's limit is the sum over its active sources: see usage)",
    )
    reset: Literal["never", "billing_period", "day", "month"] | None = Field(
        default=None, description="only with limit: when the count starts over"
    )


ResetsAt = Field(description="ISO 8601, UTC: when the count starts over; null: never")


class FeatureUsage(Answer):
    """A limited feature's balance now: the sum of its active sources' limits, and what was
    used of it in the current period."""

    feature_code: str
    limit: int
    used: int
    remaining: int = Field(description="limit - used, at least 0")
    resets_at: str | None = ResetsAt


class EntitlementList(Answer):
    entitlements: list[Entitlement]
    usage: list[FeatureUsage] = Field(
        description="each limited feature the user has now, with its limit and usage"
    )


class EntitlementCheck(Answer):
    feature_code: str
    active: bool
    valid_to: str | None = Field(description="when the access ends; null: no end, or not active")
    limit: int | None = Field(
        default=None, description="only for a limited feature: its limit now (all its sources)"
    )
    used: int | None = Field(default=None, description="only with limit: used this period")
    remaining: int | None = Field(default=None, description="only with limit: limit - used")
    resets_at: str | None = Field(
        default=None, description="only with limit: when the count starts over (null: never)"
    )


class UsageRecorded(Answer):
    project_id: str
    user_id: str
    feature_code: str
    quantity: int
    idempotency_key: str
    limit: int = Field(description="the feature's limit now")
    used: int = Field(
        description="used this period, this usage included (calls racing on the same feature "
        "may have counted more: /entitlements reads the counter)"
    )
    remaining: int = Field(description="limit - used, at least 0")
    overage: int = Field(description="used - limit when over it (enforce: false), else 0")
    resets_at: str | None = ResetsAt
    recorded_at: str = IsoTime
    replayed: bool = Field(description="true: the same key again, answered as the first time")


class UsageRefused(Answer):
    message: str
    feature_code: str
    requested: int
    limit: int
    used: int
    remaining: int = Field(description="what can still be used this period")
    resets_at: str | None = ResetsAt


class GrantResult(Answer):
    project_id: str
    user_id: str
    feature_code: str
    active: bool
    source: Literal["manual"]
    source_id: str
    valid_from: str = IsoTime
    valid_to: str | None = OptionalIsoTime
    granted_by: str
    reason: str
    created: bool = Field(description="false: the same grant already existed (answered 200)")
    quantity: int | None = Field(
        default=None, description="the credits granted of a limited feature; null: no limit"
    )


class RevocationResult(Answer):
    project_id: str
    user_id: str
    feature_code: str
    revoked: bool
    source: Literal["manual"]
    source_id: str
    revoked_by: str
    reason: str
    revoked_at: str = IsoTime


class AuditEntry(Answer):
    action: Literal["grant", "revoke", "reconcile"]
    feature_code: str
    actor: str
    reason: str
    at: str = IsoTime
    app_id: str = Field(description="the app whose key made the change")
    before: dict[str, Any] | None = Field(description="the access before the change")
    after: dict[str, Any] | None = Field(description="the access after the change")


class AuditPage(Answer):
    items: list[AuditEntry]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null: done")


class ChangeCauseBody(Answer):
    kind: Literal["stripe_event", "reconciliation", "grant", "revoke"]
    event_id: str | None = Field(
        default=None, description="the Stripe event (or reconciliation's synthetic one)"
    )
    run_id: str | None = Field(default=None, description="the reconciliation run")
    grant_id: str | None = Field(default=None, description="the manual grant (source_id)")
    actor: str | None = Field(default=None, description="who granted or revoked")


class EntitlementChange(Answer):
    version: int = Field(description="the record's version: grows by one per change")
    changed_at: str = IsoTime
    cause: ChangeCauseBody
    entitlements: list[Entitlement] = Field(description="the full state after the change")


class EntitlementHistory(Answer):
    """With ``at``: the state then (``version`` null: no record yet). With ``since``: the
    changes of the window, oldest first."""

    project_id: str
    user_id: str
    at: str | None = Field(default=None, description="the moment asked (?at=, default now)")
    version: int | None = Field(default=None, description="the version in force at `at`")
    changed_at: str | None = Field(default=None, description="when that version was written")
    cause: ChangeCauseBody | None = None
    entitlements: list[Entitlement] | None = Field(
        default=None, description="the entitlements at `at`, active as of `at`"
    )
    since: str | None = None
    until: str | None = None
    changes: list[EntitlementChange] | None = None
    next_cursor: str | None = Field(
        default=None, description="pass as ?cursor= (same since/until) for the next page"
    )


class TokenIssued(Answer):
    token: str = Field(description="a JWT (RS256): verify it with /.well-known/jwks.json")
    token_type: Literal["JWT"]
    kid: str = Field(description="the key that signed it (the JWT header's kid)")
    expires_at: str = IsoTime
    features: dict[str, int | None] = Field(
        description="the active features it lists and when each ends (epoch seconds; null: "
        "no end), as its features claim"
    )


class Jwk(Answer):
    kty: Literal["RSA"]
    kid: str
    use: Literal["sig"]
    alg: Literal["RS256"]
    n: str = Field(description="the modulus, base64url")
    e: str = Field(description="the exponent, base64url")


class JwksDocument(Answer):
    keys: list[Jwk] = Field(description="every key tokens may be signed with (two in a rotation)")


class PriceSubscriptions(Answer):
    active: int
    feature_codes: list[str]


class MrrMovements(Answer):
    """What moved MRR over the window, each a positive amount in the currency's minor unit:
    mrr_start + new + reactivation + expansion - contraction - churned = mrr_end."""

    new: int = Field(description="customers from 0 to > 0 MRR, for the first time ever")
    reactivation: int = Field(description="customers from 0 to > 0 MRR, having had MRR before")
    expansion: int = Field(description="customers whose MRR grew")
    contraction: int = Field(description="customers whose MRR shrank, not to 0")
    churned: int = Field(description="customers from > 0 to 0 MRR")


class CustomerCounts(Answer):
    """Customers (users of the project) in this currency."""

    at_start: int = Field(description="paying at since")
    at_end: int = Field(description="paying at until")
    new: int = Field(description="paying for the first time ever in the window")
    reactivated: int = Field(description="paying again in the window, having paid before")
    churned: int = Field(description="stopped paying in the window (at least once)")


class CurrencyRevenue(Answer):
    """Amounts in the currency's minor unit (cents for usd). MRR counts paying subscriptions
    (active, and past_due inside the grace period; not trialing) net of their discounts,
    normalized to a month; a customer's MRR is rounded half up to the minor unit; MRR at a
    moment is what was in force the second before it. Movements compare each customer at the
    window's start, each UTC midnight inside it, and its end."""

    gross: int = Field(description="invoice payments and one-time purchases paid in the window")
    refunded: int = Field(description="refunds made in the window (a failed refund: negative)")
    disputed: int = Field(
        description="funds disputes withdrew in the window, less those reinstated in it (won)"
    )
    net: int = Field(description="gross - refunded - disputed")
    mrr: int = Field(description="monthly recurring revenue at until (mrr_end)")
    arr: int = Field(description="mrr x 12")
    mrr_start: int = Field(description="MRR at since")
    mrr_end: int = Field(description="MRR at until")
    movements: MrrMovements
    customers: CustomerCounts
    customer_churn_rate: float | None = Field(
        description="customers churned / customers paying at since, 4 decimal places; "
        "null when none paid at since",
    )
    revenue_churn_rate: float | None = Field(
        description="(churned + contraction) / mrr_start, 4 decimal places; null when "
        "mrr_start is 0",
    )


class SubscriptionMetrics(Answer):
    project_id: str
    since: str = IsoTime
    until: str = IsoTime
    counts_by_status: dict[str, int] = Field(
        description="subscriptions per Stripe status, as they stood at until"
    )
    total_active: int = Field(
        description="subscriptions giving access at until (active, trialing, past_due inside "
        "the grace period)"
    )
    new: int = Field(
        description="customers paying for the first time ever in [since, until), summed over "
        "currencies (see currencies)"
    )
    churned: int = Field(
        description="customers who stopped paying in [since, until), summed over currencies "
        "(see currencies); a signup that never paid or a trial that never converted is not churn"
    )
    by_price: dict[str, PriceSubscriptions]
    by_feature: dict[str, int]
    currencies: dict[str, CurrencyRevenue] = Field(
        description="MRR, its movements, churn and revenue per ISO currency code, lowercase"
    )


class RevenueMetrics(Answer):
    project_id: str
    since: str = IsoTime
    until: str = IsoTime
    currencies: dict[str, CurrencyRevenue] = Field(description="per ISO currency code, lowercase")


class WebhookReceipt(Answer):
    received: bool
    id: str = Field(description="the Stripe event id")


ERROR_MEANINGS: dict[int, str] = {
    HTTPStatus.BAD_REQUEST: "the request was refused as it stands (any route: malformed HTTP)",
    HTTPStatus.UNAUTHORIZED: "no X-API-Key, an unknown key, or the key's app is not active",
    HTTPStatus.FORBIDDEN: "Project ID does not match: the key belongs to another project",
    HTTPStatus.NOT_FOUND: "the thing named does not exist for this project",
    HTTPStatus.CONFLICT: "the request conflicts with the current state",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "the body is too large (any route: over 10 MiB)",
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: "a body (or a Content-Type) that is not application/json "
    "in UTF-8",
    HTTPStatus.UNPROCESSABLE_ENTITY: "a body or query that fails validation: which field, and "
    "why (not JSON, a key given twice, nested over 32 deep, an integer over 32 digits...)",
    HTTPStatus.INTERNAL_SERVER_ERROR: "an unexpected error; nothing was half-written",
    HTTPStatus.BAD_GATEWAY: "Stripe failed: retry later",
    HTTPStatus.SERVICE_UNAVAILABLE: "a dependency (DynamoDB, Stripe) is unavailable: retry later",
}

RETRY_AFTER_HEADER: OpenAPIResponseHeader = {
    "description": "seconds to wait before sending the same request again (safe: Stripe "
    "calls reuse their idempotency key, grants are idempotent)",
    "schema": {"type": "integer", "minimum": 0},
}

# Every route: API Gateway refuses malformed HTTP (400) and bodies over 10 MiB (413) itself.
GATEWAY = (HTTPStatus.BAD_REQUEST, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
# Every route behind the API key authorizer can answer these.
AUTHORIZED = (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN)
# Every route whose request rest_handler checks (billing.api.body): its body and its query.
CHECKED = (HTTPStatus.UNSUPPORTED_MEDIA_TYPE, HTTPStatus.UNPROCESSABLE_ENTITY)
# Every route that reaches DynamoDB.
STORAGE = (HTTPStatus.INTERNAL_SERVER_ERROR, HTTPStatus.SERVICE_UNAVAILABLE)
# Routes that call Stripe: it refused (400), failed (502) or did not answer (503).
STRIPE = (HTTPStatus.BAD_REQUEST, HTTPStatus.BAD_GATEWAY, HTTPStatus.SERVICE_UNAVAILABLE)


def documented(
    ok: Mapping[int, tuple[str, type[BaseModel] | Mapping[str, Any] | None]],
    *errors: tuple[int, ...] | int,
) -> dict[int, OpenAPIResponse]:
    """A route's ``responses=``: its successes and its errors, each error with the ErrorBody
    model and the meaning clients rely on. A success's body is a model, a raw media-type map
    (``{"text/html": {...}}``), or None for no body (304). :data:`GATEWAY`'s errors are
    added to every route."""
    responses: dict[int, OpenAPIResponse] = {}
    for status, (description, body) in ok.items():
        if body is None:
            content: dict[str, Any] = {}
        elif isinstance(body, Mapping):
            content = dict(body)
        else:
            content = {"application/json": {"model": body}}
        responses[int(status)] = {"description": description, "content": content}
    codes = {
        int(c)
        for group in (*errors, GATEWAY)
        for c in (group if isinstance(group, tuple) else (group,))
    }
    for code in sorted(codes):
        responses[code] = {
            "description": ERROR_MEANINGS[code],
            "content": {"application/json": {"model": ErrorBody}},
        }
        if code == HTTPStatus.SERVICE_UNAVAILABLE:
            responses[code]["headers"] = {"Retry-After": RETRY_AFTER_HEADER}
    return responses
