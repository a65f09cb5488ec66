"""DynamoDB stores of projects, apps (with their keys) and prices."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import cast

from pynamodb.exceptions import DeleteError, TransactWriteError
from pynamodb.expressions.condition import Condition

from billing.adapters.dynamo.errors import (
    dynamo_errors,
    get_or_none,
    is_conditional_check_failure,
    save_if,
)
from billing.adapters.dynamo.models import (
    APP_RECORD_PREFIX,
    PROJECT_ID_COUNTER_KEY,
    ApiKeyModel,
    ApiKeysByProject,
    FeatureLimitAttribute,
    PriceModel,
    ProjectIdCounter,
    ProjectModel,
    transaction,
)
from billing.domain.allowances import FeatureLimit, parse_reset
from billing.domain.tenancy import ApiKeyInfo, App, Interval, Price, Project
from billing.errors import ConflictError, NotFoundError

# DynamoDB takes at most 100 items in one transaction.
MAX_TRANSACTION_ITEMS = 100


def _project(item: ProjectModel) -> Project:
    return Project(
        project_id=item.project_id,
        name=item.name,
        allowed_origins=tuple(str(origin) for origin in item.allowed_origins or ()),
        grace_period_days=int(item.grace_period_days),
        created_at=item.created_at,
    )


class DynamoProjectStore:
    def allocate_id(self) -> str:
        counter = ProjectIdCounter(PROJECT_ID_COUNTER_KEY)
        with dynamo_errors("UpdateItem project counter"):
            counter.update(actions=[ProjectIdCounter.last_id.add(1)])
        return str(int(counter.last_id))

    def create(self, project: Project) -> None:
        item = ProjectModel(
            project.project_id,
            name=project.name,
            allowed_origins=list(project.allowed_origins),
            grace_period_days=project.grace_period_days,
            created_at=project.created_at,
            updated_at=project.created_at,
        )
        if not save_if(item, ProjectModel.project_id.does_not_exist(), operation="PutItem project"):
            raise ConflictError("project_id", f"project {project.project_id} already exists")

    def get(self, project_id: str) -> Project | None:
        item = get_or_none(ProjectModel, project_id, operation="GetItem project")
        return _project(item) if item else None

    def list(self) -> list[Project]:
        """Every project, by id. A Scan: this serves the admin CLI, never a request."""
        with dynamo_errors("Scan projects"):
            items = [
                item
                for item in ProjectModel.scan(ProjectModel.name.exists())
                if item.project_id != PROJECT_ID_COUNTER_KEY
            ]
        return sorted((_project(i) for i in items), key=lambda p: int(p.project_id))

    def replace(self, project: Project, now: datetime) -> None:
        item = ProjectModel(
            project.project_id,
            name=project.name,
            allowed_origins=list(project.allowed_origins),
            grace_period_days=project.grace_period_days,
            created_at=project.created_at,
            updated_at=now,
        )
        if not save_if(item, ProjectModel.project_id.exists(), operation="PutItem project"):
            raise NotFoundError(f"project {project.project_id} not found")


def _api_key_item(
    key_hash: str, app: App, *, record_type: str, key_prefix: str | None = None
) -> ApiKeyModel:
    """An app record or a key item: both carry the app's state (the authorizer reads keys)."""
    return ApiKeyModel(
        key_hash,
        record_type=record_type,
        key_prefix=key_prefix,
        project_id=app.project_id,
        app_id=app.app_id,
        app_name=app.name,
        active=app.active,
        scopes=set(app.scopes),
        created_at=app.created_at,
    )


def _app(item: ApiKeyModel) -> App:
    return App(
        app_id=item.app_id,
        project_id=item.project_id,
        name=item.app_name or "",
        active=bool(item.active),
        scopes=frozenset(item.scopes or ()),
        created_at=item.created_at,
    )


class DynamoAppStore:
    def create(self, app: App, key_hash: str, key_prefix: str) -> None:
        record = _api_key_item(APP_RECORD_PREFIX + app.app_id, app, record_type="app")
        key = _api_key_item(key_hash, app, record_type="key", key_prefix=key_prefix)
        try:
            with dynamo_errors("TransactWriteItems app"), transaction() as write:
                write.save(record, condition=ApiKeyModel.key_hash.does_not_exist())
                write.save(key, condition=ApiKeyModel.key_hash.does_not_exist())
        except TransactWriteError as exc:
            if is_conditional_check_failure(exc):
                raise ConflictError("key", "this key is already registered") from None
            raise

    def get(self, app_id: str) -> App | None:
        item = get_or_none(ApiKeyModel, APP_RECORD_PREFIX + app_id, operation="GetItem app")
        return _app(item) if item else None

    def _items_of(self, project_id: str, app_id: str | None = None) -> list[ApiKeyModel]:
        condition = cast(Condition, ApiKeysByProject.app_id == app_id) if app_id else None
        with dynamo_errors("Query apps"):
            return list(ApiKeyModel.by_project.query(project_id, condition))

    def list(self, project_id: str) -> list[tuple[App, list[ApiKeyInfo]]]:
        items = self._items_of(project_id)
        apps = {i.app_id: _app(i) for i in items if i.record_type == "app"}
        keys: dict[str, list[ApiKeyInfo]] = {app_id: [] for app_id in apps}
        for item in items:
            if item.record_type == "key" and item.app_id in keys:
                keys[item.app_id].append(
                    ApiKeyInfo(
                        key_prefix=item.key_prefix or "",
                        active=bool(item.active),
                        expires_at=item.expires_at,
                        created_at=item.created_at,
                    )
                )
        return [(apps[app_id], keys[app_id]) for app_id in sorted(apps)]

    def rotate(
        self, app: App, new_key_hash: str, new_key_prefix: str, old_keys_expire_at: datetime
    ) -> int:
        old_keys = [
            item
            for item in self._items_of(app.project_id, app.app_id)
            if item.record_type == "key"
            and (item.expires_at is None or item.expires_at > old_keys_expire_at)
        ]
        if len(old_keys) + 1 > MAX_TRANSACTION_ITEMS:
            raise ConflictError("app_id", "too many live keys to rotate at once")
        new_key = _api_key_item(new_key_hash, app, record_type="key", key_prefix=new_key_prefix)
        with dynamo_errors("TransactWriteItems rotate"), transaction() as write:
            write.save(new_key, condition=ApiKeyModel.key_hash.does_not_exist())
            for item in old_keys:
                write.update(
                    item,
                    actions=[ApiKeyModel.expires_at.set(old_keys_expire_at)],
                    condition=ApiKeyModel.key_hash.exists(),
                )
        return len(old_keys)

    def deactivate(self, app: App) -> None:
        items = self._items_of(app.project_id, app.app_id)
        if len(items) > MAX_TRANSACTION_ITEMS:
            raise ConflictError("app_id", "too many keys to deactivate in one transaction")
        with dynamo_errors("TransactWriteItems deactivate"), transaction() as write:
            for item in items:
                write.update(
                    item,
                    actions=[ApiKeyModel.active.set(False)],
                    condition=ApiKeyModel.key_hash.exists(),
                )


def feature_limits_from_items(
    items: Iterable[FeatureLimitAttribute] | None,
) -> tuple[FeatureLimit, ...]:
    """A price row's limits (a row written before limits existed has none)."""
    return tuple(
        FeatureLimit(
            feature_code=item.feature_code,
            limit=int(item.limit),
            reset=parse_reset(item.reset),
            meter=item.meter,
        )
        for item in items or ()
    )


def _price(item: PriceModel) -> Price:
    return Price(
        stripe_price_id=item.stripe_price_id,
        project_id=item.project_id,
        feature_codes=tuple(str(code) for code in item.feature_codes or ()),
        amount=int(item.amount),
        currency=item.currency,
        interval=cast(Interval, item.interval),
        interval_count=int(item.interval_count),
        access_days=int(item.access_days) if item.access_days is not None else None,
        limits=feature_limits_from_items(item.feature_limits),
    )


class DynamoPriceStore:
    def put(self, price: Price) -> None:
        item = PriceModel(
            price.stripe_price_id,
            project_id=price.project_id,
            feature_codes=list(price.feature_codes),
            amount=price.amount,
            currency=price.currency,
            interval=price.interval,
            interval_count=price.interval_count,
            access_days=price.access_days,
            feature_limits=[
                FeatureLimitAttribute(  # type: ignore[no-untyped-call]
                    feature_code=limit.feature_code,
                    limit=limit.limit,
                    reset=limit.reset,
                    meter=limit.meter,
                )
                for limit in price.limits
            ]
            or None,
        )
        same_project = PriceModel.stripe_price_id.does_not_exist() | (
            PriceModel.project_id == price.project_id
        )
        if not save_if(item, same_project, operation="PutItem price"):
            raise ConflictError("price_id", f"{price.stripe_price_id} belongs to another project")

    def get(self, stripe_price_id: str) -> Price | None:
        item = get_or_none(PriceModel, stripe_price_id, operation="GetItem price")
        return _price(item) if item else None

    def list(self, project_id: str) -> list[Price]:
        with dynamo_errors("Query prices"):
            return [_price(item) for item in PriceModel.by_project.query(project_id)]

    def remove(self, stripe_price_id: str, project_id: str) -> None:
        try:
            with dynamo_errors("DeleteItem price"):
                PriceModel(stripe_price_id).delete(condition=PriceModel.project_id == project_id)
        except DeleteError as exc:
            if is_conditional_check_failure(exc):
                raise NotFoundError(
                    f"project {project_id} has no price {stripe_price_id}"
                ) from None
            raise
