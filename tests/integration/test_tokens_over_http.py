"""Entitlement tokens over real HTTP against the local stack (issue #22): issued by
POST /api/v1/entitlements/token (signed by the moto server's KMS), the keys served without an
API key at /.well-known/jwks.json; the Python client verifies them with the network blocked
once it has the JWKS, and PyJWT (fetching the JWKS itself) agrees. Expiry, audience, project,
forgery and rotation are covered in tests/unit/services/test_tokens.py on the same code."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt
import pytest
import pytest_socket

from billing_client import (
    BillingClient,
    ForbiddenError,
    InvalidRequestError,
    TokenVerificationError,
    TokenVerifier,
)
from billing_devstack.launcher import StackProcess

pytestmark = pytest.mark.integration

PROJECT = 323
OTHER_PROJECT = 324
AUDIENCE = "https://api.tokens.test"


@dataclass(frozen=True)
class Tenant:
    stack: StackProcess
    client: BillingClient


@pytest.fixture(scope="module")
def tenant(stack: StackProcess) -> Iterator[Tenant]:
    for project in (PROJECT, OTHER_PROJECT):
        stack.admin("project", "create", "--id", str(project), "--name", f"tokens{project}")
    key = stack.admin("app", "create", "--project", str(PROJECT), "--name", "t")["api_key"]
    client = BillingClient(stack.url, key, timeout=30.0)
    for feature in ("pro", "export"):
        client.grant(
            user_id="user_1", project_id=PROJECT, feature_code=feature, granted_by="t", reason="r"
        )
    client.revoke(
        user_id="user_1", project_id=PROJECT, feature_code="export", revoked_by="t", reason="r"
    )
    yield Tenant(stack, client)


def test_the_jwks_needs_no_api_key_and_pyjwt_verifies_a_token_with_it(tenant: Tenant) -> None:
    split = urlsplit(tenant.stack.url)
    connection = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, timeout=30)
    connection.request("GET", split.path + "/.well-known/jwks.json")  # no X-API-Key
    answer = connection.getresponse()
    assert answer.status == 200
    keys = json.loads(answer.read())["keys"]
    connection.close()
    issued = tenant.client.issue_token(user_id="user_1", project_id=PROJECT, audience=AUDIENCE)
    assert [k["kid"] for k in keys] == [issued.kid]
    signing_key = jwt.PyJWKClient(tenant.stack.url + "/.well-known/jwks.json").get_signing_key(
        issued.kid
    )
    claims = jwt.decode(
        issued.token, signing_key, algorithms=["RS256"], audience=AUDIENCE, issuer="billing"
    )
    assert claims["features"] == {"pro": None} == issued.features
    assert (claims["sub"], claims["project"], claims["exp"] - claims["iat"]) == (
        "user_1",
        str(PROJECT),
        300,
    )


def test_the_client_verifies_offline_once_it_has_the_jwks(tenant: Tenant) -> None:
    tokens = [
        tenant.client.issue_token(
            user_id=user, project_id=PROJECT, audience=AUDIENCE, ttl_seconds=3600
        ).token
        for user in ("user_1", "user_2")
    ]
    verifier = TokenVerifier(tenant.client.jwks, audience=AUDIENCE, project_id=PROJECT)
    assert verifier.verify(tokens[0]).has_feature("pro")  # fetches the JWKS
    pytest_socket.disable_socket()
    try:
        with pytest.raises(pytest_socket.SocketBlockedError):
            tenant.client.jwks()  # the network is really blocked
        for _ in range(100):
            assert verifier.verify(tokens[0]).has_feature("pro")
            assert not verifier.verify(tokens[0]).has_feature("export")
            assert not verifier.verify(tokens[1]).has_feature("pro")
    finally:
        pytest_socket.enable_socket()
    with pytest.raises(TokenVerificationError, match="another audience"):
        TokenVerifier(tenant.client.jwks, audience="https://elsewhere.test").verify(tokens[0])


def test_a_token_of_another_project_or_out_of_bounds_is_refused(tenant: Tenant) -> None:
    with pytest.raises(ForbiddenError):
        tenant.client.issue_token(user_id="user_1", project_id=OTHER_PROJECT, audience=AUDIENCE)
    with pytest.raises(InvalidRequestError) as refused:
        tenant.client.issue_token(
            user_id="user_1", project_id=PROJECT, audience=AUDIENCE, ttl_seconds=3601
        )
    assert "ttl_seconds" in str(refused.value)
    token = tenant.client.issue_token(user_id="user_1", project_id=PROJECT, audience=AUDIENCE)
    with pytest.raises(TokenVerificationError, match="another project"):
        TokenVerifier(tenant.client.jwks, audience=AUDIENCE, project_id=OTHER_PROJECT).verify(
            token.token
        )
