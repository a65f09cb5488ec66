"""Deliveries of events to one endpoint, signed and retried as Stripe does.

Stripe signs ``"{t}.{payload}"`` with HMAC-SHA256 under the endpoint's secret and sends
``Stripe-Signature: t=...,v1=...`` (one ``v1`` per active secret while a secret is being rolled).
A delivery that fails (no answer, or a status outside 2xx) is retried with a growing delay; the
stand-in gives up after a few attempts instead of Stripe's three days. Deliveries run on one
background thread so a slow receiver never blocks the API, and in order, which keeps local runs
repeatable (Stripe itself promises no order).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

logger = logging.getLogger("billing_devstack.stripe_standin.webhooks")

DEFAULT_ATTEMPTS = 4
DEFAULT_BACKOFF = 0.5  # seconds before the first retry, doubled for each next one
DEFAULT_TIMEOUT = 10.0
_OK_MIN, _OK_MAX = 200, 299

# (url, body, headers, timeout) -> HTTP status; raises OSError when nothing answered.
Transport = Callable[[str, bytes, Mapping[str, str], float], int]


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """Stripe's ``v1`` signature of ``payload`` at ``timestamp``."""
    signed = str(timestamp).encode("ascii") + b"." + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(payload: bytes, secrets: Sequence[str], timestamp: int) -> str:
    """``t=<timestamp>,v1=<sig>[,v1=<sig>...]``: one ``v1`` per signing secret."""
    return ",".join([f"t={timestamp}", *(f"v1={sign(payload, s, timestamp)}" for s in secrets)])


def http_post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST with the standard library; an HTTP error status is an answer, not an exception."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"webhook URL must be http(s): {url}")
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - scheme checked
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@dataclass(frozen=True)
class Delivery:
    """Where one event's delivery stands: ``pending``, ``delivered``, ``failed``, ``dropped``
    (emitted while webhooks were paused: never attempted) or ``held`` (waiting for a test to
    send it)."""

    url: str
    status: str = "pending"
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: int | None = None

    def as_json(self) -> dict[str, object]:
        """For ``GET /_standin/events``."""
        return {
            "url": self.url,
            "status": self.status,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "delivered_at": self.delivered_at,
        }


class WebhookSender:
    """Signs and POSTs event payloads to ``url``; ``start()`` runs it in the background.

    Without ``start()``, :meth:`drain` delivers what was submitted in the caller's thread, which
    is how unit tests (no sockets, a fake ``transport``) drive it.
    """

    def __init__(
        self,
        url: str,
        secrets: Sequence[str],
        *,
        transport: Transport = http_post,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secrets:
            raise ValueError("a webhook sender needs at least one signing secret")
        self.url = url
        self.secrets = tuple(secrets)
        self._transport = transport
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._timeout = timeout
        self._clock = clock
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._deliveries: dict[str, Delivery] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def submit(self, event_id: str, payload: bytes) -> None:
        """Queue one event; its delivery starts as ``pending``."""
        with self._lock:
            self._deliveries[event_id] = Delivery(url=self.url)
        self._queue.put((event_id, payload))

    def drop(self, event_id: str) -> None:
        """Record an event that will never be sent (webhooks paused): ``dropped``, 0 attempts."""
        with self._lock:
            self._deliveries[event_id] = Delivery(url=self.url, status="dropped")

    def hold(self, event_id: str) -> None:
        """Record an event kept back for a test to send (:meth:`deliver_now`): ``held``."""
        with self._lock:
            self._deliveries[event_id] = Delivery(url=self.url, status="held")

    def deliver_now(self, event_id: str, payload: bytes) -> Delivery:
        """One attempt, in the caller's thread, signed now (again for an event already sent:
        a duplicate, as Stripe's retries make); ``delivered`` or ``failed``, no retry."""
        if not self._attempt(event_id, payload):
            self._update(event_id, lambda current: replace(current, status="failed"))
        return self.delivery(event_id) or Delivery(url=self.url, status="failed")

    def delivery(self, event_id: str) -> Delivery | None:
        """The delivery state of an event submitted here, or None."""
        with self._lock:
            return self._deliveries.get(event_id)

    def start(self) -> None:
        """Deliver in a daemon thread from now on (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="stripe-standin-webhooks", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop retrying and end the thread; undelivered events stay ``pending``."""
        self._stopping.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def drain(self) -> None:
        """Deliver everything queued so far, in this thread (tests and scripts)."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                self._deliver(*job)

    def _run(self) -> None:
        while not self._stopping.is_set():
            job = self._queue.get()
            if job is None:
                return
            try:
                self._deliver(*job)
            except Exception:  # the thread must outlive any one delivery's surprise
                logger.exception("webhook %s: delivery crashed", job[0])
                self._update(job[0], lambda current: replace(current, status="failed"))

    def _deliver(self, event_id: str, payload: bytes) -> None:
        for attempt in range(self._attempts):
            if attempt and self._stopping.wait(self._backoff * 2 ** (attempt - 1)):
                return
            if self._attempt(event_id, payload):
                return
        self._update(event_id, lambda current: replace(current, status="failed"))
        logger.warning("webhook %s not delivered to %s: gave up", event_id, self.url)

    def _attempt(self, event_id: str, payload: bytes) -> bool:
        """One POST, signed now (Stripe signs each retry afresh); True once it is accepted."""
        now = int(self._clock())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": signature_header(payload, self.secrets, now),
        }
        try:
            status = self._transport(self.url, payload, headers, self._timeout)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            error = str(exc) or type(exc).__name__
            self._update(event_id, lambda d: _attempted(d, None, error))
            return False
        accepted = _OK_MIN <= status <= _OK_MAX
        self._update(event_id, lambda d: _attempted(d, status, None, now if accepted else None))
        return accepted

    def _update(self, event_id: str, change: Callable[[Delivery], Delivery]) -> None:
        with self._lock:
            current = self._deliveries.get(event_id, Delivery(url=self.url))
            self._deliveries[event_id] = change(current)


def _attempted(
    current: Delivery, status: int | None, error: str | None, delivered_at: int | None = None
) -> Delivery:
    """The delivery after one more attempt; ``delivered_at`` marks success."""
    return replace(
        current,
        status="delivered" if delivered_at is not None else current.status,
        attempts=current.attempts + 1,
        last_status=status,
        last_error=error,
        delivered_at=delivered_at,
    )
