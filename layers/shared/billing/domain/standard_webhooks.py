"""Signing outbound webhooks by the Standard Webhooks specification (1.0), so a project
backend verifies them with an off-the-shelf library in any language.

Headers: ``webhook-id`` (the same for every attempt of one delivery: receivers deduplicate on
it), ``webhook-timestamp`` (epoch seconds of this attempt) and ``webhook-signature``: for each
secret, ``v1,`` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), space-separated, where
the key is the base64-decoded part of the ``whsec_`` secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from billing.domain.webhook_endpoints import SECRET_PREFIX

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of the body, its id and its timestamp."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.digest(secret_key(secret), signed, hashlib.sha256)
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    message_id: str, timestamp: int, body: bytes, secrets: Sequence[str]
) -> dict[str, str]:
    """The three headers of one attempt, one signature per secret (several in a rotation)."""
    if not secrets:
        raise ValueError("an endpoint signs with at least one secret")
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: " ".join(signature(s, message_id, timestamp, body) for s in secrets),
    }


def delivery_id(project_id: str, user_id: str, version: int, endpoint_id: str) -> str:
    """The ``webhook-id`` of one change to one endpoint: stable across retries, redrives and
    duplicate dispatches, different for every (change, endpoint)."""
    key = f"{project_id}#{user_id}#{version}#{endpoint_id}".encode()
    return "msg_" + hashlib.sha256(key).hexdigest()[:32]
