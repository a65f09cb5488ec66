"""The plan as a pure function of (catalog, what Stripe holds, the price table)."""

from __future__ import annotations

from billing.domain.allowances import FeatureLimit
from billing.domain.tenancy import Price
from billing.errors import ValidationError
from billing_admin.domain.catalog import (
    CatalogProject,
    CreatePrice,
    PriceSpec,
    PutServicePrice,
    StripeCatalogState,
    StripePrice,
    StripeProduct,
    is_catalog_product,
    parse_catalog,
    plan_project,
    price_specs,
)
from tests.unit.admin.catalog_helpers import document


def project() -> CatalogProject:
    return parse_catalog(document()).projects[0]


def meta(product_key: str) -> dict[str, str]:
    return {"project_id": "1", "catalog_key": product_key}


def in_sync() -> tuple[StripeCatalogState, list[Price]]:
    """What Stripe and the table hold right after an apply of the test document."""
    products = (
        StripeProduct("cat_1_pro", "Space Journal Pro", "Unlimited journals", True, meta("pro")),
        StripeProduct("cat_1_passes", "Passes", None, True, meta("passes")),
    )
    specs = price_specs(project())
    prices = tuple(stripe_price(spec, f"price_{spec.catalog_key}") for spec in specs)
    return StripeCatalogState(products, prices), [
        spec.service_row(f"price_{spec.catalog_key}") for spec in specs
    ]


def stripe_price(spec: PriceSpec, price_id: str, **changes: object) -> StripePrice:
    fields: dict[str, object] = {
        "price_id": price_id,
        "product_id": spec.product_id,
        "active": True,
        "lookup_key": spec.lookup_key,
        "amount": spec.amount,
        "currency": spec.currency,
        "interval": spec.interval,
        "interval_count": spec.interval_count,
        "metadata": spec.metadata,
        **changes,
    }
    return StripePrice(**fields)  # type: ignore[arg-type]


def test_in_sync_is_an_empty_plan() -> None:
    state, rows = in_sync()
    assert plan_project(project(), state, rows) == []


def test_what_the_catalog_does_not_own_is_left_alone() -> None:
    state, rows = in_sync()
    monthly = price_specs(project())[0]
    foreign = (
        # the seed's hand-registered price, on a product outside the catalog
        StripePrice("price_123", "prod_seed", True, None, 900, "usd", "month"),
        # an archived price whose key left the catalog, with another feature list
        stripe_price(
            monthly,
            "price_gone",
            active=False,
            lookup_key=None,
            metadata={"project_id": "1", "catalog_key": "gone", "feature_code": "old"},
        ),
    )
    state = StripeCatalogState(state.products, state.prices + foreign)
    rows = [*rows, Price("price_123", "1", ("pro",), 900, "usd", "month")]
    assert plan_project(project(), state, rows) == []


def test_an_archived_price_of_a_catalog_key_follows_its_features() -> None:
    state, rows = in_sync()
    monthly = price_specs(project())[0]
    archived = stripe_price(
        monthly,
        "price_before",
        active=False,
        lookup_key=None,
        amount=700,
        metadata={**monthly.metadata, "feature_code": "basic"},
    )
    state = StripeCatalogState(state.products, (*state.prices, archived))
    old_row = Price("price_before", "1", ("basic",), 700, "usd", "month")
    changes = plan_project(project(), state, [*rows, old_row])
    assert [c.describe() for c in changes] == [
        "stripe: update price price_before (pro_monthly): metadata feature_code='pro'",
        "service: update price price_before (700 usd/month, features pro)",
    ]


def test_a_reverted_amount_gets_a_new_idempotency_key() -> None:
    """Stripe replays a repeated key's first answer: the key must change with the history."""
    empty = plan_project(project(), StripeCatalogState(), [])
    monthly = price_specs(project())[0]
    archived = stripe_price(monthly, "price_first", active=False, lookup_key=None)
    again = plan_project(project(), StripeCatalogState(prices=(archived,)), [])
    first = next(c for c in empty if isinstance(c, CreatePrice))
    second = next(c for c in again if isinstance(c, CreatePrice))
    assert first.spec == second.spec
    assert first.idempotency_key != second.idempotency_key
    assert (
        first.idempotency_key
        == next(
            c
            for c in plan_project(project(), StripeCatalogState(), [])
            if isinstance(c, CreatePrice)
        ).idempotency_key
    )


def test_product_namespaces_never_overlap_between_projects() -> None:
    assert is_catalog_product("cat_1_pro", "1")
    assert is_catalog_product("cat_1_2_x", "1")
    assert not is_catalog_product("cat_12_pro", "1")
    assert not is_catalog_product("cat_1_pro", "12")
    assert not is_catalog_product("prod_cat_1_pro", "1")


def test_a_limit_in_the_catalog_changes_only_the_service_rows_of_its_key() -> None:
    """Limits live in the price table, not in Stripe: a feature added with a limit changes the
    feature codes (Stripe's metadata), and the limit goes into the rows of the key, the
    current price's and an archived one's alike."""
    state, rows = in_sync()
    monthly = price_specs(project())[0]
    archived = stripe_price(monthly, "price_before", active=False, lookup_key=None, amount=700)
    state = StripeCatalogState(state.products, (*state.prices, archived))
    old_row = Price("price_before", "1", ("pro",), 700, "usd", "month")
    limited = document()
    prices = limited["projects"][0]["products"][0]["prices"]
    prices[0]["features"] = [
        "pro",
        {"code": "api_calls", "limit": 50000, "reset": "billing_period", "meter": "api_requests"},
    ]
    changes = plan_project(parse_catalog(limited).projects[0], state, [*rows, old_row])
    limit = "api_calls limit 50000 per billing_period meter api_requests"
    assert [c.describe() for c in changes] == [
        "stripe: update price price_pro_monthly (pro_monthly): metadata "
        "feature_code='pro,api_calls'",
        "stripe: update price price_before (pro_monthly): metadata feature_code='pro,api_calls'",
        f"service: update price price_pro_monthly (900 usd/month, features pro,api_calls, {limit})",
        f"service: update price price_before (700 usd/month, features pro,api_calls, {limit})",
    ]
    put = [c for c in changes if isinstance(c, PutServicePrice)]
    assert {c.price.stripe_price_id for c in put} == {"price_pro_monthly", "price_before"}
    for change in put:
        assert change.price.limits == (
            FeatureLimit("api_calls", 50_000, "billing_period", "api_requests"),
        )
        assert change.price.feature_codes == ("pro", "api_calls")


def test_a_limit_that_cannot_be_is_refused_naming_the_feature() -> None:
    bad = document()
    passes = bad["projects"][0]["products"][1]["prices"][0]
    passes["features"] = [{"code": "archive", "limit": 3, "reset": "billing_period"}]
    try:
        parse_catalog(bad)
    except ValidationError as refused:
        assert refused.field == "projects[0].products[1].prices[0].features"
        assert "billing_period needs a recurring price" in refused.reason
    else:
        raise AssertionError("a one_time price with a billing_period reset was taken")
