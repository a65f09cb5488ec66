"""Entitlement tokens: issue one for (project, user, audience), and publish the public keys.

Issuing costs one GetItem (the entitlement record, as the read route) and one KMS Sign; the
JWKS costs one GetPublicKey per key per container. The first configured key signs; every
configured key is published, so during a rotation tokens of the old key still verify.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billing.domain.clock import from_epoch, to_iso
from billing.domain.entitlements import evaluate
from billing.domain.tokens import claims_for, compact_token, jwk_of, key_id_of, signing_input
from billing.errors import ConfigurationError
from billing.ports.entitlements import EntitlementStore
from billing.ports.push import TokenSigner


def _keys(configured: str | None) -> list[str]:
    keys = [key.strip() for key in (configured or "").split(",") if key.strip()]
    if not keys:
        raise ConfigurationError("TOKEN_SIGNING_KEYS is not set")
    return keys


def issue_token(
    store: EntitlementStore,
    signer: TokenSigner,
    *,
    signing_keys: str | None,
    issuer: str,
    project_id: str,
    user_id: str,
    audience: str,
    ttl_seconds: int,
    now: datetime,
) -> dict[str, Any]:
    """A signed JWT of the user's active features now, for ``audience``."""
    key = _keys(signing_keys)[0]
    views = evaluate(store.sources_of(project_id, user_id), now)
    claims = claims_for(
        issuer=issuer,
        project_id=project_id,
        user_id=user_id,
        audience=audience,
        views=views,
        now=now,
        ttl_seconds=ttl_seconds,
    )
    kid = key_id_of(key)
    signed = signing_input(kid, claims)
    return {
        "token": compact_token(signed, signer.sign(key, signed)),
        "token_type": "JWT",
        "kid": kid,
        "expires_at": to_iso(from_epoch(claims.expires_at)),
        "features": claims.features,
    }


def public_keys(signer: TokenSigner, *, signing_keys: str | None) -> dict[str, Any]:
    """The JWKS: every configured key's public part (the signing one first)."""
    return {"keys": [jwk_of(key_id_of(k), signer.public_key(k)) for k in _keys(signing_keys)]}
