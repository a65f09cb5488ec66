"""The seed's demo data, so the old README's curl examples work as written. Idempotent."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime

from billing.domain.api_keys import hash_api_key
from billing.domain.tenancy import Price
from billing.errors import ConflictError
from billing.ports.tenancy import AppStore, PriceStore, ProjectStore
from billing.services import tenancy
from billing.wiring import api_key_store

DEMO_PROJECT_ID = "1"
DEMO_PROJECT_NAME = "space_journal"
# The seed's documented demo key: public by design, only ever registered on request.
DEMO_API_KEY = "sk_demo_space_journal"
DEMO_PRICE = Price(
    stripe_price_id="price_123",
    project_id=DEMO_PROJECT_ID,
    feature_codes=("pro",),
    amount=900,
    currency="usd",
    interval="month",
)


def register_in_standin(standin_url: str) -> str:
    """The demo price in the local Stripe stand-in (real Stripe generates price ids; the seed
    needs ``price_123``), through the stand-in's control endpoint."""
    body = {
        "id": DEMO_PRICE.stripe_price_id,
        "unit_amount": DEMO_PRICE.amount,
        "currency": DEMO_PRICE.currency,
        "recurring": {"interval": DEMO_PRICE.interval, "interval_count": 1},
        "product_name": "Space Journal Pro",
    }
    request = urllib.request.Request(  # noqa: S310 - the local stand-in's http URL
        f"{standin_url}/_standin/prices",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            answer.read()
    except (urllib.error.URLError, OSError):
        return f"no Stripe stand-in at {standin_url}: skipped"
    return "registered"


def seed(
    projects: ProjectStore,
    apps: AppStore,
    prices: PriceStore,
    now: datetime,
    standin_url: str | None = None,
) -> list[dict[str, str]]:
    """Create what is missing of the demo set; report each step. With ``standin_url`` (the
    local stack), the price is registered in the Stripe stand-in too."""
    steps = []
    try:
        tenancy.create_project(
            projects, name=DEMO_PROJECT_NAME, project_id=DEMO_PROJECT_ID, now=now
        )
        steps.append({"step": "project 1 space_journal", "result": "created"})
    except ConflictError:
        steps.append({"step": "project 1 space_journal", "result": "already there"})
    if api_key_store().find(hash_api_key(DEMO_API_KEY)) is None:
        tenancy.create_app(
            projects,
            apps,
            project_id=DEMO_PROJECT_ID,
            name=DEMO_PROJECT_NAME,
            imported_key=DEMO_API_KEY,
            now=now,
        )
        steps.append({"step": "app with key sk_demo_space_journal", "result": "created"})
    else:
        steps.append({"step": "app with key sk_demo_space_journal", "result": "already there"})
    tenancy.add_price(projects, prices, DEMO_PRICE)
    steps.append({"step": "price_123 -> pro (900 usd a month)", "result": "registered"})
    if standin_url:
        result = register_in_standin(standin_url)
        steps.append({"step": "price_123 in the Stripe stand-in", "result": result})
    return steps
