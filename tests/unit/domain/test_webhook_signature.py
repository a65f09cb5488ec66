import pytest

from billing.domain.webhook_signature import sign_payload, signature_header, verify_signature
from billing.errors import InvalidSignatureError

PAYLOAD = b'{"id":"evt_1","object":"event"}'
SECRET = "whsec_current"
NOW = 1_795_625_660


def verify(header: str | None, secrets: list[str] | None = None, now: int = NOW) -> int:
    return verify_signature(PAYLOAD, header, secrets or [SECRET], now, 300)


def test_a_correct_signature_returns_its_timestamp() -> None:
    assert verify(signature_header(PAYLOAD, SECRET, NOW - 10)) == NOW - 10


def test_any_matching_v1_is_enough() -> None:
    good = sign_payload(PAYLOAD, SECRET, NOW)
    assert verify(f"t={NOW},v1={'0' * 64},v1={good},v0=ignored") == NOW


def test_the_old_secret_still_works_during_rotation() -> None:
    header = signature_header(PAYLOAD, "whsec_old", NOW)
    assert verify(header, [SECRET, "whsec_old"]) == NOW
    with pytest.raises(InvalidSignatureError, match="no signature matches"):
        verify(header, [SECRET])


def test_a_changed_payload_fails() -> None:
    header = signature_header(PAYLOAD + b" ", SECRET, NOW)
    with pytest.raises(InvalidSignatureError, match="no signature matches"):
        verify(header)


@pytest.mark.parametrize("skew", [301, -301, 86_400])
def test_a_timestamp_outside_the_tolerance_fails_even_when_signed(skew: int) -> None:
    with pytest.raises(InvalidSignatureError, match="tolerance"):
        verify(signature_header(PAYLOAD, SECRET, NOW - skew))


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("v1=abc", "no timestamp"),
        (f"t={NOW}", "no v1"),
        (f"t=soon,v1={'a' * 64}", "no timestamp"),
        ("garbage", "no timestamp"),
    ],
)
def test_malformed_headers_fail_with_a_reason(header: str | None, reason: str) -> None:
    with pytest.raises(InvalidSignatureError, match=reason):
        verify(header)
