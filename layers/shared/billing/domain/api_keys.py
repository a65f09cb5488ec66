"""API keys: only their SHA-256 hash is ever stored or compared."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

ALL_SCOPES = frozenset({"checkout", "portal", "entitlements", "admin", "metrics"})


def hash_api_key(api_key: str) -> str:
    """The hex SHA-256 of a key: the lookup key of the API-keys table."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def key_prefix(api_key: str, length: int = 8) -> str:
    """The first characters of a key, kept to recognise it in listings (never enough to use)."""
    return api_key[:length]


@dataclass(frozen=True)
class ApiKeyGrant:
    """What a stored key allows: the app it belongs to, its project and scopes."""

    key_hash: str
    project_id: str
    app_id: str
    active: bool
    scopes: frozenset[str]
    expires_at: datetime | None = None

    def allows(self, presented_hash: str, now: datetime) -> bool:
        """True when this grant matches the presented key and may be used at ``now``.

        The hash comparison is constant-time even though the lookup was by hash, so no code
        path compares secrets byte by byte.
        """
        if not hmac.compare_digest(self.key_hash, presented_hash):
            return False
        if not self.active:
            return False
        return self.expires_at is None or now < self.expires_at
