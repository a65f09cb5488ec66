"""Catalog as code against the Stripe stand-in (the real SDK, in process) and moto's price
table: apply from empty, apply again, a new amount, new features, and drift made by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import pytest

from billing import wiring
from billing.adapters.stripe_gateway import StripePaymentGateway
from billing.domain.entitlement_rules import PriceTerms
from billing.domain.tenancy import Price, StripePriceTerms
from billing.errors import NotFoundError, ValidationError
from billing.services import tenancy
from billing_admin.domain.catalog import (
    ArchivePrice,
    ArchiveProduct,
    Change,
    CreatePrice,
    CreateProduct,
    PutServicePrice,
    ReplacePrice,
    UpdatePrice,
    UpdateProduct,
    parse_catalog,
    price_spec,
)
from billing_admin.services import catalog as service
from tests.support.lambda_runtime import invoke, json_body, load_event
from tests.unit.admin.catalog_helpers import StripeWorld, document, price_entry

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HAND_PRICE = Price("price_123", "1", ("pro",), 900, "usd", "month")


@pytest.fixture
def world(aws: dict[str, str]) -> Iterator[StripeWorld]:
    tenancy.create_project(wiring.project_store(), name="space_journal", project_id=1, now=NOW)
    wiring.price_store().put(HAND_PRICE)  # registered by hand before the catalog: left alone
    yield StripeWorld()


def stores(world: StripeWorld) -> dict[str, Any]:
    return {
        "projects": wiring.project_store(),
        "prices": wiring.price_store(),
        "stripe": world.gateway,
    }


def plan(world: StripeWorld, doc: dict[str, Any]) -> list[Change]:
    return service.plan(parse_catalog(doc), **stores(world))


def apply(world: StripeWorld, doc: dict[str, Any]) -> list[Change]:
    return service.apply(parse_catalog(doc), **stores(world))


def rows() -> dict[str, Price]:
    return {row.stripe_price_id: row for row in wiring.price_store().list("1")}


def test_apply_from_empty_creates_products_prices_and_service_rows(world: StripeWorld) -> None:
    applied = apply(world, document())

    assert [type(c).__name__ for c in applied] == [
        "CreateProduct",
        "CreateProduct",
        "CreatePrice",
        "CreatePrice",
        "CreatePrice",
    ]
    pro = world.client.v1.products.retrieve("cat_1_pro")
    assert (pro.name, pro.description, pro.active) == (
        "Space Journal Pro",
        "Unlimited journals",
        True,
    )
    assert world.metadata(pro) == {"project_id": "1", "catalog_key": "pro"}
    monthly = world.price_by_lookup_key("cat_1_pro_monthly")
    assert (monthly.product, monthly.unit_amount, monthly.currency) == ("cat_1_pro", 900, "usd")
    assert monthly.recurring is not None
    assert (monthly.recurring.interval, monthly.recurring.interval_count) == ("month", 1)
    assert world.metadata(monthly) == {
        "project_id": "1",
        "feature_code": "pro",
        "catalog_key": "pro_monthly",
        "trial_days": "14",
    }
    pass_30d = world.price_by_lookup_key("cat_1_pass_30d")
    assert pass_30d.recurring is None and pass_30d.product == "cat_1_passes"
    assert world.metadata(pass_30d)["feature_code"] == "pro,archive"
    assert world.metadata(pass_30d)["access_days"] == "30"

    table = rows()
    assert table[monthly.id] == Price(monthly.id, "1", ("pro",), 900, "usd", "month")
    assert table[pass_30d.id] == Price(
        pass_30d.id, "1", ("pro", "archive"), 500, "usd", "one_time", access_days=30
    )
    assert table["price_123"] == HAND_PRICE
    assert len(table) == 4


def test_a_second_apply_changes_nothing_and_writes_nothing(world: StripeWorld) -> None:
    apply(world, document())
    writes = len(world.http.writes())
    before = rows()

    assert apply(world, document()) == []
    assert plan(world, document()) == []
    assert len(world.http.writes()) == writes
    assert rows() == before


def test_a_new_amount_makes_a_new_price_and_archives_the_old_one(world: StripeWorld) -> None:
    apply(world, document())
    old = world.price_by_lookup_key("cat_1_pro_monthly")
    (subscription_id,) = world.standin.seed_subscriptions(1, old.id, user_prefix="old_user_")

    doc = document()
    price_entry(doc, "pro_monthly")["amount"] = 1200
    planned = plan(world, doc)
    assert [type(c) for c in planned] == [ReplacePrice]
    applied = apply(world, doc)
    assert [type(c) for c in applied] == [ReplacePrice]

    new = world.price_by_lookup_key("cat_1_pro_monthly")
    assert new.id != old.id
    assert (new.unit_amount, new.active, new.product) == (1200, True, "cat_1_pro")
    archived = world.client.v1.prices.retrieve(old.id)
    assert (archived.active, archived.lookup_key, archived.unit_amount) == (False, None, 900)
    assert world.metadata(archived)["feature_code"] == "pro"
    table = rows()
    assert table[new.id] == Price(new.id, "1", ("pro",), 1200, "usd", "month")
    assert table[old.id] == Price(old.id, "1", ("pro",), 900, "usd", "month")
    # The old subscriber stays on the old price, which still grants its features.
    subscription = world.client.v1.subscriptions.retrieve(subscription_id)
    assert subscription.items.data[0].price.id == old.id
    assert wiring.billing_ledger().read(price_ids=[old.id]).prices == {
        old.id: PriceTerms(("pro",), None, "1", StripePriceTerms(900, "usd", "month"))
    }
    assert plan(world, doc) == []


def test_a_checkout_of_the_new_price_works(
    world: StripeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = document()
    apply(world, doc)
    price_entry(doc, "pro_monthly")["amount"] = 1200
    apply(world, doc)
    new = world.price_by_lookup_key("cat_1_pro_monthly")
    gateway = StripePaymentGateway(world.client)
    monkeypatch.setattr(wiring, "payment_gateway", lru_cache(maxsize=1)(lambda: gateway))

    event = load_event("checkout_session.json")
    event["body"] = json.dumps({**json.loads(event["body"]), "price_id": new.id})
    response = invoke("checkout_session", event)

    assert response["statusCode"] == 200, response["body"]
    created = world.standin.pay_checkout(json_body(response)["session_id"])
    subscription = world.client.v1.subscriptions.retrieve(created["subscription"])
    assert subscription.items.data[0].price.id == new.id


def test_new_features_follow_on_current_and_archived_prices(world: StripeWorld) -> None:
    doc = document()
    apply(world, doc)
    old = world.price_by_lookup_key("cat_1_pro_monthly")
    price_entry(doc, "pro_monthly")["amount"] = 1200
    apply(world, doc)
    new = world.price_by_lookup_key("cat_1_pro_monthly")
    price_writes = world.http.writes().count(("POST", "/v1/prices"))

    price_entry(doc, "pro_monthly")["features"] = ["pro", "export"]
    applied = apply(world, doc)

    assert sorted(type(c).__name__ for c in applied) == [
        "PutServicePrice",
        "PutServicePrice",
        "UpdatePrice",
        "UpdatePrice",
    ]
    assert world.http.writes().count(("POST", "/v1/prices")) == price_writes  # none created
    for price_id in (new.id, old.id):
        assert world.metadata(world.client.v1.prices.retrieve(price_id))["feature_code"] == (
            "pro,export"
        )
        assert rows()[price_id].feature_codes == ("pro", "export")
    assert world.client.v1.prices.retrieve(old.id).active is False
    assert plan(world, doc) == []


def test_a_reverted_amount_is_a_fresh_price_not_a_replayed_one(world: StripeWorld) -> None:
    doc = document()
    apply(world, doc)
    first = world.price_by_lookup_key("cat_1_pro_monthly").id
    price_entry(doc, "pro_monthly")["amount"] = 1200
    apply(world, doc)
    price_entry(doc, "pro_monthly")["amount"] = 900
    apply(world, doc)

    third = world.price_by_lookup_key("cat_1_pro_monthly")
    assert third.id != first and third.active and third.unit_amount == 900
    assert len(world.prices_of("cat_1_pro")) == 4  # three monthly prices, one yearly


def test_a_retried_create_is_one_stripe_price(world: StripeWorld) -> None:
    planned = plan(world, document())
    for change in planned:
        if isinstance(change, CreateProduct):
            service.execute(change, **stores(world))
    create = next(c for c in planned if isinstance(c, CreatePrice))
    one = world.gateway.create_price(
        create.spec, transfer_lookup_key=False, idempotency_key=create.idempotency_key
    )
    again = world.gateway.create_price(
        create.spec, transfer_lookup_key=False, idempotency_key=create.idempotency_key
    )
    assert one.price_id == again.price_id
    assert len(world.client.v1.prices.list(params={"lookup_keys": ["cat_1_pro_monthly"]}).data) == 1


def test_an_apply_cut_short_carries_on_from_what_was_done(world: StripeWorld) -> None:
    """Stripe created the price but the table row was never written: the next plan adds it."""
    catalog = parse_catalog(document())
    project = catalog.projects[0]
    spec = price_spec("1", project.products[0], project.products[0].prices[0])
    apply(world, document())
    price_id = world.price_by_lookup_key(spec.lookup_key).id
    wiring.price_store().remove(price_id, "1")

    assert plan(world, document()) == [PutServicePrice(spec.service_row(price_id), None)]
    apply(world, document())
    assert rows()[price_id] == spec.service_row(price_id)


def test_an_unknown_project_fails_before_anything_is_read_or_changed(world: StripeWorld) -> None:
    doc = document()
    doc["projects"].append({"project_id": 7, "products": []})
    with pytest.raises(NotFoundError, match="project 7 not found"):
        apply(world, doc)
    assert world.http.calls == []
    assert set(rows()) == {"price_123"}


def test_drift_made_by_hand_is_planned_and_repaired(world: StripeWorld) -> None:
    apply(world, document())
    monthly = world.price_by_lookup_key("cat_1_pro_monthly")
    yearly = world.price_by_lookup_key("cat_1_pro_yearly")
    world.client.v1.prices.update(monthly.id, params={"metadata": {"feature_code": "free"}})
    world.client.v1.products.update("cat_1_passes", params={"active": False})
    wiring.price_store().remove(yearly.id, "1")

    drift = plan(world, document())
    assert drift == [
        UpdateProduct("1", "cat_1_passes", {"active": True}),
        UpdatePrice("1", monthly.id, "pro_monthly", {"feature_code": "pro"}),
        PutServicePrice(Price(yearly.id, "1", ("pro",), 9000, "usd", "year"), None),
    ]
    apply(world, document())
    assert plan(world, document()) == []
    assert world.metadata(world.client.v1.prices.retrieve(monthly.id))["feature_code"] == "pro"


def test_a_price_registered_by_hand_under_the_lookup_key_is_replaced(world: StripeWorld) -> None:
    apply(world, document())
    ours = world.price_by_lookup_key("cat_1_pro_monthly")
    hand = world.client.v1.prices.create(
        params={
            "product_data": {"name": "by hand"},
            "currency": "usd",
            "unit_amount": 100,
            "recurring": {"interval": "month"},
            "lookup_key": "cat_1_pro_monthly",
            "transfer_lookup_key": True,
        }
    )

    drift = plan(world, document())
    replace = [c for c in drift if isinstance(c, ReplacePrice)]
    assert [(c.old.price_id, c.spec.amount) for c in replace] == [(hand.id, 900)]
    # Ours lost the key but stays active on a catalog product: archived.
    assert ArchivePrice("1", ours.id, "pro_monthly") in drift
    apply(world, document())
    assert world.client.v1.prices.retrieve(hand.id).active is False
    assert world.price_by_lookup_key("cat_1_pro_monthly").unit_amount == 900
    assert plan(world, document()) == []


def test_keys_that_leave_the_catalog_are_archived_and_their_rows_kept(world: StripeWorld) -> None:
    apply(world, document())
    pass_30d = world.price_by_lookup_key("cat_1_pass_30d")
    yearly = world.price_by_lookup_key("cat_1_pro_yearly")
    doc = document()
    products = doc["projects"][0]["products"]
    products[0]["prices"] = [p for p in products[0]["prices"] if p["key"] != "pro_yearly"]
    doc["projects"][0]["products"] = [products[0]]

    expected = [
        ArchivePrice("1", yearly.id, "pro_yearly"),
        ArchivePrice("1", pass_30d.id, "pass_30d"),
        ArchiveProduct("1", "cat_1_passes"),
    ]
    drift = plan(world, doc)
    assert sorted(map(repr, drift)) == sorted(map(repr, expected))
    assert isinstance(drift[-1], ArchiveProduct)  # after its prices
    apply(world, doc)
    assert world.client.v1.prices.retrieve(yearly.id).active is False
    assert world.client.v1.products.retrieve("cat_1_passes").active is False
    assert {yearly.id, pass_30d.id} <= set(rows())  # their buyers keep access
    assert plan(world, doc) == []


def test_a_dropped_trial_is_deleted_from_the_metadata(world: StripeWorld) -> None:
    doc = document()
    apply(world, doc)
    del price_entry(doc, "pro_monthly")["trial_days"]
    monthly = world.price_by_lookup_key("cat_1_pro_monthly")

    assert plan(world, doc) == [UpdatePrice("1", monthly.id, "pro_monthly", {"trial_days": ""})]
    apply(world, doc)
    assert "trial_days" not in world.metadata(world.client.v1.prices.retrieve(monthly.id))


def test_every_page_of_stripe_is_read(world: StripeWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """One object per page and one lookup key per list: nothing is missed, so nothing is made
    twice (a missed page would plan a second create)."""
    from billing_admin.adapters import stripe_catalog

    apply(world, document())
    monkeypatch.setattr(stripe_catalog, "PAGE_SIZE", 1)
    monkeypatch.setattr(stripe_catalog, "LOOKUP_KEYS_PER_LIST", 1)
    state = world.gateway.state("1", ["cat_1_pro_monthly", "cat_1_pro_yearly", "cat_1_pass_30d"])
    assert sorted(p.product_id for p in state.products) == ["cat_1_passes", "cat_1_pro"]
    assert len(state.prices) == 3
    assert ("GET", "/v1/products") in world.http.calls
    assert plan(world, document()) == []


# ---------------------------------------------------------------------- amounts from Stripe
def test_an_older_prices_row_typed_otherwise_than_stripe_bills_is_drift_put_right(
    world: StripeWorld,
) -> None:
    doc = document()
    apply(world, doc)
    old = world.price_by_lookup_key("cat_1_pro_monthly")
    price_entry(doc, "pro_monthly")["amount"] = 1200
    apply(world, doc)
    wiring.price_store().put(Price(old.id, "1", ("pro",), 990, "eur", "month"))  # typed wrong

    (drift,) = plan(world, doc)
    assert isinstance(drift, PutServicePrice)
    assert (drift.price.amount, drift.price.currency) == (900, "usd"), "Stripe's, not typed"
    apply(world, doc)
    assert rows()[old.id] == Price(old.id, "1", ("pro",), 900, "usd", "month")


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (Price("price_x", "1", ("pro",), 1, "usd", "month"), "amount"),
        (Price("price_x", "1", ("pro",), 900, "usd", "year"), "interval"),
        (Price("price_missing", "1", ("pro",), 900, "usd", "month"), "price_id"),
    ],
)
def test_a_row_the_catalog_writes_must_be_what_stripe_bills(
    world: StripeWorld, row: Price, field: str
) -> None:
    """The catalog's writes go through the check of price add: nothing else is stored."""
    world.standin.register_price("price_x", 900, "usd", {"interval": "month"})
    with pytest.raises(ValidationError) as refused:
        service.execute(PutServicePrice(row, None), **stores(world))
    assert refused.value.field == field
    assert row.stripe_price_id not in rows()
