"""The stand-in itself: one object answering Stripe's API, its pages and its test controls.

:meth:`StripeStandIn.handle` takes a request as plain values and returns ``(status, headers,
body)`` with no socket, so unit tests and the in-process SDK client
(:mod:`billing_devstack.stripe_standin.sdk_client`) drive exactly what the HTTP server serves.
One lock serializes requests: the state is a few dicts, and Stripe's own answers never interleave
halfway through a change either. A ``delay`` fault (:mod:`billing_devstack.stripe_standin.faults`)
waits after the lock is released, so a slow answer holds up no other request; so do the deliveries
``/_standin/events/deliver`` makes (a receiver may call the stand-in back meanwhile).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

from billing_devstack.stripe_standin import forms
from billing_devstack.stripe_standin.api import RESOURCES, Api
from billing_devstack.stripe_standin.clock import StandInClock, http_date
from billing_devstack.stripe_standin.controls import Controls, Later, json_body
from billing_devstack.stripe_standin.coupons import Coupons
from billing_devstack.stripe_standin.disputes import Disputes
from billing_devstack.stripe_standin.errors import StripeError, authentication, idempotency_mismatch
from billing_devstack.stripe_standin.errors import unrecognized_url as unrecognized
from billing_devstack.stripe_standin.events import NO_REQUEST, EventLog
from billing_devstack.stripe_standin.faults import Fault, Faults, RequestLog
from billing_devstack.stripe_standin.flows import Flows
from billing_devstack.stripe_standin.limits import RateLimiter
from billing_devstack.stripe_standin.meters import Meters
from billing_devstack.stripe_standin.objects import API_VERSION
from billing_devstack.stripe_standin.pages import Page, Pages, error_page
from billing_devstack.stripe_standin.store import Obj, Store, new_id
from billing_devstack.stripe_standin.webhooks import WebhookSender

logger = logging.getLogger("billing_devstack.stripe_standin")

DEFAULT_BASE_URL = "http://127.0.0.1:8102"
NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at "
    "https://support.stripe.com/."
)
_KEY_PREFIXES = ("sk_test_", "rk_test_")
_MASK_KEEP = 4

Area = Literal["api", "page", "control"]


class Response(NamedTuple):
    """What :meth:`StripeStandIn.handle` answers; a plain ``(status, headers, body)`` tuple."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    area: Area
    run: Callable[..., Any]  # (*path groups, params) -> Obj (api, control) or Page (page)


@dataclass(frozen=True)
class _Stored:
    """An idempotent request's fingerprint and the answer to replay."""

    fingerprint: tuple[str, str, Any]
    response: Response


def _mask(key: str) -> str:
    return key[:8] + "*" * max(0, len(key) - 8 - _MASK_KEEP) + key[-_MASK_KEEP:]


def api_key_of(authorization: str) -> str:
    """The secret key of a ``Bearer`` or ``Basic`` (``curl -u sk_test_...:``) header."""
    scheme, _, credential = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return credential.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credential.strip()).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return ""


class StripeStandIn:
    """An in-memory Stripe (test mode); ``webhooks`` sends the events it emits, if given.

    ``base_url`` is where its pages are reachable (Checkout and portal ``url`` fields point
    there); ``clock`` gives the time in seconds (timestamps, and the rate limit's one-second
    windows); ``api_key``, when set, is the only key accepted (otherwise any test-mode secret
    key is); ``sleep`` is how a ``delay`` fault waits (tests pass a recorder).
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        webhooks: WebhookSender | None = None,
        clock: Callable[[], float] = time.time,
        api_key: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.clock = StandInClock(clock)
        self._sleep = sleep
        self._lock = threading.RLock()
        self._idempotent: dict[str, _Stored] = {}
        self._later: Later | None = None  # a control's work to run once the lock is released
        self.store = Store()
        self.events = EventLog(self.store, self.now, webhooks)
        self.coupons = Coupons(self.store, self.events, self.now)
        self.meters = Meters(self.store, self.now)
        self.flows = Flows(self.store, self.events, self.coupons, self.now, lambda: self.base_url)
        self.api = Api(
            self.store,
            self.events,
            self.flows,
            self.coupons,
            clock=self.now,
            base_url=lambda: self.base_url,
        )
        self.limiter = RateLimiter(self.clock)
        self.faults = Faults()
        self.request_log = RequestLog(self.now)
        self.disputes = Disputes(self.store, self.events, self.now)
        self.controls = Controls(
            self.api,
            self.flows,
            self.disputes,
            self.store,
            self.events,
            limiter=self.limiter,
            faults=self.faults,
            log=self.request_log,
            clock=self.clock,
        )
        self.pages = Pages(self.store, self.flows)
        self._routes = self._route_table()

    def now(self) -> int:
        """The stand-in's clock, in whole seconds like every Stripe timestamp."""
        return self.clock.now()

    # ------------------------------------------------------------------ conveniences
    def register_price(
        self,
        price_id: str,
        unit_amount: int,
        currency: str,
        recurring: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> Obj:
        """``POST /_standin/prices`` from Python; ``recurring={"interval": "month"}``."""
        body = {
            "id": price_id,
            "unit_amount": unit_amount,
            "currency": currency,
            "recurring": dict(recurring) if recurring is not None else None,
            **extra,
        }
        with self._lock:
            return self._transaction(lambda: self.controls.register_price(body))

    def pay_checkout(self, session_id: str) -> Obj:
        """``POST /_standin/checkout/<id>/pay`` from Python: the ids it created."""
        with self._lock:
            return self._transaction(lambda: self.flows.complete_checkout(session_id))

    def seed_subscriptions(
        self,
        count: int,
        price_id: str,
        project_id: str = "1",
        user_prefix: str = "bench-user-",
        metadata: Mapping[str, str] | None = None,
    ) -> list[str]:
        """``POST /_standin/subscriptions/bulk`` from Python: the new subscriptions' ids,
        oldest first (``user_id`` of the i-th: ``f"{user_prefix}{i}"``)."""
        body = {
            "count": count,
            "price": price_id,
            "metadata": {**(metadata or {}), "project_id": project_id},
            "user_prefix": user_prefix,
        }
        with self._lock:
            return self._transaction(lambda: self.controls.seed_subscriptions(body))

    def pause_webhooks(self, paused: bool = True) -> bool:
        """``POST /_standin/webhooks`` from Python: while paused, events are recorded but their
        deliveries are ``dropped`` (and not sent after resuming). Returns the new state."""
        with self._lock:
            return bool(self.controls.webhooks({"paused": paused})["paused"])

    def hold_webhooks(self, held: bool = True) -> bool:
        """``POST /_standin/webhooks`` ``{"held": ...}`` from Python: while held, deliveries
        wait for :meth:`deliver_events`; releasing sends those left, in emission order."""
        with self._lock:
            return bool(self.controls.webhooks({"held": held})["held"])

    def deliver_events(self, event_ids: list[str]) -> list[Obj]:
        """``POST /_standin/events/deliver`` from Python: send those events now, in that
        order; per id, its delivery ``status`` and the receiver's ``http_status``."""
        with self._lock:
            later = self._transaction(lambda: self.controls.deliver({"ids": event_ids}))
        data: list[Obj] = later.run()["data"]
        return data

    def rate_limit(self, per_second: int | None, fail_next: int = 0) -> Obj:
        """``POST /_standin/rate_limit`` from Python: at most ``per_second`` ``/v1`` requests a
        second (None or 0: no limit), and 429 for the next ``fail_next`` whatever the rate."""
        with self._lock:
            return self.controls.rate_limit({"per_second": per_second, "fail_next": fail_next})

    def fault(
        self,
        count: int = 1,
        *,
        status: int | None = None,
        after: bool | None = None,
        delay: float | None = None,
        match: str | None = None,
        should_retry: bool | None = None,
    ) -> Obj:
        """``POST /_standin/faults`` from Python: the next ``count`` ``/v1`` requests (those
        matching ``match``, e.g. ``"POST /v1/checkout/sessions"``) answer ``status`` (429 or
        5xx; ``after=True``: once the work is done) or come ``delay`` seconds late."""
        body: dict[str, Any] = {"count": count, "match": match}
        optional = {"status": status, "after": after, "delay": delay, "should_retry": should_retry}
        body.update((name, value) for name, value in optional.items() if value is not None)
        with self._lock:
            return self.controls.faults(body)

    def requests_seen(
        self,
        method: str | None = None,
        path: str | None = None,
        idempotency_key: str | None = None,
    ) -> list[Obj]:
        """``GET /_standin/requests`` from Python: the ``/v1`` requests seen, oldest first
        (``path``: a prefix), each with its key, its status and whether it was replayed."""
        with self._lock:
            return self.request_log.entries(method, path, idempotency_key)

    def emitted(self) -> list[Obj]:
        """Every event emitted so far, oldest first (copies)."""
        with self._lock:
            return [self.events.current(event) for event in self.store.of_kind("event")]

    # ------------------------------------------------------------------ requests
    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes = b""
    ) -> Response:
        """Answer one request: ``path`` may carry a query string; header names any case."""
        request_id = new_id("req")
        method = method.upper()
        lowered = {name.lower(): value for name, value in headers.items()}
        target = urlsplit(path).path
        fault: Fault | None = None
        later: Later | None = None
        with self._lock:
            try:
                fault = self._admit(method, target, lowered)
                response = self._answer(method, path, lowered, body, request_id, fault=fault)
            except StripeError as exc:
                response = self._error(exc, request_id, target)
            except Exception as exc:  # a bug here: answer like Stripe's 500, state rolled back
                logger.exception("%s %s failed", method, path)
                crash = StripeError(
                    f"The Stripe stand-in failed: {exc!r}", status=500, type_="api_error"
                )
                response = self._error(crash, request_id, target)
            finally:
                self.events.request = NO_REQUEST
                later, self._later = self._later, None
            replayed = response.headers.get("Idempotent-Replayed") == "true"
            if fault is not None and fault.status is not None and fault.after:
                response = self._error(fault.error(), request_id, target)  # the answer is lost
            response.headers.setdefault("Request-Id", request_id)
            if target.startswith("/v1/"):
                self.request_log.record(
                    request_id=response.headers["Request-Id"],
                    method=method,
                    path=target,
                    idempotency_key=lowered.get("idempotency-key"),
                    status=response.status,
                    replayed=replayed,
                    fault=fault,
                )
        if fault is not None and fault.delay is not None:
            self._sleep(fault.delay)  # the work is done; the answer comes too late
        if later is not None and response.status == HTTPStatus.OK:
            response = _json(200, later.run())  # outside the lock: it may call back in
            response.headers["Request-Id"] = request_id
        response.headers["Date"] = http_date(self.clock())
        return response

    def _admit(self, method: str, path: str, headers: Mapping[str, str]) -> Fault | None:
        """A ``/v1`` request's key (401), the rate limit (429), then the fault it suffers, if
        any: a refused request consumes no fault."""
        if not path.startswith("/v1/"):
            return None
        self._authenticate(headers)
        self.limiter.admit()
        return self.faults.take(method, path)

    def _answer(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        request_id: str,
        *,
        fault: Fault | None,
    ) -> Response:
        """The request's answer, unless a fault fails it before any work."""
        if fault is not None and not fault.processes_first:
            raise fault.error()
        return self._atomically(method, path, headers, body, request_id)

    def _atomically(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, request_id: str
    ) -> Response:
        """A request that fails changes nothing and sends no event (reads need no journal)."""
        if method == "GET":
            return self._dispatch(method, path, headers, body, request_id)
        return self._transaction(lambda: self._dispatch(method, path, headers, body, request_id))

    def _transaction[T](self, work: Callable[[], T]) -> T:
        """Run ``work``; on any exception undo its changes and drop its events."""
        self.store.begin()
        self.events.begin()
        try:
            result = work()
        except BaseException:
            self.store.rollback()
            self.events.finish(send=False)
            raise
        self.store.commit()
        self.events.finish(send=True)
        return result

    def _dispatch(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, request_id: str
    ) -> Response:
        parts = urlsplit(path)
        route, groups = self._route(method, parts.path)
        if route.area == "control":
            params: dict[str, Any] = json_body(body) if method == "POST" else {}
            params.update(forms.decode(parts.query))
            answer = route.run(*groups, params)
            if isinstance(answer, Later):
                self._later = answer
                return _json(200, {})
            return _json(200, answer)
        params = forms.decode(body if method == "POST" else parts.query)
        if route.area == "page":
            return _page(route.run(*groups, params))
        key = headers.get("idempotency-key") if method == "POST" else None
        self.events.request = {"id": request_id, "idempotency_key": key}
        if key is None:
            return self._api(route, groups, params)
        return self._idempotently(key, (method, parts.path, params), route, groups)

    def _api(self, route: _Route, groups: tuple[str, ...], params: dict[str, Any]) -> Response:
        response = _json(200, route.run(*groups, params))
        response.headers["Stripe-Version"] = API_VERSION
        return response

    def _idempotently(
        self,
        key: str,
        fingerprint: tuple[str, str, Any],
        route: _Route,
        groups: tuple[str, ...],
    ) -> Response:
        """Replay a key's first answer; refuse the key with other parameters (like Stripe,
        a request refused by validation stores nothing, so it can be fixed and retried)."""
        stored = self._idempotent.get(key)
        if stored is not None:
            if stored.fingerprint != fingerprint:
                raise idempotency_mismatch(key)
            replay = Response(
                stored.response.status, dict(stored.response.headers), stored.response.body
            )
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        response = self._api(route, groups, fingerprint[2])
        response.headers["Idempotency-Key"] = key
        self._idempotent[key] = _Stored(fingerprint, response)
        return response

    def _authenticate(self, headers: Mapping[str, str]) -> None:
        authorization = headers.get("authorization", "")
        if not authorization.strip():
            raise authentication(NO_KEY)
        key = api_key_of(authorization)
        if not key.startswith(_KEY_PREFIXES) or (self.api_key and key != self.api_key):
            raise authentication(f"Invalid API Key provided: {_mask(key)}")

    def _route(self, method: str, path: str) -> tuple[_Route, tuple[str, ...]]:
        for route in self._routes:
            found = route.pattern.fullmatch(path)
            if found is not None and route.method == method:
                return route, found.groups()
        raise unrecognized(method, path)

    def _error(self, error: StripeError, request_id: str, path: str) -> Response:
        if not path.startswith(("/v1/", "/_standin/")):
            return _page(error_page(error))
        log_url = f"https://dashboard.stripe.com/test/logs/{request_id}?t={self.now()}"
        response = _json(error.status, error.body(log_url))
        response.headers.update(error.headers)
        return response

    # ------------------------------------------------------------------ routes
    def _route_table(self) -> list[_Route]:
        api, controls, pages, meters = self.api, self.controls, self.pages, self.meters
        collections = "|".join(re.escape(name) for name in RESOURCES)
        table: list[tuple[str, str, Area, Callable[..., Any]]] = [
            ("POST", "/v1/customers", "api", api.create_customer),
            ("POST", "/v1/customers/([^/]+)", "api", api.update_customer),
            ("POST", "/v1/products", "api", api.create_product),
            ("POST", "/v1/products/([^/]+)", "api", api.update_product),
            ("POST", "/v1/prices", "api", api.create_price),
            ("POST", "/v1/prices/([^/]+)", "api", api.update_price),
            ("POST", "/v1/checkout/sessions", "api", api.create_checkout_session),
            ("GET", "/v1/checkout/sessions/([^/]+)/line_items", "api", api.checkout_line_items),
            ("POST", "/v1/checkout/sessions/([^/]+)/expire", "api", api.expire_checkout_session),
            ("POST", "/v1/billing_portal/sessions", "api", api.create_portal_session),
            ("POST", "/v1/subscriptions/([^/]+)", "api", api.update_subscription),
            ("DELETE", "/v1/subscriptions/([^/]+)", "api", api.cancel_subscription),
            ("POST", "/v1/refunds", "api", api.create_refund),
            ("POST", "/v1/invoices/([^/]+)/pay", "api", api.pay_invoice),
            ("POST", "/v1/coupons", "api", api.create_coupon),
            ("DELETE", "/v1/coupons/([^/]+)", "api", api.delete_coupon),
            ("POST", "/v1/billing/meters", "api", meters.create),
            ("POST", "/v1/billing/meter_events", "api", meters.create_event),
            ("GET", "/v1/billing/meters/([^/]+)/event_summaries", "api", meters.summaries),
            ("GET", f"/v1/({collections})", "api", api.list_objects),
            ("GET", f"/v1/({collections})/([^/]+)", "api", api.retrieve),
            ("GET", "/checkout/([^/]+)", "page", lambda sid, _p: pages.checkout(sid)),
            ("POST", "/checkout/([^/]+)/pay", "page", lambda sid, _p: pages.pay(sid)),
            ("GET", "/portal/([^/]+)", "page", lambda pid, _p: pages.portal(pid)),
            (
                "POST",
                "/portal/([^/]+)/subscriptions/([^/]+)/cancel",
                "page",
                lambda pid, sid, _p: pages.portal_cancel(pid, sid),
            ),
            ("GET", "/receipts/([^/]+)", "page", lambda cid, _p: pages.receipt(cid)),
            ("POST", "/_standin/prices", "control", controls.register_price),
            ("POST", "/_standin/checkout/([^/]+)/pay", "control", controls.pay_checkout),
            ("POST", "/_standin/checkout/([^/]+)/expire", "control", controls.expire_checkout),
            ("POST", "/_standin/subscriptions/([^/]+)/advance", "control", controls.advance),
            (
                "POST",
                "/_standin/subscriptions/([^/]+)/fail_renewal",
                "control",
                controls.fail_renewal,
            ),
            (
                "POST",
                "/_standin/subscriptions/([^/]+)/mark_unpaid",
                "control",
                controls.mark_unpaid,
            ),
            ("POST", "/_standin/subscriptions/([^/]+)/cancel", "control", controls.cancel),
            ("POST", "/_standin/charges/([^/]+)/refund", "control", controls.refund),
            ("POST", "/_standin/refunds/([^/]+)/fail", "control", controls.fail_refund),
            ("POST", "/_standin/charges/([^/]+)/dispute", "control", controls.dispute),
            ("POST", "/_standin/disputes/([^/]+)/update", "control", controls.update_dispute),
            ("POST", "/_standin/disputes/([^/]+)/close", "control", controls.close_dispute),
            ("POST", "/_standin/subscriptions/bulk", "control", controls.bulk_subscriptions),
            ("GET", "/_standin/clock", "control", controls.clock),
            ("POST", "/_standin/clock", "control", controls.clock),
            ("GET", "/_standin/webhooks", "control", controls.webhooks),
            ("POST", "/_standin/webhooks", "control", controls.webhooks),
            ("GET", "/_standin/rate_limit", "control", controls.rate_limit),
            ("POST", "/_standin/rate_limit", "control", controls.rate_limit),
            ("GET", "/_standin/faults", "control", controls.faults),
            ("POST", "/_standin/faults", "control", controls.faults),
            ("GET", "/_standin/requests", "control", controls.requests),
            ("GET", "/_standin/events", "control", controls.events),
            ("POST", "/_standin/events/deliver", "control", controls.deliver),
            ("GET", "/_standin/health", "control", controls.health),
        ]
        return [_Route(m, re.compile(p), area, run) for m, p, area, run in table]


def _json(status: int, body: Obj) -> Response:
    headers = {"Content-Type": "application/json", "Cache-Control": "no-cache, no-store"}
    return Response(status, headers, json.dumps(body, indent=2).encode("utf-8"))


def _page(page: Page) -> Response:
    headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
    if page.location is not None:
        headers["Location"] = page.location
    return Response(page.status, headers, page.body.encode("utf-8"))
