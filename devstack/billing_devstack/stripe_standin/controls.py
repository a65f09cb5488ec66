"""Test controls under ``/_standin`` (JSON in, JSON out, no API key): what Stripe's
Dashboard, test clocks and a customer's card would do, on demand.

=========================================  ==========================================
``POST /_standin/prices``                  register a price with a chosen id
``POST /_standin/checkout/<id>/pay``       pay a Checkout Session (the Pay button)
``POST /_standin/checkout/<id>/expire``    let an open session expire
``POST /_standin/subscriptions/<id>/...``  ``advance``, ``fail_renewal``, ``mark_unpaid``,
                                           ``cancel``
``POST /_standin/charges/<id>/refund``     refund all, or ``{"amount": N}``
``POST /_standin/refunds/<id>/fail``       the refund fails (``{"failure_reason": ...}``)
``POST /_standin/charges/<id>/dispute``    a chargeback (``{"amount": N, "reason": ...}``)
``POST /_standin/disputes/<id>/...``       ``update`` (evidence), ``close`` (``{"outcome"}``)
``POST /_standin/subscriptions/bulk``      seed N subscriptions (benchmarks; no events)
``GET|POST /_standin/clock``               ``{"advance": s}`` or ``{"now": t}``: time moves on
``GET|POST /_standin/webhooks``            ``{"paused": bool}``: drop deliveries or not;
                                           ``{"held": bool}``: keep them back or not
``POST /_standin/events/deliver``          ``{"ids": [...]}``: send those events now
``GET|POST /_standin/rate_limit``          ``{"per_second": N, "fail_next": K}``: 429s
``GET|POST /_standin/faults``              ``{"count": K, "status": 500, ...}``: failures
``GET /_standin/requests``                 every ``/v1`` request seen, and its answer
``GET /_standin/events``                   emitted events and their deliveries
``GET /_standin/health``                   ``{"status": "ok"}``
=========================================  ==========================================

See README.md beside this file for bodies, answers and the events each one emits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from billing_devstack.stripe_standin import bulk
from billing_devstack.stripe_standin.api import Api
from billing_devstack.stripe_standin.clock import StandInClock
from billing_devstack.stripe_standin.disputes import REASONS as DISPUTE_REASONS
from billing_devstack.stripe_standin.disputes import Disputes
from billing_devstack.stripe_standin.errors import invalid, missing, unknown
from billing_devstack.stripe_standin.events import EventLog
from billing_devstack.stripe_standin.faults import (
    MAX_DELAY_SECONDS,
    METHODS,
    RATE_LIMITED,
    Fault,
    Faults,
    RequestLog,
)
from billing_devstack.stripe_standin.flows import Flows
from billing_devstack.stripe_standin.limits import RateLimiter
from billing_devstack.stripe_standin.schema import METADATA, check
from billing_devstack.stripe_standin.store import Obj, Store

_INTERVALS = ("day", "week", "month", "year")
# JSON field -> accepted Python types (bool is an int in Python: listed where it is wrong).
_PRICE_FIELDS: Mapping[str, tuple[type, ...]] = {
    "id": (str,),
    "unit_amount": (int,),
    "currency": (str,),
    "recurring": (dict, type(None)),
    "product": (str,),
    "product_name": (str,),
    "nickname": (str,),
    "lookup_key": (str,),
    "metadata": (dict,),
    "active": (bool,),
}
# Stripe's refund.failure_reason values.
REFUND_FAILURE_REASONS = (
    "lost_or_stolen_card",
    "expired_or_canceled_card",
    "charge_for_pending_refund_disputed",
    "insufficient_funds",
    "declined",
    "merchant_request",
    "unknown",
)
MAX_BULK = 200_000
DEFAULT_USER_PREFIX = "bench-user-"
_BULK_FIELDS: Mapping[str, tuple[type, ...]] = {
    "count": (int,),
    "price": (str,),
    "metadata": (dict,),
    "user_prefix": (str,),
}
_RATE_LIMIT_FIELDS: Mapping[str, tuple[type, ...]] = {
    "per_second": (int, type(None)),
    "fail_next": (int,),
}
_FAULT_FIELDS: Mapping[str, tuple[type, ...]] = {
    "count": (int,),
    "match": (str, type(None)),
    "status": (int,),
    "after": (bool,),
    "delay": (int, float),
    "should_retry": (bool, type(None)),
}
_REQUEST_FILTERS: Mapping[str, tuple[type, ...]] = {
    "method": (str,),
    "path": (str,),
    "idempotency_key": (str,),
}
_SERVER_ERRORS = range(500, 600)


@dataclass(frozen=True)
class Later:
    """A control's answer worked out once the stand-in's lock is released: a webhook sent
    there may make its receiver call the stand-in back before answering."""

    run: Callable[[], Obj]


def json_body(body: bytes) -> dict[str, Any]:
    """The control's JSON object; an empty body is ``{}``."""
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise invalid("Invalid JSON body.") from None
    if not isinstance(value, dict):
        raise invalid("The JSON body must be an object.")
    return value


def _fields(body: Mapping[str, Any], allowed: Mapping[str, tuple[type, ...]]) -> None:
    for key, value in body.items():
        if key not in allowed:
            raise unknown(key)
        wrong_bool = isinstance(value, bool) and bool not in allowed[key]
        if wrong_bool or not isinstance(value, allowed[key]):
            names = " or ".join(kind.__name__ for kind in allowed[key])
            raise invalid(f"Invalid {key}: must be {names}", param=key)


def _recurring(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    _fields(value, {"interval": (str,), "interval_count": (int,)})
    if value.get("interval") not in _INTERVALS:
        raise invalid(f"Invalid recurring[interval]: must be one of {', '.join(_INTERVALS)}")
    count = value.get("interval_count", 1)
    if count < 1:
        raise invalid("recurring[interval_count] must be at least 1")
    return {"interval": value["interval"], "interval_count": count}


class Controls:
    """Handlers of the ``/_standin`` routes."""

    def __init__(
        self,
        api: Api,
        flows: Flows,
        disputes: Disputes,
        store: Store,
        events: EventLog,
        *,
        limiter: RateLimiter,
        faults: Faults,
        log: RequestLog,
        clock: StandInClock,
    ) -> None:
        self._api = api
        self._flows = flows
        self._disputes = disputes
        self._store = store
        self._events = events
        self._limiter = limiter
        self._faults = faults
        self._log = log
        self._clock = clock

    def register_price(self, body: Mapping[str, Any]) -> Obj:
        """``{"id", "unit_amount", "currency", "recurring": {...} | null, ...}`` -> the price."""
        _fields(body, _PRICE_FIELDS)
        for required in ("id", "unit_amount", "currency"):
            if required not in body:
                raise missing(required)
        if body["unit_amount"] < 0:
            raise invalid("unit_amount must be >= 0", param="unit_amount")
        params = {**body, "recurring": _recurring(body.get("recurring"))}
        price_id = str(body["id"])
        product_id = str(body.get("product") or "prod_" + price_id.removeprefix("price_"))
        return self._api.register_price(price_id, product_id, params)

    def pay_checkout(self, session_id: str, body: Mapping[str, Any]) -> Obj:
        """Complete a session as the Pay button does; answers the ids it created."""
        _fields(body, {})
        return self._flows.complete_checkout(session_id)

    def expire_checkout(self, session_id: str, body: Mapping[str, Any]) -> Obj:
        """The session expires unpaid (``checkout.session.expired``)."""
        _fields(body, {})
        return self._flows.expire_checkout(session_id)

    def advance(self, sub_id: str, body: Mapping[str, Any]) -> Obj:
        """Renew: next period, paid invoice (or the end of a cancel-at-period-end)."""
        _fields(body, {})
        return self._flows.renew(sub_id, paid=True)

    def fail_renewal(self, sub_id: str, body: Mapping[str, Any]) -> Obj:
        """Renew, but the card is declined: open invoice, ``past_due``."""
        _fields(body, {})
        return self._flows.renew(sub_id, paid=False)

    def mark_unpaid(self, sub_id: str, body: Mapping[str, Any]) -> Obj:
        """A ``past_due`` subscription's retries ran out: ``unpaid``."""
        _fields(body, {})
        return self._flows.mark_unpaid(sub_id)

    def cancel(self, sub_id: str, body: Mapping[str, Any]) -> Obj:
        """Cancel now, or ``{"at_period_end": true}``."""
        _fields(body, {"at_period_end": (bool,)})
        return self._flows.cancel(sub_id, at_period_end=bool(body.get("at_period_end")))

    def refund(self, charge_id: str, body: Mapping[str, Any]) -> Obj:
        """Refund what is left of a charge, or ``{"amount": N}`` of it."""
        _fields(body, {"amount": (int,), "reason": (str,)})
        return self._flows.refund(charge_id, body.get("amount"), body.get("reason"))

    def dispute(self, charge_id: str, body: Mapping[str, Any]) -> Obj:
        """The cardholder disputes the charge: ``{"amount": N, "reason": "..."}`` (default:
        all of it, ``fraudulent``); the dispute ``needs_response``."""
        _fields(body, {"amount": (int,), "reason": (str,)})
        reason = body.get("reason", "fraudulent")
        if reason not in DISPUTE_REASONS:
            raise invalid(f"reason must be one of {', '.join(DISPUTE_REASONS)}", param="reason")
        return self._disputes.open(charge_id, body.get("amount"), reason)

    def update_dispute(self, dispute_id: str, body: Mapping[str, Any]) -> Obj:
        """The merchant submits evidence: the dispute is ``under_review``."""
        _fields(body, {})
        return self._disputes.submit_evidence(dispute_id)

    def close_dispute(self, dispute_id: str, body: Mapping[str, Any]) -> Obj:
        """The bank decides: ``{"outcome": "won" | "lost"}``."""
        _fields(body, {"outcome": (str,)})
        if "outcome" not in body:
            raise missing("outcome")
        if body["outcome"] not in ("won", "lost"):
            raise invalid("outcome must be won or lost", param="outcome")
        return self._disputes.close(dispute_id, body["outcome"])

    def fail_refund(self, refund_id: str, body: Mapping[str, Any]) -> Obj:
        """A succeeded or pending refund fails (``{"failure_reason": ...}``, default
        ``expired_or_canceled_card``): its amount goes back on the charge."""
        _fields(body, {"failure_reason": (str,)})
        reason = body.get("failure_reason", "expired_or_canceled_card")
        if reason not in REFUND_FAILURE_REASONS:
            raise invalid(
                f"failure_reason must be one of {', '.join(REFUND_FAILURE_REASONS)}",
                param="failure_reason",
            )
        return self._flows.fail_refund(refund_id, reason)

    def bulk_subscriptions(self, body: Mapping[str, Any]) -> Obj:
        """Seed ``count`` subscriptions (see :meth:`seed_subscriptions`); answers how many and
        the first and last id rather than every id."""
        ids = self.seed_subscriptions(body)
        return {"created": len(ids), "price": body["price"], "first": ids[0], "last": ids[-1]}

    def seed_subscriptions(self, body: Mapping[str, Any]) -> list[str]:
        """``{"count": N, "price": "price_...", "metadata": {...}, "user_prefix": "..."}``:
        N customers with an ``active`` subscription each, no invoice, no event."""
        _fields(body, _BULK_FIELDS)
        for required in ("count", "price"):
            if required not in body:
                raise missing(required)
        count = body["count"]
        if not 1 <= count <= MAX_BULK:
            raise invalid(f"count must be between 1 and {MAX_BULK}", param="count")
        price = self._store.get("price", body["price"], param="price")
        if price["type"] != "recurring":
            raise invalid(f"The price {price['id']} is not recurring.", param="price")
        metadata = check({"metadata": body.get("metadata", {})}, {"metadata": METADATA})
        if "user_id" in metadata["metadata"]:
            raise invalid(
                "metadata[user_id] is set per subscription from user_prefix.",
                param="metadata[user_id]",
            )
        user_prefix = body.get("user_prefix", DEFAULT_USER_PREFIX)
        longest = bulk.subscription_metadata(count - 1, user_prefix, metadata["metadata"])
        check({"metadata": longest}, {"metadata": METADATA})  # Stripe's limits, with our keys
        return bulk.seed_subscriptions(
            self._store,
            self._clock.now(),
            price,
            count,
            user_prefix=user_prefix,
            metadata=metadata["metadata"],
        )

    def clock(self, body: Mapping[str, Any]) -> Obj:
        """``{"advance": seconds}`` or ``{"now": epoch}`` moves the stand-in's time on (never
        back); no body: the time. Answers ``{"now": epoch}``."""
        _fields(body, {"advance": (int, float), "now": (int,)})
        if "advance" in body and "now" in body:
            raise invalid("Give either advance or now, not both.", param="now")
        if "advance" in body:
            self._clock.advance(body["advance"])
        elif "now" in body:
            self._clock.move_to(body["now"])
        return {"now": self._clock.now()}

    def webhooks(self, body: Mapping[str, Any]) -> Obj:
        """``{"paused": true}`` drops every delivery from now on (a misconfigured endpoint);
        ``false`` sends again, but only events emitted afterwards. ``{"held": true}`` keeps
        deliveries back for :meth:`deliver`; ``false`` sends those left, in emission order.
        No body: the state."""
        _fields(body, {"paused": (bool,), "held": (bool,)})
        if "paused" in body:
            self._events.paused = body["paused"]
        if "held" in body:
            self._events.hold(body["held"])
        return {"paused": self._events.paused, "held": self._events.held}

    def deliver(self, body: Mapping[str, Any]) -> Later:
        """``{"ids": ["evt_...", ...]}``: send exactly those events, in that order, now (each
        once, freshly signed; an event sent before goes again: a duplicate). Answers, per id,
        the delivery's status and the receiver's HTTP status."""
        _fields(body, {"ids": (list,)})
        ids = body.get("ids")
        if not ids:
            raise missing("ids")
        if not all(isinstance(event_id, str) for event_id in ids):
            raise invalid("Invalid ids: must be a list of event ids", param="ids")
        sender = self._events.sender
        if sender is None:
            raise invalid("The stand-in has no webhook URL to deliver to.", param="ids")
        taken = self._events.take_for_delivery(ids)

        def send() -> Obj:
            data = []
            for event, payload in taken:
                delivery = sender.deliver_now(event["id"], payload)
                data.append(
                    {
                        "id": event["id"],
                        "type": event["type"],
                        "status": delivery.status,
                        "http_status": delivery.last_status,
                        "error": delivery.last_error,
                    }
                )
            return {"object": "list", "data": data, "has_more": False, "url": "/_standin/events"}

        return Later(send)

    def rate_limit(self, body: Mapping[str, Any]) -> Obj:
        """``{"per_second": N}`` (0 or null: off) answers 429 to ``/v1`` requests beyond N a
        second; ``{"fail_next": K}`` to the next K whatever the rate. No body: the state."""
        _fields(body, _RATE_LIMIT_FIELDS)
        for key in _RATE_LIMIT_FIELDS:
            if (body.get(key) or 0) < 0:
                raise invalid(f"{key} must be >= 0", param=key)
        if body:
            per_second = body.get("per_second", self._limiter.per_second)
            self._limiter.configure(per_second, body.get("fail_next", 0))
        return self._limiter.state()

    def faults(self, body: Mapping[str, Any]) -> Obj:
        """``{"count": K, "match": "POST /v1/...", "status": 500, "after": bool, "delay": s,
        "should_retry": bool}``: the next K matching ``/v1`` requests fail (``count`` 0: none);
        each ``POST`` replaces the fault. No body: the state."""
        if body:
            self._faults.set(fault_of(body))
        return self._faults.current.state()

    def requests(self, body: Mapping[str, Any]) -> Obj:
        """Every ``/v1`` request seen (the last 10000), oldest first; ``?method=POST``,
        ``?path=/v1/checkout/sessions`` (a prefix) and ``?idempotency_key=...`` filter them."""
        _fields(body, _REQUEST_FILTERS)
        data = self._log.entries(body.get("method"), body.get("path"), body.get("idempotency_key"))
        return {"object": "list", "data": data, "has_more": False, "url": "/_standin/requests"}

    def events(self, body: Mapping[str, Any]) -> Obj:
        """Every emitted event, oldest first, with its delivery state."""
        _fields(body, {})
        data = [self._events.delivery_report(event) for event in self._store.of_kind("event")]
        return {"object": "list", "data": data, "has_more": False, "url": "/_standin/events"}

    @staticmethod
    def health(body: Mapping[str, Any]) -> Obj:
        """For start-up checks."""
        _fields(body, {})
        return {"status": "ok"}


def fault_of(body: Mapping[str, Any]) -> Fault:
    """A fault from the control's body, refused (400, ``param`` naming the field) unless it
    makes sense: a ``status`` (429 or 5xx) or a ``delay`` (seconds, after the work), not both."""
    _fields(body, _FAULT_FIELDS)
    count = body.get("count", 1)
    if count < 0:
        raise invalid("count must be >= 0", param="count")
    match = _match(body.get("match"))
    if count == 0:
        return Fault(match=match)
    if "status" in body and "delay" in body:
        raise invalid("Give either status or delay, not both.", param="delay")
    after = body.get("after", "delay" in body)
    if "status" in body:
        _check_status(body["status"], after, body.get("should_retry"))
    elif "delay" in body:
        _check_delay(body["delay"], after, body)
    else:
        raise missing("status")
    return Fault(
        count=count,
        match=match,
        status=body.get("status"),
        after=after,
        delay=float(body["delay"]) if "delay" in body else None,
        should_retry=body.get("should_retry"),
    )


def _check_status(status: int, after: bool, should_retry: bool | None) -> None:
    if status != RATE_LIMITED and status not in _SERVER_ERRORS:
        raise invalid("status must be 429 or 500-599", param="status")
    if status == RATE_LIMITED and (after or should_retry is not None):
        param = "after" if after else "should_retry"
        raise invalid("A 429 is answered before any work, without Stripe-Should-Retry.", param)


def _check_delay(delay: float, after: bool, body: Mapping[str, Any]) -> None:
    if not 0 < delay <= MAX_DELAY_SECONDS:
        raise invalid(f"delay must be > 0 and <= {MAX_DELAY_SECONDS:g}", param="delay")
    if not after:
        raise invalid("A delay always comes after the work: after must be true.", "after")
    if "should_retry" in body:
        raise invalid("should_retry goes with a status, not a delay.", "should_retry")


def _match(value: str | None) -> str | None:
    """``"POST /v1/checkout/sessions"`` or ``"/v1/customers"`` (any method), or None."""
    if value is None:
        return None
    method, _, prefix = value.rpartition(" ")
    if method not in ("", *METHODS) or not prefix.startswith("/v1/"):
        raise invalid(
            "match must be a /v1 path prefix, optionally after a method: "
            "'POST /v1/checkout/sessions'",
            param="match",
        )
    return value
