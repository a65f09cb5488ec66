"""The billing service's HTTP API, one method per route."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Container, Iterator, Mapping
from datetime import datetime
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import quote, urlencode, urlsplit

from billing_client._http import HttpClientTransport, HttpRequest, HttpResponse, Transport
from billing_client._retry import RETRYABLE_STATUSES, RetryPolicy
from billing_client.cache import CacheKey, EntitlementCache, Fetched
from billing_client.errors import (
    BillingConnectionError,
    ConflictError,
    UnexpectedResponseError,
    UsageLimitExceededError,
    error_from_response,
)
from billing_client.models import (
    AuditEntry,
    AuditPage,
    CheckoutSession,
    Entitlement,
    EntitlementCheck,
    EntitlementHistory,
    EntitlementTokenIssued,
    FeatureUsage,
    Grant,
    HealthStatus,
    JwksDocument,
    PortalEligibility,
    PortalSession,
    Readiness,
    ResponseShapeError,
    RevenueMetrics,
    Revocation,
    SubscriptionMetrics,
    UsageRecord,
    WebhookReceipt,
    format_time,
    parse_entitlements,
    parse_usage,
)

__version__ = "0.1.0"

ProjectId = int | str
CheckoutMode = Literal["subscription", "payment"]
_SUCCESS = range(200, 300)
_SUCCESS_OR_NOT_MODIFIED: Container[int] = frozenset({*_SUCCESS, HTTPStatus.NOT_MODIFIED})


def _project_key(project_id: ProjectId) -> str:
    """The project as the service keys it: ``1``, ``"1"`` and ``"01"`` are one project."""
    text = str(project_id).strip()
    return str(int(text)) if text.isascii() and text.isdigit() else text


def _without_none(fields: Mapping[str, object]) -> dict[str, object]:
    return {name: value for name, value in fields.items() if value is not None}


class BillingClient:
    """A client of one billing service with one project's API key. Thread-safe.

    Every call has a timeout. Idempotent calls (every GET, and ``grant``: the same grant
    again answers 200 ``created: false`` and writes nothing) are retried on 500/502/503/504,
    timeouts and connection failures, ``max_retries`` times with exponential backoff and
    jitter, honouring a Retry-After of at most ``max_retry_after_seconds``. Checkout, portal,
    revoke and webhook posts are sent once.

    With ``entitlement_cache_ttl`` (seconds), ``entitlements`` and ``check_entitlement``
    answers are cached per user (at most ``entitlement_cache_size`` of each) and revalidated
    by ETag once stale; ``grant`` and ``revoke`` through this client forget that user's answers.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 5.0,
        max_retries: int = 2,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 2.0,
        max_retry_after_seconds: float = 5.0,
        entitlement_cache_ttl: float | None = None,
        entitlement_cache_size: int = 1024,
        transport: Transport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError("base_url must be an http:// or https:// URL")
        if not api_key or any(char in api_key for char in "\r\n"):
            raise ValueError("api_key must be a non-empty single-line string")
        if timeout <= 0:
            raise ValueError("timeout must be > 0 seconds")
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._retry = RetryPolicy(
            max_retries, backoff_seconds, max_backoff_seconds, max_retry_after_seconds
        )
        self._transport: Transport = transport or HttpClientTransport()
        self._sleep = sleep
        self._jitter = jitter
        self._entitlement_lists: EntitlementCache[tuple[Entitlement, ...]] | None = None
        self._entitlement_checks: EntitlementCache[EntitlementCheck] | None = None
        if entitlement_cache_ttl is not None:
            size = entitlement_cache_size
            self._entitlement_lists = EntitlementCache(
                entitlement_cache_ttl, max_entries=size, clock=clock
            )
            self._entitlement_checks = EntitlementCache(
                entitlement_cache_ttl, max_entries=size, clock=clock
            )

    def __repr__(self) -> str:
        return f"BillingClient(base_url={self._base_url!r}, api_key='***')"

    # ------------------------------------------------------------------ probes (no key needed)
    def health(self) -> HealthStatus:
        """GET /health: the process answers."""
        return self._get("/health", None, HealthStatus.from_json)

    def ready(self) -> Readiness:
        """GET /ready: ``ready`` False (not an error) when the service answers 503."""
        response = self._send(
            "GET", "/ready", idempotent=True, accept=(HTTPStatus.OK, HTTPStatus.SERVICE_UNAVAILABLE)
        )
        data = response.json_object() or {}
        return Readiness.from_json(data, ready=response.status == HTTPStatus.OK)

    def live(self) -> HealthStatus:
        """GET /live: the function runs."""
        return self._get("/live", None, HealthStatus.from_json)

    def openapi(self) -> dict[str, Any]:
        """GET /api/v1/openapi.json: the API's OpenAPI document."""
        return self._get("/api/v1/openapi.json", None, dict)

    # ------------------------------------------------------------------ checkout and portal
    def create_checkout_session(
        self,
        *,
        user_id: str,
        project_id: ProjectId,
        price_id: str,
        mode: CheckoutMode,
        success_url: str,
        cancel_url: str,
        quantity: int | None = None,
        trial_days: int | None = None,
        allow_promotion_codes: bool | None = None,
    ) -> CheckoutSession:
        """POST /api/v1/checkout/session: where to send the user to pay. Not retried."""
        body = _without_none(
            {
                "user_id": user_id,
                "project_id": project_id,
                "price_id": price_id,
                "mode": mode,
                "success_url": success_url,
                "cancel_url": cancel_url,
                "quantity": quantity,
                "trial_days": trial_days,
                "allow_promotion_codes": allow_promotion_codes,
            }
        )
        return self._post("/api/v1/checkout/session", body, CheckoutSession.from_json)

    def create_portal_session(
        self,
        *,
        user_id: str,
        project_id: ProjectId,
        return_url: str,
        currency: str | None = None,
    ) -> PortalSession:
        """POST /api/v1/portal/session: the Stripe customer portal of a user who has checked
        out before (NotFoundError otherwise), on the customer holding their live subscription
        unless ``currency`` picks the customer of that currency. Not retried."""
        body = _without_none(
            {
                "user_id": user_id,
                "project_id": project_id,
                "return_url": return_url,
                "currency": currency,
            }
        )
        return self._post("/api/v1/portal/session", body, PortalSession.from_json)

    def portal_eligibility(self, *, user_id: str, project_id: ProjectId) -> PortalEligibility:
        """GET /api/v1/portal/eligibility: can this user open the portal?"""
        query = {"user_id": user_id, "project_id": str(project_id)}
        return self._get("/api/v1/portal/eligibility", query, PortalEligibility.from_json)

    # ------------------------------------------------------------------ entitlements
    def entitlements(self, *, user_id: str, project_id: ProjectId) -> list[Entitlement]:
        """GET /api/v1/entitlements: every source of every feature of the user."""
        path = "/api/v1/entitlements"
        query = {"user_id": user_id, "project_id": str(project_id)}
        if self._entitlement_lists is None:
            return list(self._get(path, query, parse_entitlements))
        key = CacheKey(_project_key(project_id), user_id)
        cached = self._entitlement_lists.get(
            key, lambda etag: self._revalidate(path, query, etag, parse_entitlements)
        )
        return list(cached)

    def check_entitlement(
        self, *, user_id: str, project_id: ProjectId, feature_code: str
    ) -> EntitlementCheck:
        """GET /api/v1/entitlements/check: is one feature active, and until when."""
        path = "/api/v1/entitlements/check"
        query = {"user_id": user_id, "project_id": str(project_id), "feature_code": feature_code}
        if self._entitlement_checks is None:
            return self._get(path, query, EntitlementCheck.from_json)
        key = CacheKey(_project_key(project_id), user_id, feature_code)
        return self._entitlement_checks.get(
            key, lambda etag: self._revalidate(path, query, etag, EntitlementCheck.from_json)
        )

    def entitlement_usage(self, *, user_id: str, project_id: ProjectId) -> list[FeatureUsage]:
        """GET /api/v1/entitlements: each limited feature of the user, with its limit, what
        was used this period and what remains (never cached: usage moves on every call)."""
        query = {"user_id": user_id, "project_id": str(project_id)}
        return list(self._get("/api/v1/entitlements", query, parse_usage))

    def record_usage(
        self,
        *,
        user_id: str,
        project_id: ProjectId,
        feature_code: str,
        quantity: int,
        idempotency_key: str | None = None,
        enforce: bool = False,
    ) -> UsageRecord:
        """POST /api/v1/usage: count ``quantity`` of a limited feature, once.

        The ``idempotency_key`` (one is made when none is given) makes the call safe to retry,
        so it is retried like a GET: the same key again counts nothing and answers the first
        answer (``replayed=True``). Over the limit with ``enforce=True``: nothing is counted
        and UsageLimitExceededError (a ConflictError) says what remains; without it the
        usage is counted and ``overage`` says by how much it is over.
        """
        body = {
            "user_id": user_id,
            "project_id": project_id,
            "feature_code": feature_code,
            "quantity": quantity,
            "idempotency_key": idempotency_key or f"usage_{uuid.uuid4().hex}",
            "enforce": enforce,
        }
        try:
            return self._post("/api/v1/usage", body, UsageRecord.from_json, idempotent=True)
        except ConflictError as exc:
            raise UsageLimitExceededError.of(exc) from None
        finally:  # the cached checks of this user hold what was used
            self.invalidate(project_id=project_id, user_id=user_id)

    def invalidate(self, *, project_id: ProjectId, user_id: str) -> None:
        """Forget the cached answers about this user (a change made elsewhere, e.g.)."""
        for cache in (self._entitlement_lists, self._entitlement_checks):
            if cache is not None:
                cache.invalidate(_project_key(project_id), user_id)

    # ------------------------------------------------------------------ admin
    def grant(
        self,
        *,
        user_id: str,
        project_id: ProjectId,
        feature_code: str,
        granted_by: str,
        reason: str,
        valid_to: datetime | None = None,
        quantity: int | None = None,
    ) -> Grant:
        """POST /api/v1/admin/grant: give the user a feature by hand (audited); with a
        ``quantity``, that many credits of a limited feature until ``valid_to``.

        Retried like a GET: the same grant again changes nothing. So when a first attempt
        went through unseen, the answer is ``created=False`` although this call created it.
        """
        body = _without_none(
            {
                "user_id": user_id,
                "project_id": project_id,
                "feature_code": feature_code,
                "granted_by": granted_by,
                "reason": reason,
                "valid_to": format_time(valid_to) if valid_to is not None else None,
                "quantity": quantity,
            }
        )
        try:
            return self._post("/api/v1/admin/grant", body, Grant.from_json, idempotent=True)
        finally:  # even on an error: the grant may have gone through
            self.invalidate(project_id=project_id, user_id=user_id)

    def revoke(
        self,
        *,
        user_id: str,
        project_id: ProjectId,
        feature_code: str,
        revoked_by: str,
        reason: str,
    ) -> Revocation:
        """POST /api/v1/admin/revoke: end the user's manual grant (NotFoundError if none is
        active). Not retried: a second revoke of the same grant answers 404."""
        body = {
            "user_id": user_id,
            "project_id": project_id,
            "feature_code": feature_code,
            "revoked_by": revoked_by,
            "reason": reason,
        }
        try:
            return self._post("/api/v1/admin/revoke", body, Revocation.from_json)
        finally:
            self.invalidate(project_id=project_id, user_id=user_id)

    def audit(
        self,
        *,
        user_id: str,
        project_id: ProjectId,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AuditPage:
        """GET /api/v1/admin/audit: one page of the user's support changes, newest first."""
        query = _without_none(
            {"user_id": user_id, "project_id": str(project_id), "limit": limit, "cursor": cursor}
        )
        return self._get("/api/v1/admin/audit", query, AuditPage.from_json)

    def iter_audit(
        self, *, user_id: str, project_id: ProjectId, page_size: int | None = None
    ) -> Iterator[AuditEntry]:
        """Every audit entry of the user, newest first, following the cursors."""
        cursor: str | None = None
        while True:
            page = self.audit(
                user_id=user_id, project_id=project_id, limit=page_size, cursor=cursor
            )
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def history(
        self,
        *,
        user_id: str,
        project_id: ProjectId,
        at: datetime | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> EntitlementHistory:
        """GET /api/v1/entitlements/history: with ``at`` (default now), what the user had
        then; with ``since`` (and ``until``), the changes of [since, until), oldest first, a
        page at a time (pass ``next_cursor`` back as ``cursor``)."""
        query = _without_none(
            {
                "user_id": user_id,
                "project_id": str(project_id),
                "at": format_time(at) if at else None,
                "since": format_time(since) if since else None,
                "until": format_time(until) if until else None,
                "limit": limit,
                "cursor": cursor,
            }
        )
        return self._get("/api/v1/entitlements/history", query, EntitlementHistory.from_json)

    # ------------------------------------------------------------------ tokens
    def issue_token(
        self,
        *,
        user_id: str,
        project_id: ProjectId,
        audience: str,
        ttl_seconds: int | None = None,
    ) -> EntitlementTokenIssued:
        """POST /api/v1/entitlements/token: a signed JWT of the user's active features for
        ``audience`` (lifetime ``ttl_seconds``, the service's default 300, at most 3600).
        Retried like a GET: a second token changes nothing."""
        body = _without_none(
            {
                "user_id": user_id,
                "project_id": project_id,
                "audience": audience,
                "ttl_seconds": ttl_seconds,
            }
        )
        return self._post(
            "/api/v1/entitlements/token", body, EntitlementTokenIssued.from_json, idempotent=True
        )

    def jwks(self) -> JwksDocument:
        """GET /.well-known/jwks.json: the tokens' public keys (needs no API key; sent anyway).
        :class:`billing_client.TokenVerifier` fetches and caches it."""
        return self._get("/.well-known/jwks.json", None, JwksDocument.from_json)

    # ------------------------------------------------------------------ metrics
    def subscription_metrics(
        self,
        *,
        project_id: ProjectId,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> SubscriptionMetrics:
        """GET /api/v1/metrics/project/{project_id}/subscriptions over [since, until)
        (the service's default: the last 30 days)."""
        return self._get(
            self._metrics_path(project_id, "subscriptions"),
            self._window(since, until),
            SubscriptionMetrics.from_json,
        )

    def revenue_metrics(
        self,
        *,
        project_id: ProjectId,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> RevenueMetrics:
        """GET /api/v1/metrics/project/{project_id}/revenue over [since, until)."""
        return self._get(
            self._metrics_path(project_id, "revenue"),
            self._window(since, until),
            RevenueMetrics.from_json,
        )

    @staticmethod
    def _metrics_path(project_id: ProjectId, report: str) -> str:
        return f"/api/v1/metrics/project/{quote(str(project_id), safe='')}/{report}"

    @staticmethod
    def _window(since: datetime | None, until: datetime | None) -> dict[str, object]:
        return _without_none(
            {
                "since": format_time(since) if since is not None else None,
                "until": format_time(until) if until is not None else None,
            }
        )

    # ------------------------------------------------------------------ webhooks
    def post_stripe_webhook(self, payload: bytes, *, signature: str) -> WebhookReceipt:
        """POST /api/v1/webhooks/stripe: relay a Stripe event as received (raw bytes and its
        ``Stripe-Signature`` header). For relays and tests; Stripe calls the service itself.
        Not retried."""
        response = self._send(
            "POST",
            "/api/v1/webhooks/stripe",
            idempotent=False,
            body=payload,
            headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        )
        return self._parsed("POST", "/api/v1/webhooks/stripe", response, WebhookReceipt.from_json)

    # ------------------------------------------------------------------ the exchange
    def _get[T](
        self,
        path: str,
        query: Mapping[str, object] | None,
        parse: Callable[[Mapping[str, Any]], T],
    ) -> T:
        response = self._send("GET", path, idempotent=True, query=query)
        return self._parsed("GET", path, response, parse)

    def _post[T](
        self,
        path: str,
        body: Mapping[str, object],
        parse: Callable[[Mapping[str, Any]], T],
        *,
        idempotent: bool = False,
    ) -> T:
        response = self._send(
            "POST",
            path,
            idempotent=idempotent,
            body=json.dumps(body, separators=(",", ":")).encode(),
            headers={"Content-Type": "application/json"},
        )
        return self._parsed("POST", path, response, parse)

    def _revalidate[T](
        self,
        path: str,
        query: Mapping[str, object],
        etag: str | None,
        parse: Callable[[Mapping[str, Any]], T],
    ) -> Fetched[T]:
        """A GET that sends the cached answer's ETag; 304 means the cached answer holds."""
        if etag is None:
            response = self._send("GET", path, idempotent=True, query=query)
        else:
            response = self._send(
                "GET",
                path,
                idempotent=True,
                query=query,
                headers={"If-None-Match": etag},
                accept=_SUCCESS_OR_NOT_MODIFIED,
            )
        new_etag = response.header("ETag") or etag
        if response.status == HTTPStatus.NOT_MODIFIED:
            return Fetched(None, new_etag)
        return Fetched(self._parsed("GET", path, response, parse), new_etag)

    def _parsed[T](
        self,
        method: str,
        path: str,
        response: HttpResponse,
        parse: Callable[[Mapping[str, Any]], T],
    ) -> T:
        data = response.json_object()
        if data is None:
            problem = "the body is not a JSON object"
        else:
            try:
                return parse(data)
            except ResponseShapeError as exc:
                problem = str(exc)
        raise UnexpectedResponseError(
            response.status,
            f"unexpected answer: {problem}",
            method=method,
            path=path,
            body=response.body,
        )

    def _send(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        query: Mapping[str, object] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        accept: Container[int] = _SUCCESS,
    ) -> HttpResponse:
        """One call: the answer when its status is in ``accept``, else the error by kind."""
        url = self._base_url + path + (f"?{urlencode(query)}" if query else "")
        request = HttpRequest(
            method,
            url,
            {
                "X-API-Key": self._api_key,
                "Accept": "application/json",
                "User-Agent": f"billing-client/{__version__}",
                **(headers or {}),
            },
            body,
            self._timeout,
        )
        retries = 0
        while True:
            try:
                response = self._transport.send(request)
            except OSError as exc:
                wait = self._wait_before_retry(retries, idempotent, None)
                if wait is None:
                    raise self._no_answer(method, path, retries + 1, idempotent, exc) from exc
            else:
                if response.status in accept:
                    return response
                error = error_from_response(method, path, response)
                retryable = idempotent and response.status in RETRYABLE_STATUSES
                wait = self._wait_before_retry(retries, retryable, error.retry_after)
                if wait is None:
                    raise error
            retries += 1
            self._sleep(wait)

    def _wait_before_retry(
        self, retries_done: int, retryable: bool, retry_after: float | None
    ) -> float | None:
        if not retryable or retries_done >= self._retry.max_retries:
            return None
        return self._retry.delay(retries_done + 1, retry_after, self._jitter())

    @staticmethod
    def _no_answer(
        method: str, path: str, attempts: int, idempotent: bool, exc: OSError
    ) -> BillingConnectionError:
        cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if idempotent:
            return BillingConnectionError(
                f"{method} {path}: no answer after {attempts} attempt(s) ({cause})"
            )
        return BillingConnectionError(
            f"{method} {path}: no answer ({cause}); not retried, the service may have acted on it"
        )
