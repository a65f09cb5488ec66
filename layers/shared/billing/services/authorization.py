"""Authorize a request by its API key."""

from __future__ import annotations

from datetime import datetime

from billing.domain.api_keys import ApiKeyGrant, hash_api_key
from billing.errors import UnauthorizedError
from billing.ports.api_keys import ApiKeyStore

MAX_API_KEY_LENGTH = 256


def authorize_api_key(api_key: str | None, store: ApiKeyStore, now: datetime) -> ApiKeyGrant:
    """The grant of a usable key; UnauthorizedError for a missing, unknown or inactive one.

    One read, by the key's SHA-256 hash; the key itself is never logged or stored.
    """
    if not api_key or len(api_key) > MAX_API_KEY_LENGTH:
        raise UnauthorizedError("missing or malformed API key")
    presented = hash_api_key(api_key)
    grant = store.find(presented)
    if grant is None or not grant.allows(presented, now):
        raise UnauthorizedError("unknown or inactive API key")
    return grant
