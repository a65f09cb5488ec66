"""API keys: only their SHA-256 hash is ever stored or compared."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from billing.errors import ValidationError

ALL_SCOPES = frozenset({"checkout", "portal", "entitlements", "admin", "metrics"})
NEW_KEY_PREFIX = "bk"
_BASE62 = string.digits + string.ascii_letters
_RANDOM_LENGTH = 32  # 32 base62 characters: about 190 bits from the OS's secure source
_CHECKSUM_LENGTH = 6
_IMPORTABLE_KEY = re.compile(r"[A-Za-z0-9_\-]{16,256}")


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(_BASE62[digit])
    return "".join(reversed(digits))


def key_checksum(random_part: str) -> str:
    """Six base62 characters of CRC32, so a mistyped key is recognised without a lookup."""
    return _base62(zlib.crc32(random_part.encode("ascii")), _CHECKSUM_LENGTH)


def generate_api_key(prefix: str = NEW_KEY_PREFIX) -> str:
    """A new key ``<prefix>_<random>_<checksum>`` from the ``secrets`` module's source."""
    random_part = "".join(secrets.choice(_BASE62) for _ in range(_RANDOM_LENGTH))
    return f"{prefix}_{random_part}_{key_checksum(random_part)}"


def validate_importable_key(api_key: str) -> str:
    """An existing key value brought from the old service: long enough and plain ASCII.

    Imported keys keep their value (``sk_demo_space_journal`` must keep working after a move),
    so only their shape is checked, never a checksum.
    """
    if not _IMPORTABLE_KEY.fullmatch(api_key):
        raise ValidationError("key", "must be 16-256 characters of letters, digits, _ or -")
    return api_key


def parse_scopes(scopes: Iterable[str] | None) -> frozenset[str]:
    """The scopes given (all when none are), refusing unknown names."""
    chosen = frozenset(s.strip() for s in scopes or () if s.strip()) or ALL_SCOPES
    unknown = chosen - ALL_SCOPES
    if unknown:
        raise ValidationError(
            "scopes", f"unknown {sorted(unknown)}; choose from {sorted(ALL_SCOPES)}"
        )
    return chosen


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
