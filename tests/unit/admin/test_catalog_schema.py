"""The catalog file's schema: what it accepts, and errors that name the dotted path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from billing.errors import ValidationError
from billing_admin.domain.catalog import lookup_keys, parse_catalog
from tests.unit.admin.catalog_helpers import document, price_entry

REPO = Path(__file__).resolve().parents[3]


def test_the_demo_catalog_is_valid() -> None:
    catalog = parse_catalog(yaml.safe_load((REPO / "catalog" / "demo.yaml").read_text()))
    (project,) = catalog.projects
    assert project.project_id == "1"
    assert lookup_keys(project) == [
        "cat_1_pro_monthly",
        "cat_1_pro_yearly",
        "cat_1_pro_pass_30d",
        "cat_1_lifetime",
    ]
    monthly = project.products[0].prices[0]
    assert (monthly.amount, monthly.currency, monthly.interval, monthly.features) == (
        900,
        "usd",
        "month",
        ["pro"],
    )


def test_defaults_and_an_integer_project_id() -> None:
    doc = document()
    doc["projects"][0]["project_id"] = 1
    price = price_entry(doc, "pro_yearly")
    catalog = parse_catalog(doc)
    assert catalog.projects[0].project_id == "1"
    assert "interval_count" not in price
    assert catalog.projects[0].products[0].prices[1].interval_count == 1


def _set(key: str, field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        price_entry(doc, key)[field] = value

    return change


def _product(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["projects"][0]["products"][1][field] = value

    return change


def _duplicate_price_key(doc: dict[str, Any]) -> None:
    price_entry(doc, "pass_30d")["key"] = "pro_monthly"


def _duplicate_product_key(doc: dict[str, Any]) -> None:
    doc["projects"][0]["products"][1]["key"] = "pro"


def _second_project_1(doc: dict[str, Any]) -> None:
    doc["projects"].append({"project_id": "1", "products": []})


PRO_MONTHLY = "projects[0].products[0].prices[0]"
PASS = "projects[0].products[1].prices[0]"


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (_set("pass_30d", "amount", 5.0), f"{PASS}.amount", "Input should be a valid integer"),
        (_set("pass_30d", "amount", -1), f"{PASS}.amount", "greater than or equal to 0"),
        (_set("pro_monthly", "currency", "USD"), f"{PRO_MONTHLY}.currency", "should match"),
        (_set("pro_monthly", "interval", "monthly"), f"{PRO_MONTHLY}.interval", "'day', 'week'"),
        (_set("pro_monthly", "key", "Pro Monthly"), f"{PRO_MONTHLY}.key", "should match"),
        (_set("pro_monthly", "features", []), f"{PRO_MONTHLY}.features", "at least 1 item"),
        (_set("pro_monthly", "features", ["PRO"]), f"{PRO_MONTHLY}.features[0]", "should match"),
        (_set("pro_monthly", "features", ["pro", "pro"]), f"{PRO_MONTHLY}.features", "twice"),
        (_set("pro_monthly", "trial_days", 731), f"{PRO_MONTHLY}.trial_days", "730"),
        (_set("pass_30d", "trial_days", 7), f"{PASS}.trial_days", "only recurring prices"),
        (_set("pro_monthly", "access_days", 30), f"{PRO_MONTHLY}.access_days", "only one_time"),
        (_set("pass_30d", "interval_count", 2), f"{PASS}.interval_count", "no interval_count"),
        (_set("pro_monthly", "price", 900), f"{PRO_MONTHLY}.price", "Extra inputs"),
        (_product("prices", []), "projects[0].products[1].prices", "at least 1 item"),
        (_product("name", ""), "projects[0].products[1].name", "at least 1 character"),
        (_duplicate_price_key, f"{PASS}.key", "price key 'pro_monthly' repeats in project 1"),
        (_duplicate_product_key, "projects[0].products[1].key", "product key 'pro' repeats"),
        (_second_project_1, "projects[1].project_id", "project listed twice"),
    ],
)
def test_a_bad_entry_is_named_by_its_path(
    change: Callable[[dict[str, Any]], None], field: str, reason: str
) -> None:
    doc = document()
    change(doc)
    with pytest.raises(ValidationError) as raised:
        parse_catalog(doc)
    assert raised.value.field == field
    assert reason in raised.value.reason


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (None, "catalog"),
        ({"projects": []}, "version"),
        ({"version": 2, "projects": []}, "version"),
        ({"version": 1, "projects": [{"project_id": "0"}]}, "projects[0].project_id"),
        ({"version": 1, "projects": [{"project_id": "1", "apps": []}]}, "projects[0].apps"),
    ],
)
def test_a_bad_document_is_named_too(doc: object, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_catalog(doc)
    assert raised.value.field == field
