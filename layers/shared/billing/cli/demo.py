"""The seed's demo data, so the old README's curl examples work as written. Idempotent."""

from __future__ import annotations

from datetime import datetime

from billing.domain.api_keys import hash_api_key
from billing.domain.tenancy import Price
from billing.errors import ConflictError
from billing.ports import AppStore, PriceStore, ProjectStore
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


def seed(
    projects: ProjectStore, apps: AppStore, prices: PriceStore, now: datetime
) -> list[dict[str, str]]:
    """Create what is missing of the demo set; report each step."""
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
    return steps
