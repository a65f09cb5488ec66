"""Projects, apps and prices through the services, on moto tables built from the template."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from billing import wiring
from billing.domain.tenancy import Price
from billing.errors import ConflictError, NotFoundError, UnauthorizedError, ValidationError
from billing.services import tenancy
from billing.services.authorization import authorize_api_key

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PRICE = Price(
    stripe_price_id="price_123",
    project_id="1",
    feature_codes=("pro",),
    amount=900,
    currency="usd",
    interval="month",
)


@pytest.fixture
def project(aws: dict[str, str]) -> str:
    return tenancy.create_project(wiring.project_store(), name="space_journal", now=NOW).project_id


def new_app(project_id: str, **options: object) -> tenancy.IssuedKey:
    return tenancy.create_app(
        wiring.project_store(),
        wiring.app_store(),
        project_id=project_id,
        name="backend",
        now=NOW,
        **options,  # type: ignore[arg-type]
    )


def allowed(key: str, at: datetime = NOW) -> bool:
    try:
        authorize_api_key(key, wiring.api_key_store(), at)
    except UnauthorizedError:
        return False
    return True


def every_item() -> str:
    """Every item of every table, as text (to look for clear-text keys)."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    return repr(
        [client.scan(TableName=name)["Items"] for name in client.list_tables()["TableNames"]]
    )


def test_projects_get_the_next_id_or_the_one_asked_for(aws: dict[str, str]) -> None:
    store = wiring.project_store()
    assert tenancy.create_project(store, name="a", now=NOW).project_id == "1"
    assert tenancy.create_project(store, name="b", now=NOW).project_id == "2"
    assert tenancy.create_project(store, name="c", project_id=7, now=NOW).project_id == "7"
    with pytest.raises(ConflictError, match="project 7 already exists"):
        tenancy.create_project(store, name="d", project_id="7", now=NOW)
    assert [p.project_id for p in store.list()] == ["1", "2", "7"]


def test_an_id_taken_by_hand_is_skipped(aws: dict[str, str]) -> None:
    store = wiring.project_store()
    tenancy.create_project(store, name="by_hand", project_id=1, now=NOW)
    assert tenancy.create_project(store, name="next", now=NOW).project_id == "2"


def test_a_project_keeps_its_origins_and_grace_period(project: str) -> None:
    store = wiring.project_store()
    tenancy.update_project(
        store,
        project,
        allowed_origins=("https://app.example.com/x",),
        grace_period_days=5,
        now=NOW,
    )
    shown = tenancy.get_project(store, int(project))
    assert shown.allowed_origins == ("https://app.example.com",)
    assert shown.grace_period_days == 5
    assert shown.name == "space_journal"


def test_bad_input_changes_nothing(project: str) -> None:
    store = wiring.project_store()
    with pytest.raises(ValidationError, match="allowed_origins"):
        tenancy.update_project(store, project, allowed_origins=("ftp://x",), now=NOW)
    with pytest.raises(ValidationError, match="name"):
        tenancy.create_project(store, name="", now=NOW)
    assert tenancy.get_project(store, project).allowed_origins == ()
    assert [p.project_id for p in store.list()] == [project]


def test_a_generated_key_is_shown_once_and_stored_only_as_a_hash(project: str) -> None:
    issued = new_app(project, scopes=["entitlements"])
    assert issued.api_key is not None
    grant = authorize_api_key(issued.api_key, wiring.api_key_store(), NOW)
    assert (grant.project_id, grant.app_id, grant.scopes) == (
        project,
        issued.app.app_id,
        frozenset({"entitlements"}),
    )
    assert issued.api_key not in every_item()


def test_an_imported_key_keeps_working_and_is_stored_only_as_a_hash(project: str) -> None:
    issued = new_app(project, imported_key="sk_demo_space_journal")
    assert issued.api_key is None
    assert allowed("sk_demo_space_journal")
    assert "sk_demo_space_journal" not in every_item()
    with pytest.raises(ConflictError, match="already registered"):
        new_app(project, imported_key="sk_demo_space_journal")


def test_an_app_needs_an_existing_project(aws: dict[str, str]) -> None:
    with pytest.raises(NotFoundError, match="project 9"):
        new_app("9")


def test_rotation_keeps_the_old_key_during_the_overlap_only(project: str) -> None:
    old = new_app(project)
    assert old.api_key is not None
    rotation = tenancy.rotate_app_key(
        wiring.app_store(), old.app.app_id, overlap=timedelta(hours=1), now=NOW
    )
    assert rotation.old_keys == 1
    assert allowed(old.api_key, NOW + timedelta(minutes=59))
    assert not allowed(old.api_key, NOW + timedelta(hours=1))
    assert allowed(rotation.api_key, NOW + timedelta(days=365))
    assert rotation.api_key not in every_item()


def test_a_second_rotation_does_not_extend_an_earlier_overlap(project: str) -> None:
    first = new_app(project)
    assert first.api_key is not None
    apps = wiring.app_store()
    tenancy.rotate_app_key(apps, first.app.app_id, overlap=timedelta(hours=1), now=NOW)
    tenancy.rotate_app_key(apps, first.app.app_id, overlap=timedelta(days=2), now=NOW)
    assert not allowed(first.api_key, NOW + timedelta(hours=2))


def test_deactivation_refuses_every_key_of_the_app(project: str) -> None:
    first = new_app(project)
    other = new_app(project)
    rotation = tenancy.rotate_app_key(
        wiring.app_store(), first.app.app_id, overlap=timedelta(hours=1), now=NOW
    )
    tenancy.deactivate_app(wiring.app_store(), first.app.app_id)
    assert first.api_key is not None and other.api_key is not None
    assert not allowed(first.api_key)
    assert not allowed(rotation.api_key)
    assert allowed(other.api_key)
    with pytest.raises(ValidationError, match="deactivated"):
        tenancy.rotate_app_key(wiring.app_store(), first.app.app_id, overlap=timedelta(0), now=NOW)


def test_apps_are_listed_with_key_prefixes_only(project: str) -> None:
    issued = new_app(project)
    ((app, keys),) = tenancy.list_apps(wiring.project_store(), wiring.app_store(), project)
    assert app.app_id == issued.app.app_id
    assert [k.key_prefix for k in keys] == [issued.key_prefix]
    assert len(issued.key_prefix) == 8


def test_prices_map_to_features_of_their_project(project: str) -> None:
    projects, prices = wiring.project_store(), wiring.price_store()
    tenancy.add_price(projects, prices, PRICE)
    assert tenancy.list_prices(projects, prices, project) == [PRICE]
    other = tenancy.create_project(projects, name="other", now=NOW).project_id
    with pytest.raises(ConflictError, match="another project"):
        tenancy.add_price(projects, prices, Price(**{**PRICE.__dict__, "project_id": other}))
    with pytest.raises(NotFoundError):
        tenancy.remove_price(prices, other, "price_123")
    tenancy.remove_price(prices, project, "price_123")
    assert tenancy.list_prices(projects, prices, project) == []
