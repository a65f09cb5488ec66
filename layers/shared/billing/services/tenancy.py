"""Set up and change tenancy: projects, apps with their API keys, and prices.

These replace the old service's hand-written SQL. Every change validates first and writes
nothing on bad input; a new key is returned once, here, and only its hash is stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from billing.domain.api_keys import (
    generate_api_key,
    hash_api_key,
    key_prefix,
    parse_scopes,
    validate_importable_key,
)
from billing.domain.ids import normalize_project_id
from billing.domain.tenancy import (
    DEFAULT_GRACE_PERIOD_DAYS,
    ApiKeyInfo,
    App,
    Price,
    Project,
    normalize_origins,
    validate_grace_period_days,
    validate_name,
    validate_price,
)
from billing.errors import ConflictError, NotFoundError, ValidationError
from billing.ports.tenancy import AppStore, PriceStore, ProjectStore

MAX_ROTATION_OVERLAP = timedelta(days=30)
MAX_ID_ATTEMPTS = 20


@dataclass(frozen=True)
class IssuedKey:
    """An app and the key just issued for it. ``api_key`` is None for an imported key
    (its owner already has it); otherwise it is shown once and never again."""

    app: App
    api_key: str | None
    key_prefix: str


@dataclass(frozen=True)
class Rotation:
    app: App
    api_key: str
    old_keys: int
    old_keys_expire_at: datetime


def create_project(
    projects: ProjectStore,
    *,
    name: str,
    now: datetime,
    project_id: object | None = None,
    allowed_origins: tuple[str, ...] = (),
    grace_period_days: int = DEFAULT_GRACE_PERIOD_DAYS,
) -> Project:
    project = Project(
        project_id=normalize_project_id(project_id) if project_id is not None else "",
        name=validate_name(name),
        allowed_origins=normalize_origins(allowed_origins),
        grace_period_days=validate_grace_period_days(grace_period_days),
        created_at=now,
    )
    if project.project_id:
        projects.create(project)
        return project
    # An id taken by hand (--id) is skipped: the counter only ever moves forward.
    for _ in range(MAX_ID_ATTEMPTS):
        candidate = replace(project, project_id=projects.allocate_id())
        try:
            projects.create(candidate)
        except ConflictError:
            continue
        return candidate
    raise ConflictError("project_id", f"no free id after {MAX_ID_ATTEMPTS} attempts")


def get_project(projects: ProjectStore, project_id: object) -> Project:
    canonical = normalize_project_id(project_id)
    project = projects.get(canonical)
    if project is None:
        raise NotFoundError(f"project {canonical} not found")
    return project


def update_project(
    projects: ProjectStore,
    project_id: object,
    *,
    now: datetime,
    name: str | None = None,
    allowed_origins: tuple[str, ...] | None = None,
    grace_period_days: int | None = None,
) -> Project:
    project = get_project(projects, project_id)
    changed = replace(
        project,
        name=validate_name(name) if name is not None else project.name,
        allowed_origins=(
            normalize_origins(allowed_origins)
            if allowed_origins is not None
            else project.allowed_origins
        ),
        grace_period_days=(
            validate_grace_period_days(grace_period_days)
            if grace_period_days is not None
            else project.grace_period_days
        ),
    )
    projects.replace(changed, now)
    return changed


def create_app(
    projects: ProjectStore,
    apps: AppStore,
    *,
    project_id: object,
    name: str,
    now: datetime,
    scopes: list[str] | None = None,
    imported_key: str | None = None,
) -> IssuedKey:
    """A new app of an existing project, with a generated key or an imported one."""
    project = get_project(projects, project_id)
    app = App(
        app_id=f"app_{secrets.token_hex(6)}",
        project_id=project.project_id,
        name=validate_name(name),
        active=True,
        scopes=parse_scopes(scopes),
        created_at=now,
    )
    api_key = validate_importable_key(imported_key) if imported_key else generate_api_key()
    apps.create(app, hash_api_key(api_key), key_prefix(api_key))
    return IssuedKey(app, None if imported_key else api_key, key_prefix(api_key))


def get_app(apps: AppStore, app_id: str) -> App:
    app = apps.get(app_id)
    if app is None:
        raise NotFoundError(f"app {app_id} not found")
    return app


def list_apps(
    projects: ProjectStore, apps: AppStore, project_id: object
) -> list[tuple[App, list[ApiKeyInfo]]]:
    return apps.list(get_project(projects, project_id).project_id)


def rotate_app_key(apps: AppStore, app_id: str, *, overlap: timedelta, now: datetime) -> Rotation:
    """Issue a new key; the app's older keys keep working for ``overlap``, then stop."""
    if not timedelta(0) <= overlap <= MAX_ROTATION_OVERLAP:
        raise ValidationError("overlap", f"must be between 0 and {MAX_ROTATION_OVERLAP.days} days")
    app = get_app(apps, app_id)
    if not app.active:
        raise ValidationError("app_id", "the app is deactivated; create a new app instead")
    api_key = generate_api_key()
    expire_at = now + overlap
    old = apps.rotate(app, hash_api_key(api_key), key_prefix(api_key), expire_at)
    return Rotation(app, api_key, old, expire_at)


def deactivate_app(apps: AppStore, app_id: str) -> App:
    """Turn the app and all its keys off at once (the authorizer refuses them from now)."""
    app = get_app(apps, app_id)
    apps.deactivate(app)
    return replace(app, active=False)


def add_price(projects: ProjectStore, prices: PriceStore, price: Price) -> Price:
    project = get_project(projects, price.project_id)
    checked = validate_price(replace(price, project_id=project.project_id))
    prices.put(checked)
    return checked


def list_prices(projects: ProjectStore, prices: PriceStore, project_id: object) -> list[Price]:
    return prices.list(get_project(projects, project_id).project_id)


def remove_price(prices: PriceStore, project_id: object, stripe_price_id: str) -> None:
    prices.remove(stripe_price_id, normalize_project_id(project_id))
