"""Verifying the service's outbound webhooks (Standard Webhooks 1.0), standard library only.

The service POSTs ``entitlements.updated`` to a project's endpoints with three headers:
``webhook-id`` (the same on every retry of one delivery), ``webhook-timestamp`` (epoch
seconds) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>``, one per secret in use, space
separated). ``verify_webhook`` checks them against the endpoint's ``whsec_`` secret(s) and
returns the parsed body; any off-the-shelf Standard Webhooks library does the same.

    from billing_client import verify_webhook, WebhookReplayGuard
    guard = WebhookReplayGuard()  # one per process: refuses a webhook-id seen before
    event = verify_webhook(request.body, request.headers, ["whsec_..."], replay_guard=guard)
    # keep event["data"]["version"] if it is higher than the one you have for that user
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not a secret


class WebhookVerificationError(ValueError):
    """The delivery is not one the service signed now: forged, changed, stale, from the
    future, or replayed. Answer it 400 and do nothing with it."""


class WebhookReplayGuard:
    """Remembers the webhook-ids verified within the tolerance window (at most ``max_ids``),
    so a delivery replayed inside it is refused. Thread-safe. The service retries a
    delivery only when it was not taken (not a 2xx), so a legitimate retry never meets an id
    that was accepted before."""

    def __init__(self, max_ids: int = 100_000) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._max_ids = max_ids
        self._lock = threading.Lock()

    def remember(self, message_id: str, now: float, ttl: float) -> None:
        """Refuse ``message_id`` if it was remembered less than ``ttl`` seconds ago."""
        with self._lock:
            for old_id, at in list(self._seen.items()):
                if now - at < ttl:
                    break
                del self._seen[old_id]
            if message_id in self._seen:
                raise WebhookVerificationError("webhook-id seen before: a replay")
            self._seen[message_id] = now
            while len(self._seen) > self._max_ids:
                self._seen.popitem(last=False)


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"missing header {name}")


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ followed by base64") from None


def _offered_signatures(header: str) -> list[bytes]:
    """The ``v1`` signatures of a webhook-signature header (others, and garbage, skipped)."""
    found = []
    for candidate in header.split(" "):
        version, _, encoded = candidate.partition(",")
        if version == "v1":
            try:
                found.append(base64.b64decode(encoded, validate=True))
            except (binascii.Error, ValueError):
                continue
    return found


def verify_webhook(
    payload: bytes | str,
    headers: Mapping[str, str],
    secrets: str | Sequence[str],
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
    replay_guard: WebhookReplayGuard | None = None,
) -> dict[str, Any]:
    """The delivery's JSON body once its signature matches one of ``secrets`` (several during
    a rotation) and its timestamp is within ``tolerance_seconds`` of ``now``; else
    WebhookVerificationError. With ``replay_guard``, a webhook-id it saw within the tolerance
    is refused too."""
    body = payload.encode() if isinstance(payload, str) else payload
    message_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    offered = _header(headers, "webhook-signature")
    if not stamp.isascii() or not stamp.isdigit():
        raise WebhookVerificationError("webhook-timestamp is not epoch seconds")
    moment = time.time() if now is None else now
    if abs(moment - int(stamp)) > tolerance_seconds:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    signed = f"{message_id}.{stamp}.".encode() + body
    keys = [_key(s) for s in ([secrets] if isinstance(secrets, str) else secrets)]
    if not keys:
        raise ValueError("give at least one secret")
    expected = [hmac.digest(key, signed, hashlib.sha256) for key in keys]
    if not any(
        hmac.compare_digest(given, digest)
        for given in _offered_signatures(offered)
        for digest in expected
    ):
        raise WebhookVerificationError("no signature matches")
    if replay_guard is not None:
        replay_guard.remember(message_id, moment, tolerance_seconds * 2)
    try:
        parsed = json.loads(body)
    except ValueError:
        raise WebhookVerificationError("the body is not JSON") from None
    if not isinstance(parsed, dict):
        raise WebhookVerificationError("the body is not a JSON object")
    return parsed
