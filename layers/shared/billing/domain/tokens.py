"""Signed entitlement tokens: short-lived JWTs a project backend verifies offline.

A token says, for one (project, user) and one audience (the backend or service that will
check it), which features are active and until when, as of its issue. It is signed RS256
(RSASSA-PKCS1-v1_5 with SHA-256) by an asymmetric KMS key that never leaves KMS; anyone holds
the public keys (``/.well-known/jwks.json``) and can verify it with the standard library
alone. Claims: ``iss``, ``sub`` (the user), ``aud``, ``project``, ``iat``, ``exp``, ``kid``
in the header, and ``features``: each active feature code and when its access ends (epoch
seconds, null: no end).

Pure: the key's public part arrives as DER bytes (what KMS GetPublicKey answers) and leaves as
a JWK, read here with a minimal DER reader, so the runtime needs no crypto library.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billing.domain.entitlements import EntitlementView
from billing.domain.text import validate_text
from billing.errors import ValidationError

ALGORITHM = "RS256"
KMS_SIGNING_ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"
DEFAULT_TTL_SECONDS = 300
MAX_TTL_SECONDS = 3600
MIN_TTL_SECONDS = 30
MAX_AUDIENCE_LENGTH = 200
# KMS signs a RAW message of at most 4096 bytes (it hashes it itself).
MAX_SIGNING_INPUT_BYTES = 4096


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _compact_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def key_id_of(key: str) -> str:
    """The ``kid`` of a configured KMS key: its id (the part after ``key/`` of an ARN)."""
    return key.rsplit("key/", 1)[-1] if key.startswith("arn:") else key


def validate_audience(audience: str) -> str:
    audience = audience.strip()
    if not audience or len(audience) > MAX_AUDIENCE_LENGTH:
        raise ValidationError("audience", f"must be 1-{MAX_AUDIENCE_LENGTH} characters")
    validate_text(audience, "audience")
    return audience


def validate_ttl(ttl_seconds: int) -> int:
    if not MIN_TTL_SECONDS <= ttl_seconds <= MAX_TTL_SECONDS:
        raise ValidationError("ttl_seconds", f"must be {MIN_TTL_SECONDS}-{MAX_TTL_SECONDS} seconds")
    return ttl_seconds


def active_features(views: list[EntitlementView]) -> dict[str, int | None]:
    """Each active feature and when its access ends: the latest end of its active sources
    (epoch seconds; a past_due subscription's grace, a renewal's leeway), None when one of
    them has no end."""
    ends: dict[str, int | None] = {}
    for view in views:
        if not view.active:
            continue
        end = int(view.ends_at.timestamp()) if view.ends_at else None
        if view.feature_code not in ends:
            ends[view.feature_code] = end
        else:
            known = ends[view.feature_code]
            ends[view.feature_code] = None if known is None or end is None else max(known, end)
    return ends


@dataclass(frozen=True)
class TokenClaims:
    issuer: str
    project_id: str
    user_id: str
    audience: str
    issued_at: int
    expires_at: int
    features: dict[str, int | None]

    def to_json(self) -> dict[str, Any]:
        return {
            "iss": self.issuer,
            "sub": self.user_id,
            "aud": self.audience,
            "project": self.project_id,
            "iat": self.issued_at,
            "exp": self.expires_at,
            "features": self.features,
        }


def claims_for(
    *,
    issuer: str,
    project_id: str,
    user_id: str,
    audience: str,
    views: list[EntitlementView],
    now: datetime,
    ttl_seconds: int,
) -> TokenClaims:
    issued = int(now.timestamp())
    return TokenClaims(
        issuer=issuer,
        project_id=project_id,
        user_id=user_id,
        audience=validate_audience(audience),
        issued_at=issued,
        expires_at=issued + validate_ttl(ttl_seconds),
        features=active_features(views),
    )


def signing_input(kid: str, claims: TokenClaims) -> bytes:
    """``base64url(header).base64url(claims)``: what is signed. Refused (422 naming
    ``user_id``) when too large for KMS to sign as a raw message."""
    header = {"alg": ALGORITHM, "typ": "JWT", "kid": kid}
    signed = f"{b64url(_compact_json(header))}.{b64url(_compact_json(claims.to_json()))}"
    if len(signed) > MAX_SIGNING_INPUT_BYTES:
        raise ValidationError("user_id", "has too many active features for one token")
    return signed.encode()


def compact_token(signed: bytes, signature: bytes) -> str:
    return f"{signed.decode()}.{b64url(signature)}"


# ---------------------------------------------------------------------- public keys as JWKs
class _Der:
    """Just enough DER to read an RSA SubjectPublicKeyInfo: SEQUENCE, BIT STRING, INTEGER."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def element(self, tag: int) -> bytes:
        if self.at >= len(self.data) or self.data[self.at] != tag:
            raise ValueError("not an RSA public key")
        length = self.data[self.at + 1]
        self.at += 2
        if length & 0x80:
            size = length & 0x7F
            length = int.from_bytes(self.data[self.at : self.at + size], "big")
            self.at += size
        value = self.data[self.at : self.at + length]
        self.at += length
        return value


_SEQUENCE, _BIT_STRING, _INTEGER = 0x30, 0x03, 0x02
_RSA_ENCRYPTION = bytes.fromhex("2a864886f70d010101")  # OID 1.2.840.113549.1.1.1


def rsa_public_numbers(der: bytes) -> tuple[int, int]:
    """(modulus, exponent) of a DER SubjectPublicKeyInfo holding an RSA key."""
    spki = _Der(_Der(der).element(_SEQUENCE))
    algorithm = spki.element(_SEQUENCE)
    if _RSA_ENCRYPTION not in algorithm:
        raise ValueError("not an RSA public key")
    bits = spki.element(_BIT_STRING)
    key = _Der(_Der(bits[1:]).element(_SEQUENCE))
    modulus = int.from_bytes(key.element(_INTEGER), "big")
    exponent = int.from_bytes(key.element(_INTEGER), "big")
    return modulus, exponent


def jwk_of(kid: str, der: bytes) -> dict[str, str]:
    modulus, exponent = rsa_public_numbers(der)
    return {
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": ALGORITHM,
        "n": b64url(modulus.to_bytes((modulus.bit_length() + 7) // 8, "big")),
        "e": b64url(exponent.to_bytes((exponent.bit_length() + 7) // 8, "big")),
    }
