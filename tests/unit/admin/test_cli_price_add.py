"""billing-admin price add takes amounts from Stripe: read when not given, refused (exit 2,
the field named, nothing stored) when given otherwise. The Stripe stand-in in process, where
the CLI's target would reach the local one (billing_admin.wiring.stripe_catalog); moto's tables."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from billing import wiring
from billing.domain.tenancy import Price
from billing.services import tenancy
from billing_admin import wiring as admin_wiring
from tests.unit.admin.catalog_helpers import StripeWorld
from tests.unit.admin.conftest import run_cli as run

NOW = datetime(2026, 11, 25, tzinfo=UTC)
ADD = ("price", "add", "--project", "1", "--feature", "pro", "--json")


@pytest.fixture
def stripe(cli: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeWorld]:
    tenancy.create_project(wiring.project_store(), name="space_journal", project_id=1, now=NOW)
    world = StripeWorld()
    world.standin.register_price(
        "price_quarterly", 1200, "eur", {"interval": "month", "interval_count": 3}
    )
    world.standin.register_price("price_life", 4900, "usd", None)
    monkeypatch.setattr(admin_wiring, "stripe_catalog", lambda: world.gateway)
    yield world


def stored() -> list[Price]:
    return wiring.price_store().list("1")


def test_the_amount_currency_and_interval_are_read_from_stripe(
    stripe: StripeWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, *ADD, "--price", "price_quarterly")
    assert code == 0, out
    assert stored() == [Price("price_quarterly", "1", ("pro",), 1200, "eur", "month", 3)]
    assert json.loads(out)["amount"] == 1200
    code, _, _ = run(capsys, *ADD, "--price", "price_life", "--access-days", "30")
    assert code == 0
    assert Price("price_life", "1", ("pro",), 4900, "usd", "one_time", 1, 30) in stored()


def test_terms_given_as_stripe_has_them_are_taken(
    stripe: StripeWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    given = (
        "--amount",
        "1200",
        "--currency",
        "EUR",
        "--interval",
        "month",
        "--interval-count",
        "3",
    )
    code, _, err = run(capsys, *ADD, "--price", "price_quarterly", *given)
    assert (code, err) == (0, "")
    assert [p.amount for p in stored()] == [1200]


@pytest.mark.parametrize(
    "case",
    [
        ("price_quarterly", ["--amount", "900"], "amount", "Stripe says 1200, not 900"),
        ("price_quarterly", ["--currency", "usd"], "currency", "Stripe says 'eur', not 'usd'"),
        ("price_quarterly", ["--interval", "year"], "interval", "Stripe says 'month'"),
        ("price_quarterly", ["--interval-count", "1"], "interval_count", "Stripe says 3, not 1"),
        ("price_quarterly", ["--one-time"], "interval", "Stripe says 'month', not 'one_time'"),
        ("price_life", ["--interval", "month"], "interval", "Stripe says 'one_time'"),
        ("price_missing", [], "price_id", "Stripe has no price price_missing"),
    ],
)
def test_a_term_stripe_disagrees_with_is_refused_naming_it_and_nothing_is_stored(
    stripe: StripeWorld,
    capsys: pytest.CaptureFixture[str],
    case: tuple[str, list[str], str, str],
) -> None:
    price, given, field, says = case
    code, out, err = run(capsys, *ADD, "--price", price, *given)
    assert (code, out) == (2, "")
    error = json.loads(err)["error"]
    assert error["field"] == field
    assert says in error["message"]
    assert stored() == []


def test_a_bad_request_is_refused_before_stripe_is_asked(
    stripe: StripeWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *ADD, "--price", "not-a-price-id")
    assert code == 2
    assert json.loads(err)["error"]["field"] == "price_id"
    assert stripe.http.calls == []


def test_stripe_unavailable_exits_3_and_stores_nothing(
    stripe: StripeWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    stripe.standin.fault(count=5, status=500, should_retry=False)
    code, _, err = run(capsys, *ADD, "--price", "price_quarterly")
    assert code == 3, err
    assert stored() == []
