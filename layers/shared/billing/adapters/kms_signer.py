"""Entitlement tokens' keys in AWS KMS: asymmetric RSA_2048 keys that sign and never leave.

Sign sends the JWT's signing input as a RAW message (KMS hashes it: SHA-256, PKCS#1 v1.5);
GetPublicKey answers the DER public key, cached for the container's life (a key id's public
key never changes). Locally the moto server's KMS does both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from billing.errors import DependencyUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

_CLIENT_CONFIG = Config(
    connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"}
)


def kms_client(region: str) -> KMSClient:
    """A KMS client with short timeouts; the endpoint follows AWS_ENDPOINT_URL_KMS if set."""
    return boto3.client("kms", region_name=region, config=_CLIENT_CONFIG)


class KmsTokenSigner:
    def __init__(self, client: KMSClient) -> None:
        self._client = client
        self._public_keys: dict[str, bytes] = {}

    def sign(self, key: str, message: bytes) -> bytes:
        try:
            answer = self._client.sign(
                KeyId=key,
                Message=message,
                MessageType="RAW",
                SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256",  # KMS_SIGNING_ALGORITHM
            )
        except (BotoCoreError, ClientError) as exc:
            raise DependencyUnavailableError(f"KMS Sign failed: {type(exc).__name__}") from exc
        return bytes(answer["Signature"])

    def public_key(self, key: str) -> bytes:
        if key not in self._public_keys:
            try:
                answer = self._client.get_public_key(KeyId=key)
            except (BotoCoreError, ClientError) as exc:
                raise DependencyUnavailableError(
                    f"KMS GetPublicKey failed: {type(exc).__name__}"
                ) from exc
            self._public_keys[key] = bytes(answer["PublicKey"])
        return self._public_keys[key]
