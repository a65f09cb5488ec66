"""The authorizer's port: API keys by their hash."""

from __future__ import annotations

from typing import Protocol

from billing.domain.api_keys import ApiKeyGrant


class ApiKeyStore(Protocol):
    def find(self, key_hash: str) -> ApiKeyGrant | None:
        """The grant stored under this hash, or None. One read."""
