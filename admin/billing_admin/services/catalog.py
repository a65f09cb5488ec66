"""Catalog as code: plan, apply and check the catalog against Stripe and the price table.

``plan`` reads both sides and answers the changes (billing_admin.domain.catalog decides them);
``apply`` makes them in order and then plans again, which must come back empty; a second apply
finds nothing to do. Every project of the catalog must exist before anything is read or
changed. Stripe writes go through the CatalogGateway port, table writes through
tenancy.add_price (its validation included).
"""

from __future__ import annotations

from collections.abc import Callable

from billing.errors import ConflictError
from billing.ports.tenancy import PriceStore, ProjectStore
from billing.services.tenancy import add_price, get_project
from billing_admin.domain.catalog import (
    ArchivePrice,
    ArchiveProduct,
    Catalog,
    Change,
    CreatePrice,
    CreateProduct,
    PutServicePrice,
    ReplacePrice,
    UpdatePrice,
    UpdateProduct,
    lookup_keys,
    plan_project,
)
from billing_admin.ports import CatalogGateway


def plan(
    catalog: Catalog, *, projects: ProjectStore, prices: PriceStore, stripe: CatalogGateway
) -> list[Change]:
    """Every change the catalog needs, projects in file order; empty when in sync.
    NotFoundError when a project of the catalog does not exist (nothing is read from Stripe)."""
    for project in catalog.projects:
        get_project(projects, project.project_id)
    changes: list[Change] = []
    for project in catalog.projects:
        state = stripe.state(project.project_id, lookup_keys(project))
        changes.extend(plan_project(project, state, prices.list(project.project_id)))
    return changes


def apply(
    catalog: Catalog,
    *,
    projects: ProjectStore,
    prices: PriceStore,
    stripe: CatalogGateway,
    progress: Callable[[Change], None] | None = None,
) -> list[Change]:
    """Make the plan's changes in order (``progress`` after each); return them. Safe to run
    again after a failure: the next plan starts from what was done. ConflictError when the
    plan is still not empty afterwards (something else changed Stripe or the table)."""
    changes = plan(catalog, projects=projects, prices=prices, stripe=stripe)
    for change in changes:
        execute(change, projects=projects, prices=prices, stripe=stripe)
        if progress is not None:
            progress(change)
    if changes:
        left = plan(catalog, projects=projects, prices=prices, stripe=stripe)
        if left:
            raise ConflictError(
                "catalog",
                f"{len(left)} change(s) still needed after apply, first: {left[0].describe()}",
            )
    return changes


def execute(
    change: Change, *, projects: ProjectStore, prices: PriceStore, stripe: CatalogGateway
) -> None:
    """One change. A new price's table row is written right after Stripe created it; if that
    fails, the next plan finds the price by its lookup key and adds the row."""
    match change:
        case CreateProduct():
            stripe.create_product(
                change.product_id,
                change.name,
                change.description,
                change.metadata,
                change.idempotency_key,
            )
        case UpdateProduct():
            stripe.update_product(change.product_id, change.fields)
        case ArchiveProduct():
            stripe.update_product(change.product_id, {"active": False})
        case CreatePrice():
            created = stripe.create_price(
                change.spec, transfer_lookup_key=False, idempotency_key=change.idempotency_key
            )
            add_price(projects, prices, change.spec.service_row(created.price_id))
        case ReplacePrice():
            # The new price first: the lookup key always names an active price.
            created = stripe.create_price(
                change.spec, transfer_lookup_key=True, idempotency_key=change.idempotency_key
            )
            add_price(projects, prices, change.spec.service_row(created.price_id))
            stripe.update_price(change.old.price_id, metadata=change.old_metadata, active=False)
        case UpdatePrice():
            stripe.update_price(change.price_id, metadata=change.metadata, active=change.active)
        case ArchivePrice():
            stripe.update_price(change.price_id, metadata=change.metadata, active=False)
        case PutServicePrice():
            add_price(projects, prices, change.price)
