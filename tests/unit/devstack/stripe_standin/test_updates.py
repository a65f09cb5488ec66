"""Catalog updates through the real SDK: ``POST /v1/products/{id}`` and ``POST /v1/prices/{id}``
(only what Stripe lets change), their events, and the list filters a catalog sync reads."""

from __future__ import annotations

from typing import Any, cast

import pytest
import stripe
from stripe.params import PriceCreateParams

from tests.unit.devstack.stripe_standin.conftest import SUCCESS_URL, Harness


def monthly(product: str, amount: int = 900, **extra: Any) -> PriceCreateParams:
    params: dict[str, Any] = {
        "product": product,
        "unit_amount": amount,
        "currency": "usd",
        "recurring": {"interval": "month", "interval_count": 1},
        **extra,
    }
    return cast(PriceCreateParams, params)


def events_of(harness: Harness, event_type: str) -> list[dict[str, Any]]:
    return [event for event in harness.standin.emitted() if event["type"] == event_type]


def error_of(excinfo: pytest.ExceptionInfo[stripe.StripeError]) -> tuple[int | None, Any, Any]:
    error = excinfo.value.error
    assert error is not None
    return excinfo.value.http_status, error.code, error.param


# ------------------------------------------------------------------ products
def test_a_product_is_created_and_updated_through_the_sdk(
    client: stripe.StripeClient, harness: Harness
) -> None:
    created = client.v1.products.create(
        params={
            "id": "prod_team",
            "name": "Team",
            "description": "For teams",
            "active": True,
            "metadata": {"tier": "2", "legacy": "yes"},
        }
    )
    assert (created.id, created.name, created.description) == ("prod_team", "Team", "For teams")
    harness.clock.now += 60
    updated = client.v1.products.update(
        "prod_team",
        params={
            "name": "Team plan",
            "description": "",
            "active": False,
            "metadata": {"legacy": "", "seats": "10"},
        },
    )
    assert (updated.name, updated.description, updated.active) == ("Team plan", None, False)
    assert updated.metadata.to_dict() == {"tier": "2", "seats": "10"}
    assert updated.updated == created.updated + 60
    [event] = events_of(harness, "product.updated")
    assert event["data"]["object"]["name"] == "Team plan"
    assert event["data"]["previous_attributes"] == {
        "name": "Team",
        "description": "For teams",
        "active": True,
        "metadata": {"tier": "2", "legacy": "yes"},
        "updated": created.updated,
    }
    assert harness.deliver()[-1] == "product.updated"


def test_a_product_update_that_changes_nothing_emits_nothing(
    client: stripe.StripeClient, harness: Harness
) -> None:
    client.v1.products.create(params={"id": "prod_same", "name": "Same"})
    client.v1.products.update("prod_same", params={"name": "Same", "metadata": {"gone": ""}})
    assert events_of(harness, "product.updated") == []


def test_updating_an_unknown_product_is_404(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.products.update("prod_nope", params={"name": "x"})
    assert error_of(excinfo) == (404, "resource_missing", None)
    assert "No such product: 'prod_nope'" in str(excinfo.value)


def test_a_product_takes_one_of_its_prices_as_default(
    client: stripe.StripeClient, harness: Harness
) -> None:
    client.v1.products.create(params={"id": "prod_team", "name": "Team"})
    price = client.v1.prices.create(params=monthly("prod_team"))
    product = client.v1.products.update(
        "prod_team", params={"default_price": price.id, "expand": ["default_price"]}
    )
    assert isinstance(product.default_price, stripe.Price)
    assert product.default_price.id == price.id
    assert client.v1.products.retrieve("prod_team").default_price == price.id
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.products.update("prod_team", params={"default_price": "price_once"})
    assert error_of(excinfo) == (400, None, "default_price")
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.products.update("prod_team", params={"default_price": "price_nope"})
    assert error_of(excinfo) == (400, "resource_missing", "default_price")


def test_an_unsupported_product_parameter_is_refused(harness: Harness) -> None:
    status, _, answer = harness.call("POST", "/v1/products/prod_123", "id=prod_other")
    assert (status, answer["error"]["code"], answer["error"]["param"]) == (
        400,
        "parameter_unknown",
        "id",
    )
    status, _, answer = harness.call("POST", "/v1/products/prod_123", "name=")
    assert (status, answer["error"]["param"]) == (400, "name")


def test_products_list_by_active_and_ids(client: stripe.StripeClient) -> None:
    client.v1.products.create(params={"id": "prod_a", "name": "A"})
    client.v1.products.create(params={"id": "prod_b", "name": "B", "active": False})
    client.v1.products.create(params={"id": "prod_c", "name": "C"})
    chosen = client.v1.products.list(params={"ids": ["prod_a", "prod_b"]})
    assert [p.id for p in chosen.data] == ["prod_b", "prod_a"]
    active = client.v1.products.list(params={"ids": ["prod_a", "prod_b"], "active": True})
    assert [p.id for p in active.data] == ["prod_a"]
    archived = client.v1.products.list(params={"active": False})
    assert [p.id for p in archived.data] == ["prod_b"]


# ------------------------------------------------------------------ prices
def test_a_price_is_created_with_every_catalog_field(client: stripe.StripeClient) -> None:
    client.v1.products.create(params={"id": "prod_team", "name": "Team"})
    price = client.v1.prices.create(
        params=monthly(
            "prod_team",
            4800,
            recurring={"interval": "year", "interval_count": 2},
            metadata={"plan": "team"},
            lookup_key="team_biennial",
            nickname="Team, every two years",
        )
    )
    assert (price.product, price.unit_amount, price.currency, price.type) == (
        "prod_team",
        4800,
        "usd",
        "recurring",
    )
    assert price.recurring is not None
    assert (price.recurring.interval, price.recurring.interval_count) == ("year", 2)
    assert (price.metadata.to_dict(), price.lookup_key, price.nickname) == (
        {"plan": "team"},
        "team_biennial",
        "Team, every two years",
    )


def test_an_archived_price_leaves_the_active_list(
    client: stripe.StripeClient, harness: Harness
) -> None:
    client.v1.products.create(params={"id": "prod_team", "name": "Team"})
    old = client.v1.prices.create(params=monthly("prod_team", 900))
    new = client.v1.prices.create(params=monthly("prod_team", 1200))
    archived = client.v1.prices.update(old.id, params={"active": False})
    assert archived.active is False
    active = client.v1.prices.list(params={"product": "prod_team", "active": True})
    assert [p.id for p in active.data] == [new.id]
    inactive = client.v1.prices.list(params={"product": "prod_team", "active": False})
    assert [p.id for p in inactive.data] == [old.id]
    [event] = events_of(harness, "price.updated")
    assert event["data"]["object"]["id"] == old.id
    assert event["data"]["previous_attributes"] == {"active": True}
    assert client.v1.prices.update(old.id, params={"active": True}).active is True


def test_price_metadata_is_merged_and_an_empty_value_removes_a_key(
    client: stripe.StripeClient, harness: Harness
) -> None:
    price = client.v1.prices.create(
        params=monthly("prod_123", metadata={"plan": "pro", "legacy": "yes"})
    )
    updated = client.v1.prices.update(
        price.id, params={"metadata": {"legacy": "", "seats": "5"}, "nickname": "Pro"}
    )
    assert updated.metadata.to_dict() == {"plan": "pro", "seats": "5"}
    assert updated.nickname == "Pro"
    [event] = events_of(harness, "price.updated")
    assert event["data"]["previous_attributes"] == {
        "metadata": {"plan": "pro", "legacy": "yes"},
        "nickname": None,
    }
    status, _, cleared = harness.call("POST", f"/v1/prices/{price.id}", "metadata=")
    assert (status, cleared["metadata"]) == (200, {})


def test_a_lookup_key_moves_only_with_transfer_lookup_key(
    client: stripe.StripeClient, harness: Harness
) -> None:
    old = client.v1.prices.create(params=monthly("prod_123", lookup_key="pro_monthly"))
    new = client.v1.prices.create(params=monthly("prod_123", 1100))
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.prices.update(new.id, params={"lookup_key": "pro_monthly"})
    assert error_of(excinfo) == (400, None, "lookup_key")
    assert f"`{old.id}`" in str(excinfo.value)
    assert client.v1.prices.retrieve(new.id).lookup_key is None
    moved = client.v1.prices.update(
        new.id, params={"lookup_key": "pro_monthly", "transfer_lookup_key": True}
    )
    assert moved.lookup_key == "pro_monthly"
    assert client.v1.prices.retrieve(old.id).lookup_key is None
    found = client.v1.prices.list(params={"lookup_keys": ["pro_monthly"]})
    assert [p.id for p in found.data] == [new.id]
    # its own key again: nothing to transfer, nothing changes
    client.v1.prices.update(new.id, params={"lookup_key": "pro_monthly"})
    assert [e["data"]["object"]["id"] for e in events_of(harness, "price.updated")] == [new.id]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"unit_amount": 1000}, "unit_amount"),
        ({"currency": "eur"}, "currency"),
        ({"recurring": {"interval": "year"}}, "recurring"),
        ({"product": "prod_123"}, "product"),
        ({"active": True, "unit_amount": 1000}, "unit_amount"),
    ],
)
def test_a_price_amount_currency_or_interval_cannot_be_updated(
    client: stripe.StripeClient, harness: Harness, params: dict[str, Any], param: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.prices.update("price_123", params=cast(Any, params))
    assert error_of(excinfo) == (400, "parameter_unknown", param)
    assert f"Received unknown parameter: {param}" in str(excinfo.value)
    price = client.v1.prices.retrieve("price_123")
    assert (price.unit_amount, price.currency, price.active) == (900, "usd", True)
    assert events_of(harness, "price.updated") == []


def test_updating_an_unknown_price_is_404(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.prices.update("price_nope", params={"active": False})
    assert error_of(excinfo) == (404, "resource_missing", None)


# ------------------------------------------------------------------ checkout
def test_checkout_refuses_an_archived_price(client: stripe.StripeClient) -> None:
    client.v1.prices.update("price_123", params={"active": False})
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "line_items": [{"price": "price_123", "quantity": 1}],
                "success_url": SUCCESS_URL,
            }
        )
    assert error_of(excinfo) == (400, None, "line_items[0][price]")
    assert "The price specified is inactive" in str(excinfo.value)
