"""Verifying entitlement tokens offline (RS256 JWTs), standard library only.

``BillingClient.issue_token`` returns a short-lived JWT listing the user's active features and
when each ends. A backend that receives one (from its own frontend, another service...) checks
it without calling the billing service: the signature against the service's public keys
(``/.well-known/jwks.json``, fetched once and cached, fetched again only for a key id it has
not seen: a key rotation), then ``iss``, ``aud``, ``project``, ``exp`` and ``iat``.

    verifier = TokenVerifier(client.jwks, audience="https://api.example.com", project_id=7)
    token = verifier.verify(jwt_from_the_request)       # TokenVerificationError if not good
    if token.has_feature("pro"): ...                     # no network call

RSA (RSASSA-PKCS1-v1_5 with SHA-256) is checked here with ``pow``: no crypto package needed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from billing_client.models import JwksDocument

ALGORITHM = "RS256"
DEFAULT_ISSUER = "billing"
DEFAULT_LEEWAY_SECONDS = 30
# DER of DigestInfo for SHA-256 (RFC 8017 9.2 note 1), before the 32-byte digest.
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
_MIN_PADDING = 8  # RFC 8017 9.2: at least eight 0xff bytes


class TokenVerificationError(ValueError):
    """Not a token the service issued for this audience and project, or no longer valid:
    forged, altered, expired, not yet valid, signed by an unknown key. Refuse the request."""


@dataclass(frozen=True, slots=True)
class EntitlementToken:
    """A verified token's claims: who (``user_id`` in ``project_id``), for whom
    (``audience``), when (``issued_at``, ``expires_at``: epoch seconds), and ``features``:
    each feature active at issue and when its access ends (epoch seconds; None: no end)."""

    issuer: str
    project_id: str
    user_id: str
    audience: str
    issued_at: int
    expires_at: int
    features: dict[str, int | None]

    def has_feature(self, feature_code: str, *, now: float | None = None) -> bool:
        """Whether the token lists ``feature_code`` and its access has not ended (``now``:
        epoch seconds, default the clock's)."""
        if feature_code not in self.features:
            return False
        ends = self.features[feature_code]
        return ends is None or (time.time() if now is None else now) < ends


def _b64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenVerificationError("not base64url") from None


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise TokenVerificationError("a part is not JSON") from None
    if not isinstance(value, dict):
        raise TokenVerificationError("a part is not a JSON object")
    return value


def rsa_pkcs1_sha256_valid(signed: bytes, signature: bytes, modulus: int, exponent: int) -> bool:
    """Whether ``signature`` is the RSASSA-PKCS1-v1_5 SHA-256 signature of ``signed``."""
    size = (modulus.bit_length() + 7) // 8
    value = int.from_bytes(signature, "big")
    if len(signature) != size or value >= modulus:
        return False
    encoded = pow(value, exponent, modulus).to_bytes(size, "big")
    digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(signed).digest()
    padding = size - len(digest_info) - 3
    if padding < _MIN_PADDING:
        return False
    expected = b"\x00\x01" + b"\xff" * padding + b"\x00" + digest_info
    return hmac.compare_digest(encoded, expected)


class TokenVerifier:
    """Verifies tokens offline with a cached JWKS. Thread-safe.

    ``fetch_jwks`` is called once, at the first token, and again only when a token names a key
    id the cache lacks, at most once per ``refresh_interval_seconds`` (so forged key ids cost
    no more than that). ``project_id`` (optional) is the project the token must be of;
    ``leeway_seconds`` absorbs clock drift on ``exp`` and ``iat``.
    """

    def __init__(
        self,
        fetch_jwks: Callable[[], JwksDocument],
        *,
        audience: str,
        project_id: int | str | None = None,
        issuer: str = DEFAULT_ISSUER,
        leeway_seconds: float = DEFAULT_LEEWAY_SECONDS,
        refresh_interval_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch_jwks
        self._audience = audience
        self._project = None if project_id is None else str(project_id).strip()
        self._issuer = issuer
        self._leeway = leeway_seconds
        self._refresh_interval = refresh_interval_seconds
        self._clock = clock
        self._keys: dict[str, tuple[int, int]] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def _key(self, kid: str) -> tuple[int, int]:
        with self._lock:
            if kid not in self._keys and (
                self._fetched_at is None
                or self._clock() - self._fetched_at >= self._refresh_interval
            ):
                self._fetched_at = self._clock()
                self._keys = {
                    jwk.kid: (
                        int.from_bytes(_b64url(jwk.n), "big"),
                        int.from_bytes(_b64url(jwk.e), "big"),
                    )
                    for jwk in self._fetch().keys
                    if jwk.kty == "RSA" and jwk.alg == ALGORITHM
                }
            if kid not in self._keys:
                raise TokenVerificationError("signed by a key the service does not publish")
            return self._keys[kid]

    def verify(self, token: str) -> EntitlementToken:
        """The token's claims once its signature and claims hold; else TokenVerificationError."""
        parts = token.split(".")
        if len(parts) != 3:  # noqa: PLR2004 - header, claims, signature
            raise TokenVerificationError("not a JWT")
        header = _json_object(_b64url(parts[0]))
        if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
            raise TokenVerificationError("not an RS256 token with a kid")
        modulus, exponent = self._key(header["kid"])
        signed = f"{parts[0]}.{parts[1]}".encode()
        if not rsa_pkcs1_sha256_valid(signed, _b64url(parts[2]), modulus, exponent):
            raise TokenVerificationError("the signature does not match")
        return self._checked(_json_object(_b64url(parts[1])))

    def _checked(self, claims: Mapping[str, Any]) -> EntitlementToken:
        now = self._clock()
        try:
            token = EntitlementToken(
                issuer=str(claims["iss"]),
                project_id=str(claims["project"]),
                user_id=str(claims["sub"]),
                audience=str(claims["aud"]),
                issued_at=int(claims["iat"]),
                expires_at=int(claims["exp"]),
                features={
                    str(code): None if end is None else int(end)
                    for code, end in dict(claims["features"]).items()
                },
            )
        except (KeyError, TypeError, ValueError):
            raise TokenVerificationError("a claim is missing or malformed") from None
        if token.issuer != self._issuer:
            raise TokenVerificationError("issued by someone else")
        if token.audience != self._audience:
            raise TokenVerificationError("issued for another audience")
        if self._project is not None and token.project_id != self._project:
            raise TokenVerificationError("issued for another project")
        if now >= token.expires_at + self._leeway:
            raise TokenVerificationError("expired")
        if token.issued_at > now + self._leeway:
            raise TokenVerificationError("issued in the future")
        return token
