"""Stripe webhook signatures: HMAC-SHA256 over ``"{t}.{payload}"``, several ``v1`` allowed.

Several secrets are accepted so the signing secret can be rotated without losing events.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from billing.errors import InvalidSignatureError

MAX_T_DIGITS = 20  # epoch seconds; int() refuses (ValueError) strings over 4300 digits


def sign_payload(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``v1`` signature Stripe would send for ``payload`` at ``timestamp``."""
    signed = str(timestamp).encode("ascii") + b"." + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """A complete ``Stripe-Signature`` header, as the local stand-in and tests send it."""
    return f"t={timestamp},v1={sign_payload(payload, secret, timestamp)}"


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= MAX_T_DIGITS:
            timestamp = int(value)
        elif key == "v1" and value and value.isascii():  # compare_digest refuses non-ASCII
            signatures.append(value)
    if timestamp is None:
        raise InvalidSignatureError("no timestamp in Stripe-Signature")
    if not signatures:
        raise InvalidSignatureError("no v1 signature in Stripe-Signature")
    return timestamp, signatures


def verify_signature(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    now: int,
    tolerance_seconds: int,
) -> int:
    """Check a delivery's signature; return its timestamp or raise InvalidSignatureError.

    Every (secret, v1) pair is compared in constant time, and a timestamp further than the
    tolerance from ``now`` (in either direction) is refused, so a captured delivery cannot
    be replayed later.
    """
    if not header:
        raise InvalidSignatureError("missing Stripe-Signature header")
    timestamp, signatures = _parse_header(header)
    if abs(now - timestamp) > tolerance_seconds:
        raise InvalidSignatureError("timestamp outside the tolerance")
    matched = False
    for secret in secrets:
        expected = sign_payload(payload, secret, timestamp)
        for candidate in signatures:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise InvalidSignatureError("no signature matches")
    return timestamp
