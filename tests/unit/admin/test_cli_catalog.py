"""billing-admin catalog plan|apply|check end to end: moto's tables, and the Stripe stand-in in
process where the CLI's target would reach the local one (billing_admin.wiring.stripe_catalog)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from billing import wiring
from billing.services import tenancy
from billing_admin import wiring as admin_wiring
from billing_admin.cli import target
from tests.unit.admin.catalog_helpers import StripeWorld, document, price_entry
from tests.unit.admin.conftest import run_cli as run

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def world(cli: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeWorld]:
    tenancy.create_project(
        wiring.project_store(), name="space_journal", project_id=1, now=datetime.now(UTC)
    )
    stripe_world = StripeWorld()
    monkeypatch.setattr(admin_wiring, "stripe_catalog", lambda: stripe_world.gateway)
    yield stripe_world


def write(tmp_path: Path, doc: dict[str, Any], name: str = "catalog.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def test_plan_lists_the_changes_and_changes_nothing(
    world: StripeWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "catalog", "plan", write(tmp_path, document()))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("5 change(s) to follow ")
    assert "  stripe: create product cat_1_pro ('Space Journal Pro')" in lines
    assert any(
        line.startswith("  stripe: create price cat_1_pro_monthly (900 usd/month on cat_1_pro")
        for line in lines
    )
    assert world.http.writes() == []
    assert wiring.price_store().list("1") == []


def test_apply_then_apply_again_then_check(
    world: StripeWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, document())
    code, out, err = run(capsys, "catalog", "apply", path)
    assert code == 0
    assert out.strip() == f"applied 5 change(s); Stripe and the price table follow {path}"
    progress = err.splitlines()
    assert progress[0] == "[1] stripe: create product cat_1_pro ('Space Journal Pro')"
    assert len(progress) == 5
    assert len(wiring.price_store().list("1")) == 3

    writes = len(world.http.writes())
    code, out, err = run(capsys, "catalog", "apply", path)
    assert (code, out.strip(), err) == (0, f"in sync with {path}: nothing to apply", "")
    assert len(world.http.writes()) == writes

    code, out, _ = run(capsys, "catalog", "check", path)
    assert (code, out.strip()) == (0, f"in sync with {path}")


def test_check_exits_1_naming_drift_made_by_hand(
    world: StripeWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, document())
    run(capsys, "catalog", "apply", path)
    monthly = world.price_by_lookup_key("cat_1_pro_monthly")
    world.client.v1.prices.update(monthly.id, params={"metadata": {"feature_code": "free"}})
    yearly = world.price_by_lookup_key("cat_1_pro_yearly")
    wiring.price_store().remove(yearly.id, "1")

    code, out, _ = run(capsys, "catalog", "check", path)
    assert code == 1
    assert out.splitlines()[0] == f"drift: 2 change(s) needed to follow {path}:"
    assert f"  stripe: update price {monthly.id} (pro_monthly): metadata feature_code='pro'" in out
    assert f"  service: add price {yearly.id} (9000 usd/year, features pro)" in out

    code, out, _ = run(capsys, "catalog", "check", path, "--json")
    report = json.loads(out)
    assert code == 1 and report["in_sync"] is False
    assert [c["action"] for c in report["changes"]] == ["update_price", "put_service_price"]
    assert report["changes"][1]["after"]["feature_codes"] == ["pro"]


def test_a_new_amount_through_the_cli(
    world: StripeWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = document()
    run(capsys, "catalog", "apply", write(tmp_path, doc))
    old = world.price_by_lookup_key("cat_1_pro_monthly")
    price_entry(doc, "pro_monthly")["amount"] = 1200
    path = write(tmp_path, doc)

    code, out, _ = run(capsys, "catalog", "plan", path, "--json")
    (change,) = json.loads(out)["changes"]
    assert (change["action"], change["old_price_id"], change["amount"]) == (
        "replace_price",
        old.id,
        1200,
    )
    code, out, err = run(capsys, "catalog", "apply", path)
    assert code == 0
    assert f"stripe: replace price cat_1_pro_monthly: {old.id} (900 usd/month)" in err
    new = world.price_by_lookup_key("cat_1_pro_monthly")
    prices = {p.stripe_price_id: p for p in wiring.price_store().list("1")}
    assert prices[new.id].amount == 1200 and prices[old.id].amount == 900
    assert run(capsys, "catalog", "check", path)[0] == 0


def test_a_bad_file_exits_2_naming_the_path_and_changes_nothing(
    world: StripeWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = document()
    doc["projects"][0]["products"][1]["prices"][0]["amount"] = "5.00"
    code, out, err = run(capsys, "catalog", "apply", write(tmp_path, doc))
    assert (code, out) == (2, "")
    assert err.strip() == (
        "error: projects[0].products[1].prices[0].amount: Input should be a valid integer"
    )
    assert world.http.calls == []

    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nprojects: [\n")
    code, _, err = run(capsys, "catalog", "check", str(broken))
    assert code == 2 and err.startswith(f"error: file: {broken} is not valid YAML at line")
    code, _, err = run(capsys, "catalog", "plan", str(tmp_path / "missing.yaml"))
    assert code == 2 and "error: file: cannot read" in err


def test_an_unknown_project_exits_1_before_any_change(
    world: StripeWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = document()
    doc["projects"][0]["project_id"] = 7
    code, _, err = run(capsys, "catalog", "apply", write(tmp_path, doc))
    assert (code, err.strip()) == (1, "error: project 7 not found")
    assert world.http.calls == []


def test_the_demo_catalog_applies_and_stays_in_sync(
    world: StripeWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(REPO / "catalog" / "demo.yaml")
    code, out, _ = run(capsys, "catalog", "apply", path, "--json")
    assert code == 0
    assert json.loads(out)["applied"] == 6  # 2 products, 4 prices
    features = {tuple(p.feature_codes) for p in wiring.price_store().list("1")}
    assert features == {("pro",), ("pro", "archive")}
    assert run(capsys, "catalog", "check", path)[0] == 0


# ---------------------------------------------------------------------- which Stripe
@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What connect() sets for the local stack, restored after the test."""
    for name in ("AWS_ENDPOINT_URL_SQS", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, "unchanged")


def test_the_local_target_reaches_the_local_stand_in(local_env: None) -> None:
    settings = target.connect(None, None)
    assert settings.stripe_api_base == target.LocalTarget().stripe_standin_url
    assert settings.stripe_secret_key is not None
    assert settings.stripe_secret_key.get_secret_value() == "sk_test_local_standin"


def test_a_stripe_key_in_the_environment_wins_locally(
    local_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_mine")
    settings = target.connect(None, None)
    assert settings.stripe_api_base == "https://api.stripe.com"
    assert settings.stripe_secret_key is not None
    assert settings.stripe_secret_key.get_secret_value() == "sk_test_mine"
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:9999")
    assert target.connect(None, None).stripe_api_base == "http://127.0.0.1:9999"


def test_a_stack_uses_its_own_stripe_parameter(
    local_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing_admin.adapters import cloudformation

    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_from_my_shell")

    def described(stack: str, region: str | None) -> tuple[dict[str, str], dict[str, str]]:
        assert (stack, region) == ("billing-prod", "eu-west-1")
        outputs = {"PricesTableName": "billing-prod-PricesTable"}
        parameters = {
            "StripeSecretKeyParameterName": "billing/stripe-secret-key",
            "StripeApiBase": "https://api.stripe.com",
        }
        return outputs, parameters

    monkeypatch.setattr(cloudformation, "stack_outputs_and_parameters", described)
    settings = target.connect("billing-prod", "eu-west-1")
    assert settings.stripe_secret_key is None
    assert settings.stripe_secret_key_parameter == "/billing/stripe-secret-key"
    assert settings.prices_table_name == "billing-prod-PricesTable"
    assert settings.aws_region == "eu-west-1"
