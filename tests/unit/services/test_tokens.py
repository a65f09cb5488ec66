"""Entitlement tokens (issue #22): signed by moto's KMS as AWS KMS signs (RS256), published as
a JWKS, verified offline by the Python client and by a third-party library (PyJWT)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key

from billing import wiring
from billing.domain.billing_facts import Owner, SubscriptionFact
from billing.domain.entitlement_rules import PriceTerms, derive_sources
from billing.domain.entitlements import evaluate
from billing.domain.grants import GrantRequest
from billing.domain.tokens import active_features, jwk_of, key_id_of
from billing.errors import ConfigurationError, ValidationError
from billing.services import grants, tenancy
from billing.services.tokens import issue_token, public_keys
from billing_client import JwksDocument, TokenVerificationError, TokenVerifier
from billing_client.tokens import rsa_pkcs1_sha256_valid

AUDIENCE = "https://api.space-journal.test"
BETA_ENDS = datetime.now(UTC).replace(microsecond=0) + timedelta(days=6)


def _now() -> datetime:
    """Now, to the second: PyJWT checks exp and iat against the real clock."""
    return datetime.now(UTC).replace(microsecond=0)


def _rsa_numbers(der: bytes) -> tuple[int, int]:
    key = load_der_public_key(der)
    assert isinstance(key, RSAPublicKey)
    numbers = key.public_numbers()
    return numbers.n, numbers.e


def _new_key() -> str:
    key = boto3.client("kms", region_name="us-east-1").create_key(
        KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY"
    )
    return str(key["KeyMetadata"]["Arn"])


@pytest.fixture
def keys(aws: dict[str, str]) -> list[str]:
    """Two KMS keys of moto's; a user with a lasting and an ending grant, and a revoked one."""
    start = _now() - timedelta(hours=1)
    tenancy.create_project(wiring.project_store(), name="space_journal", project_id=1, now=start)
    store = wiring.grant_store()
    for feature, ends in (("pro", None), ("beta", BETA_ENDS), ("old", None)):
        request = GrantRequest("1", "user_42", feature, "support@example.com", "pilot", ends)
        grants.grant(wiring.project_store(), store, request, app_id="a", now=start)
    revoked = GrantRequest("1", "user_42", "old", "support@example.com", "pilot")
    grants.revoke(wiring.project_store(), store, revoked, app_id="a", now=start)
    return [_new_key(), _new_key()]


def _issue(
    configured: str,
    *,
    audience: str = AUDIENCE,
    project_id: str = "1",
    now: datetime | None = None,
    ttl_seconds: int = 300,
) -> dict[str, Any]:
    return issue_token(
        wiring.entitlement_store(),
        wiring.token_signer(),
        signing_keys=configured,
        issuer="billing",
        project_id=project_id,
        user_id="user_42",
        audience=audience,
        ttl_seconds=ttl_seconds,
        now=now or _now(),
    )


def _jwks(configured: str) -> Callable[[], JwksDocument]:
    """The JWKS as the client fetches it, counting its fetches."""

    def fetch() -> JwksDocument:
        fetch.calls += 1  # type: ignore[attr-defined]
        return JwksDocument.from_json(public_keys(wiring.token_signer(), signing_keys=configured))

    fetch.calls = 0  # type: ignore[attr-defined]
    return fetch


def _pyjwt(token: str, configured: str, **options: Any) -> dict[str, Any]:
    keys = jwt.PyJWKSet.from_dict(public_keys(wiring.token_signer(), signing_keys=configured))
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["RS256"], audience=AUDIENCE, issuer="billing", **options
    )
    return claims


def test_motos_kms_signs_a_token_a_third_party_library_verifies(keys: list[str]) -> None:
    issued = _issue(keys[0])
    claims = _pyjwt(issued["token"], keys[0])
    ends = int(BETA_ENDS.timestamp())
    assert claims["features"] == {"pro": None, "beta": ends}  # the revoked one is not listed
    assert issued["features"] == claims["features"]
    assert (claims["sub"], claims["project"], claims["aud"]) == ("user_42", "1", AUDIENCE)
    assert claims["exp"] - claims["iat"] == 300
    assert jwt.get_unverified_header(issued["token"])["kid"] == key_id_of(keys[0]) == issued["kid"]


def test_the_jwk_is_the_kms_public_key(keys: list[str]) -> None:
    der = wiring.token_signer().public_key(keys[0])
    modulus, exponent = _rsa_numbers(der)
    jwk = jwk_of("k", der)
    assert int.from_bytes(jwt.utils.base64url_decode(jwk["n"]), "big") == modulus
    assert int.from_bytes(jwt.utils.base64url_decode(jwk["e"]), "big") == exponent


def test_the_client_verifies_offline_fetching_the_keys_once(keys: list[str]) -> None:
    fetch = _jwks(keys[0])
    verifier = TokenVerifier(fetch, audience=AUDIENCE, project_id=1)
    for _ in range(3):
        token = verifier.verify(_issue(keys[0])["token"])
        assert token.has_feature("pro") and token.has_feature("beta")
        assert not token.has_feature("old")
        assert not token.has_feature("beta", now=BETA_ENDS.timestamp())  # its grant ended
    assert fetch.calls == 1  # type: ignore[attr-defined]


def test_a_token_expires_on_time_for_both_verifiers(keys: list[str]) -> None:
    issued_at = _now()
    token = _issue(keys[0], now=issued_at, ttl_seconds=60)["token"]
    clock = [issued_at.timestamp() + 59]
    verifier = TokenVerifier(
        _jwks(keys[0]), audience=AUDIENCE, leeway_seconds=0, clock=lambda: clock[0]
    )
    assert verifier.verify(token).expires_at == int(issued_at.timestamp()) + 60
    clock[0] += 1
    with pytest.raises(TokenVerificationError, match="expired"):
        verifier.verify(token)
    stale = _issue(keys[0], now=_now() - timedelta(seconds=61), ttl_seconds=60)["token"]
    with pytest.raises(jwt.ExpiredSignatureError):
        _pyjwt(stale, keys[0])


def test_a_token_is_refused_for_another_audience_or_project(keys: list[str]) -> None:
    fetch = _jwks(keys[0])
    ours = TokenVerifier(fetch, audience=AUDIENCE, project_id="1")
    other_audience = _issue(keys[0], audience="https://other.test")["token"]
    with pytest.raises(TokenVerificationError, match="another audience"):
        ours.verify(other_audience)
    with pytest.raises(jwt.InvalidAudienceError):
        _pyjwt(other_audience, keys[0])
    with pytest.raises(TokenVerificationError, match="another project"):
        TokenVerifier(fetch, audience=AUDIENCE, project_id=2).verify(_issue(keys[0])["token"])


def test_an_altered_or_forged_token_is_refused(keys: list[str]) -> None:
    verifier = TokenVerifier(_jwks(keys[0]), audience=AUDIENCE)
    header, claims, signature = _issue(keys[0])["token"].split(".")
    other_claims = _issue(keys[0], project_id="1", ttl_seconds=3600)["token"].split(".")[1]
    with pytest.raises(TokenVerificationError, match="signature"):
        verifier.verify(f"{header}.{other_claims}.{signature}")
    with pytest.raises(jwt.InvalidSignatureError):
        _pyjwt(f"{header}.{other_claims}.{signature}", keys[0])
    unsigned = f"{jwt.utils.base64url_encode(b'{"alg":"none"}').decode()}.{claims}."
    with pytest.raises(TokenVerificationError, match="RS256"):
        verifier.verify(unsigned)
    # signed by a key the service does not publish
    foreign = _issue(keys[1])["token"]
    with pytest.raises(TokenVerificationError, match="does not publish"):
        verifier.verify(foreign)


def test_tokens_survive_a_key_rotation(keys: list[str]) -> None:
    """Before: A signs. During: B signs, A and B published. After: B alone."""
    old, new = keys
    before = _issue(old)["token"]
    clock = [time.time()]
    fetch = _jwks(old)
    verifier = TokenVerifier(fetch, audience=AUDIENCE, clock=lambda: clock[0])
    verifier.verify(before)

    during = f"{new},{old}"
    assert [k["kid"] for k in public_keys(wiring.token_signer(), signing_keys=during)["keys"]] == [
        key_id_of(new),
        key_id_of(old),
    ]
    rotated = _issue(during)["token"]
    assert jwt.get_unverified_header(rotated)["kid"] == key_id_of(new)
    fetch_during = _jwks(during)
    verifier = TokenVerifier(fetch_during, audience=AUDIENCE, clock=lambda: clock[0])
    assert verifier.verify(before).user_id == verifier.verify(rotated).user_id == "user_42"
    assert _pyjwt(before, during)["sub"] == _pyjwt(rotated, during)["sub"]
    assert fetch_during.calls == 1  # type: ignore[attr-defined]

    # a verifier that cached the old JWKS fetches again for the new kid (once a minute at most)
    def refreshed() -> JwksDocument:
        return fetch_during()

    stale_cache = TokenVerifier(fetch, audience=AUDIENCE, clock=lambda: clock[0])
    stale_cache.verify(before)
    stale_cache._fetch = refreshed  # the service's JWKS has changed since
    with pytest.raises(TokenVerificationError, match="does not publish"):
        stale_cache.verify(rotated)  # fetched less than a minute ago: not again
    clock[0] += 60
    assert stale_cache.verify(rotated).user_id == "user_42"


def test_a_lifetime_or_audience_out_of_bounds_is_refused_naming_the_field(
    keys: list[str],
) -> None:
    for ttl in (29, 3601):
        with pytest.raises(ValidationError) as refused:
            _issue(keys[0], ttl_seconds=ttl)
        assert refused.value.field == "ttl_seconds"
    with pytest.raises(ValidationError) as refused:
        _issue(keys[0], audience="x" * 201)
    assert refused.value.field == "audience"


def test_no_key_configured_is_a_configuration_error(aws: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        public_keys(wiring.token_signer(), signing_keys=" , ")


def test_the_pure_rsa_check_refuses_a_signature_of_other_bytes(keys: list[str]) -> None:
    signer = wiring.token_signer()
    signature = signer.sign(keys[0], b"message")
    modulus, exponent = _rsa_numbers(signer.public_key(keys[0]))
    assert rsa_pkcs1_sha256_valid(b"message", signature, modulus, exponent)
    assert not rsa_pkcs1_sha256_valid(b"messagf", signature, modulus, exponent)
    assert not rsa_pkcs1_sha256_valid(b"message", signature[:-1], modulus, exponent)


def test_a_tokens_feature_ends_when_access_ends_not_at_the_shown_valid_to() -> None:
    """A past_due subscription shows Stripe's period end as valid_to, but its access ends
    with the grace period: an offline check must not trust it longer. A renewing one is
    honoured 2 hours past its period end."""
    period_end, failed = 1_800_000_000, 1_797_000_000
    price = PriceTerms(("pro",), project_id="1")

    def features(status: str, failed_at: int | None) -> tuple[dict[str, int | None], Any]:
        fact = SubscriptionFact(
            "sub_1", Owner("1", "u"), "cus_1", status, ("price_pro",), 1_790_000_000,
            period_end, False, None, failed_at, failed,
        )  # fmt: skip
        derived = derive_sources([fact], {"price_pro": price}, grace_days=3)
        views = evaluate(derived.sources, datetime.fromtimestamp(failed + 60, UTC))
        return active_features(views), views[0].valid_to

    overdue, shown = features("past_due", failed)
    assert overdue == {"pro": failed + 3 * 86_400}
    assert shown == datetime.fromtimestamp(period_end, UTC)
    renewing, _ = features("active", None)
    assert renewing == {"pro": period_end + 2 * 3_600}
