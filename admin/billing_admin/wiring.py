"""billing-admin's composition root: what it builds beyond billing.wiring's adapters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing.wiring import bound_settings

if TYPE_CHECKING:
    from billing_admin.adapters.stripe_catalog import StripeCatalogGateway


def stripe_catalog() -> StripeCatalogGateway:
    """Stripe's products and prices for ``billing-admin catalog``, on the bound target's Stripe
    (the CLI's target picks the key and base: the local stand-in, or a stack's parameter).
    stripe is imported here, as in billing.wiring.payment_gateway()."""
    from billing.adapters.stripe_gateway import build_client
    from billing.secrets import stripe_secret_key
    from billing_admin.adapters.stripe_catalog import StripeCatalogGateway

    settings = bound_settings()
    return StripeCatalogGateway(build_client(stripe_secret_key(settings), settings.stripe_api_base))
