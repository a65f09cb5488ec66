"""What billing-admin's own use cases need from the outside world (the service's ports are in
billing.ports): Stripe's side of the catalog."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from billing.ports.tenancy import StripePrices
from billing_admin.domain.catalog import PriceSpec, StripeCatalogState, StripePrice


class CatalogGateway(StripePrices, Protocol):
    """Stripe's side of the catalog (billing-admin catalog): products and prices."""

    def state(self, project_id: str, lookup_keys: Sequence[str]) -> StripeCatalogState:
        """The project's catalog products (active or not), all their prices, and the prices
        holding any of ``lookup_keys``; every list read to its end."""

    def create_product(
        self,
        product_id: str,
        name: str,
        description: str | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> None: ...

    def update_product(self, product_id: str, fields: Mapping[str, Any]) -> None:
        """Set ``name``, ``description`` ("" clears it), ``active`` and/or ``metadata``."""

    def create_price(
        self, spec: PriceSpec, *, transfer_lookup_key: bool, idempotency_key: str
    ) -> StripePrice:
        """A new price under ``spec.lookup_key``; with ``transfer_lookup_key`` it takes the
        key from the price holding it."""

    def update_price(
        self, price_id: str, *, metadata: Mapping[str, str], active: bool | None
    ) -> None:
        """Set metadata keys ("" deletes one) and/or ``active``."""
