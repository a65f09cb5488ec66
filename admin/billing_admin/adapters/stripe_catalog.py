"""Stripe's side of catalog as code: the catalog's products and prices, read and written with
the SDK's typed parameters.

Reads list everything the plan needs (a project's catalog products, active or not, every price
of each, active or not, and whoever holds one of the catalog's lookup keys), following every
page. Every create carries an idempotency key derived from the change, so a retry (the SDK's,
or a re-run apply) never creates twice. Stripe's errors become domain errors as in the gateway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, cast

import stripe
from stripe import RequestOptions
from stripe.params import (
    PriceCreateParams,
    PriceCreateParamsRecurring,
    PriceListParams,
    PriceUpdateParams,
    ProductCreateParams,
    ProductListParams,
    ProductUpdateParams,
)

from billing.adapters.stripe_gateway import stripe_errors
from billing.domain.tenancy import Interval, StripePriceTerms
from billing_admin.domain.catalog import (
    PriceSpec,
    StripeCatalogState,
    StripePrice,
    StripeProduct,
    is_catalog_product,
)

PAGE_SIZE = 100
LOOKUP_KEYS_PER_LIST = 10  # Stripe's limit for lookup_keys[] in one price list


def _metadata(value: stripe.StripeObject | Mapping[str, str] | None) -> dict[str, str]:
    """A StripeObject is not a dict (stripe 16): read its backing data."""
    if value is None:
        return {}
    data = value.to_dict(recursive=False) if isinstance(value, stripe.StripeObject) else value
    return {str(key): str(item) for key, item in data.items()}


def _product(product: stripe.Product) -> StripeProduct:
    return StripeProduct(
        product_id=product.id,
        name=product.name,
        description=product.description or None,
        active=bool(product.active),
        metadata=_metadata(product.metadata),
    )


def _price(price: stripe.Price) -> StripePrice:
    product = price.product
    recurring = price.recurring
    interval = cast(Interval, recurring.interval) if recurring else "one_time"
    return StripePrice(
        price_id=price.id,
        product_id=product if isinstance(product, str) else product.id,
        active=bool(price.active),
        lookup_key=price.lookup_key or None,
        amount=price.unit_amount,
        currency=price.currency,
        interval=interval,
        interval_count=int(recurring.interval_count) if recurring else 1,
        metadata=_metadata(price.metadata),
    )


class StripeCatalogGateway:
    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client

    # ------------------------------------------------------------------ reads
    def state(self, project_id: str, lookup_keys: Sequence[str]) -> StripeCatalogState:
        with stripe_errors("list catalog"):
            products = [
                _product(product)
                for product in self._products()
                if is_catalog_product(product.id, project_id)
            ]
            prices: dict[str, StripePrice] = {}
            for product in products:
                for price in self._prices({"product": product.product_id, "limit": PAGE_SIZE}):
                    prices[price.id] = _price(price)
            for start in range(0, len(lookup_keys), LOOKUP_KEYS_PER_LIST):
                chunk = list(lookup_keys[start : start + LOOKUP_KEYS_PER_LIST])
                for price in self._prices({"lookup_keys": chunk, "limit": PAGE_SIZE}):
                    prices[price.id] = _price(price)
        return StripeCatalogState(tuple(products), tuple(prices.values()))

    def price_terms(self, price_id: str) -> StripePriceTerms | None:
        """What Stripe bills for one price (None: Stripe has no such price). Stripe answers a
        legacy plan's id here too, as a price."""
        with stripe_errors("retrieve price"):
            try:
                return _price(self._client.v1.prices.retrieve(price_id)).stripe_terms
            except stripe.InvalidRequestError as exc:
                if exc.http_status == HTTPStatus.NOT_FOUND:
                    return None
                raise

    def _products(self) -> Iterable[stripe.Product]:
        """Every product of the account, active or not (Stripe's list has no id filter; a
        catalog is small next to what listing costs)."""
        params: ProductListParams = {"limit": PAGE_SIZE}
        return self._client.v1.products.list(params=params).auto_paging_iter()

    def _prices(self, params: PriceListParams) -> Iterable[stripe.Price]:
        """Without ``active``, Stripe lists archived prices too."""
        return self._client.v1.prices.list(params=params).auto_paging_iter()

    # ------------------------------------------------------------------ writes
    def create_product(
        self,
        product_id: str,
        name: str,
        description: str | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> None:
        params: ProductCreateParams = {"id": product_id, "name": name, "metadata": dict(metadata)}
        if description:
            params["description"] = description
        options: RequestOptions = {"idempotency_key": idempotency_key}
        with stripe_errors("create product"):
            self._client.v1.products.create(params=params, options=options)

    def update_product(self, product_id: str, fields: Mapping[str, Any]) -> None:
        params: ProductUpdateParams = {}
        if "name" in fields:
            params["name"] = str(fields["name"])
        if "description" in fields:
            params["description"] = str(fields["description"])
        if "active" in fields:
            params["active"] = bool(fields["active"])
        if fields.get("metadata"):
            params["metadata"] = dict(fields["metadata"])
        if not params:
            return
        with stripe_errors("update product"):
            self._client.v1.products.update(product_id, params=params)

    def create_price(
        self, spec: PriceSpec, *, transfer_lookup_key: bool, idempotency_key: str
    ) -> StripePrice:
        params: PriceCreateParams = {
            "product": spec.product_id,
            "currency": spec.currency,
            "unit_amount": spec.amount,
            "lookup_key": spec.lookup_key,
            "metadata": spec.metadata,
        }
        if spec.interval != "one_time":
            recurring: PriceCreateParamsRecurring = {
                "interval": spec.interval,
                "interval_count": spec.interval_count,
            }
            params["recurring"] = recurring
        if transfer_lookup_key:
            params["transfer_lookup_key"] = True
        options: RequestOptions = {"idempotency_key": idempotency_key}
        with stripe_errors("create price"):
            return _price(self._client.v1.prices.create(params=params, options=options))

    def update_price(
        self, price_id: str, *, metadata: Mapping[str, str], active: bool | None
    ) -> None:
        # An empty ``metadata`` would be sent as "metadata=" and clear every key: never send it.
        params: PriceUpdateParams = {}
        if metadata:
            params["metadata"] = dict(metadata)
        if active is not None:
            params["active"] = active
        if not params:
            return
        with stripe_errors("update price"):
            self._client.v1.prices.update(price_id, params=params)
