"""Shared by the catalog tests: the Stripe stand-in in process behind the real SDK, with every
request it receives counted, and a small catalog document to change."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import stripe

from billing.adapters.stripe_gateway import build_client
from billing_admin.adapters.stripe_catalog import StripeCatalogGateway
from billing_devstack.stripe_standin import StripeStandIn
from billing_devstack.stripe_standin.sdk_client import InProcessHTTPClient

BASE = "http://standin.invalid"

DOCUMENT: dict[str, Any] = {
    "version": 1,
    "projects": [
        {
            "project_id": "1",
            "products": [
                {
                    "key": "pro",
                    "name": "Space Journal Pro",
                    "description": "Unlimited journals",
                    "prices": [
                        {
                            "key": "pro_monthly",
                            "amount": 900,
                            "currency": "usd",
                            "interval": "month",
                            "trial_days": 14,
                            "features": ["pro"],
                        },
                        {
                            "key": "pro_yearly",
                            "amount": 9000,
                            "currency": "usd",
                            "interval": "year",
                            "features": ["pro"],
                        },
                    ],
                },
                {
                    "key": "passes",
                    "name": "Passes",
                    "prices": [
                        {
                            "key": "pass_30d",
                            "amount": 500,
                            "currency": "usd",
                            "interval": "one_time",
                            "access_days": 30,
                            "features": ["pro", "archive"],
                        }
                    ],
                },
            ],
        }
    ],
}


def document() -> dict[str, Any]:
    """A fresh copy of DOCUMENT to change."""
    return copy.deepcopy(DOCUMENT)


def price_entry(doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    for product in doc["projects"][0]["products"]:
        for price in product["prices"]:
            if price["key"] == key:
                found: dict[str, Any] = price
                return found
    raise KeyError(key)


class CountingClient(InProcessHTTPClient):
    """The in-process client, remembering each request as (METHOD, path)."""

    def __init__(self, standin: StripeStandIn) -> None:
        super().__init__(standin)
        self.calls: list[tuple[str, str]] = []

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        self.calls.append((method.upper(), urlsplit(url).path))
        return super().request(method, url, headers, post_data, _usage=_usage)

    def writes(self) -> list[tuple[str, str]]:
        return [call for call in self.calls if call[0] != "GET"]


class StripeWorld:
    """The stand-in, a counting SDK client on it, and the catalog gateway over that client."""

    def __init__(self) -> None:
        self.standin = StripeStandIn(base_url=BASE)
        self.http = CountingClient(self.standin)
        self.client: stripe.StripeClient = build_client("sk_test_unit", BASE, self.http)
        self.gateway = StripeCatalogGateway(self.client)

    def price_by_lookup_key(self, lookup_key: str) -> stripe.Price:
        found = self.client.v1.prices.list(params={"lookup_keys": [lookup_key]}).data
        assert len(found) == 1, found
        return found[0]

    def prices_of(self, product_id: str) -> list[stripe.Price]:
        return list(self.client.v1.prices.list(params={"product": product_id, "limit": 100}).data)

    def metadata(self, obj: stripe.Price | stripe.Product) -> dict[str, str]:
        return {str(k): str(v) for k, v in obj.metadata.to_dict().items()}
