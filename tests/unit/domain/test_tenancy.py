import pytest

from billing.domain.tenancy import (
    Price,
    normalize_origin,
    validate_grace_period_days,
    validate_price,
)
from billing.errors import ValidationError

PRICE = Price(
    stripe_price_id="price_123",
    project_id="1",
    feature_codes=("pro",),
    amount=900,
    currency="usd",
    interval="month",
)


@pytest.mark.parametrize(
    ("value", "origin"),
    [
        ("https://app.example.com/billing/success?x=1", "https://app.example.com"),
        ("https://App.Example.com:8443", "https://app.example.com:8443"),
        ("http://localhost:3000/cb", "http://localhost:3000"),
        ("http://127.0.0.1", "http://127.0.0.1"),
        ("https://app.example.com:443/", "https://app.example.com"),
        ("http://localhost:80", "http://localhost"),
    ],
)
def test_origins_are_scheme_host_and_port(value: str, origin: str) -> None:
    assert normalize_origin(value) == origin


@pytest.mark.parametrize(
    "value",
    [
        "http://app.example.com",
        "ftp://example.com",
        "example.com",
        "https://u:p@example.com",
        "",
        "https://app.example.com:0/",
        "https://app.example.com:00/ok",
        "https://app.example.com:65536/",
        "https://app.example.com:99999/",
        "https://app.example.com:-1/",
        "https://app.example.com:+443/",
        "https://app.example.com:abc/",
        "https://app.example.com:4٤٣/",  # Arabic-Indic digits
        "http://localhost:0/",
        "https://@app.example.com",
        " https://app.example.com",
        "https://app.example.com\t",
        "https://app.example.com.",
        "https://app example.com",
    ],
)
def test_other_origins_are_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="allowed_origins") as error:
        normalize_origin(value)
    assert error.value.reason.startswith(repr(value))  # the operator sees which one


def test_a_valid_price_passes() -> None:
    assert validate_price(PRICE) == PRICE


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"stripe_price_id": "prod_1"}, "price_id"),
        ({"feature_codes": ()}, "feature_codes"),
        ({"feature_codes": ("Pro",)}, "feature_codes"),
        ({"amount": -1}, "amount"),
        ({"currency": "USD"}, "currency"),
        ({"currency": "usdx"}, "currency"),
        ({"interval": "fortnight"}, "interval"),
        ({"interval_count": 0}, "interval_count"),
        ({"access_days": 30}, "access_days"),
        ({"interval": "one_time", "access_days": 0}, "access_days"),
    ],
)
def test_a_bad_price_names_the_field(change: dict[str, object], field: str) -> None:
    bad = Price(**{**PRICE.__dict__, **change})
    with pytest.raises(ValidationError) as error:
        validate_price(bad)
    assert error.value.field == field


def test_one_time_prices_may_have_an_access_duration() -> None:
    one_time = Price(**{**PRICE.__dict__, "interval": "one_time", "access_days": 30})
    assert validate_price(one_time).access_days == 30


@pytest.mark.parametrize("days", [-1, 61])
def test_the_grace_period_is_bounded(days: int) -> None:
    with pytest.raises(ValidationError, match="grace_period_days"):
        validate_grace_period_days(days)
