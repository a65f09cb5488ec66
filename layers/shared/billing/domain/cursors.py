"""Paging cursors that clients hold but cannot read, forge or move to another user.

A cursor carries a position in a list (the storage's own key of the last item shown), and is
only good for the project and user it was issued for. It is sealed with a secret key by
deterministic authenticated encryption (SIV: the tag is an HMAC-SHA256 over the project, the
user and the position, and is also the nonce of an HMAC-SHA256 keystream that encrypts the
position), so:

- the position is not readable (nothing of the table's key layout shows);
- any change, truncation or made-up token fails the tag: "not a cursor of this list" (422);
- a cursor of another project or user fails the tag too, since they are part of it.

Several keys may be given during a rotation: the first seals, any of them opens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from billing.errors import ConfigurationError, ValidationError

VERSION = b"\x01"
TAG_BYTES = 16
MAX_POSITION_BYTES = 1024
MIN_KEY_LENGTH = 32
CURSOR_FIELD = "cursor"
NOT_A_CURSOR = "not a cursor this API returned for this project and user"
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_BLOCK = hashlib.sha256().digest_size


@dataclass(frozen=True)
class _Keys:
    tag: bytes
    stream: bytes


def _derive(secret: str) -> _Keys:
    root = secret.encode()
    return _Keys(
        tag=hmac.digest(root, b"billing audit cursor: tag", "sha256"),
        stream=hmac.digest(root, b"billing audit cursor: stream", "sha256"),
    )


def _tag(keys: _Keys, project_id: str, user_id: str, position: bytes) -> bytes:
    # Project and user ids never hold NUL (billing.domain.ids): the parts cannot run together.
    message = b"\0".join((VERSION, project_id.encode(), user_id.encode(), position))
    return hmac.digest(keys.tag, message, "sha256")[:TAG_BYTES]


def _xor_stream(keys: _Keys, nonce: bytes, data: bytes) -> bytes:
    blocks = (len(data) + _BLOCK - 1) // _BLOCK
    stream = b"".join(
        hmac.digest(keys.stream, nonce + counter.to_bytes(4, "big"), "sha256")
        for counter in range(blocks)
    )
    return bytes(a ^ b for a, b in zip(data, stream, strict=False))


class CursorSeal:
    """Seals positions into cursors and opens them again, for one project and user at a time."""

    def __init__(self, secrets: Sequence[str]) -> None:
        if not secrets or any(len(secret) < MIN_KEY_LENGTH for secret in secrets):
            raise ConfigurationError(
                f"the cursor signing key must be at least {MIN_KEY_LENGTH} characters"
            )
        self._keys = [_derive(secret) for secret in secrets]

    def seal(self, position: str, *, project_id: str, user_id: str) -> str:
        """The cursor of ``position`` in the list of (``project_id``, ``user_id``)."""
        data = position.encode()
        keys = self._keys[0]
        tag = _tag(keys, project_id, user_id, data)
        token = VERSION + tag + _xor_stream(keys, tag, data)
        return base64.urlsafe_b64encode(token).rstrip(b"=").decode()

    def open(self, cursor: str, *, project_id: str, user_id: str) -> str:
        """The position a cursor of this list carries; ValidationError naming ``cursor`` for
        anything else (forged, truncated, changed, of another project or user, or sealed with
        a key no longer in use)."""
        token = _decoded(cursor)
        if token is None or len(token) <= 1 + TAG_BYTES or token[:1] != VERSION:
            raise ValidationError(CURSOR_FIELD, NOT_A_CURSOR)
        tag, sealed = token[1 : 1 + TAG_BYTES], token[1 + TAG_BYTES :]
        for keys in self._keys:
            data = _xor_stream(keys, tag, sealed)
            if hmac.compare_digest(tag, _tag(keys, project_id, user_id, data)):
                return data.decode()  # authentic: text this code sealed
        raise ValidationError(CURSOR_FIELD, NOT_A_CURSOR)


def _decoded(cursor: str) -> bytes | None:
    """The bytes of a cursor in the one spelling :meth:`CursorSeal.seal` writes (base64url,
    unpadded, unused bits zero), or None: any other spelling of them is a changed cursor."""
    longest = 4 * (1 + TAG_BYTES + MAX_POSITION_BYTES) // 3 + 4
    if len(cursor) > longest or not _TOKEN.fullmatch(cursor) or len(cursor) % 4 == 1:
        return None
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    return raw if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == cursor else None
