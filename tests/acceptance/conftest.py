"""localstripe (a third-party, stateful Stripe fake from PyPI) and a local stack wired to it.

The stack gets localstripe as its Stripe (STRIPE_SECRET_KEY set, so no stand-in of its own);
localstripe gets the stack's webhook route, signing with the stack's STRIPE_WEBHOOK_SECRET.
One localstripe and one stack per test module; every process is stopped at teardown.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from billing_devstack.launcher import Launched, LaunchError, StackProcess, free_port, launch
from tests.integration.conftest import start_stack

SECRET_KEY = "sk_test_acceptance"
WEBHOOK_SECRET = "whsec_acceptance"
PROJECT_ID = "1"
FEATURE = "pro"
# localstripe (API 2017-08-15) has no Price resource: a plan with a price-like id stands in for
# it, and the subscription events carry it as `plan.id` (top level and on each item). Stripe
# answers a plan's id at GET /v1/prices/{id} too (the Prices API reads legacy plans); the
# launcher below adds that one route, so `billing-admin price add` can check the price at Stripe.
PRICE_ID = "price_acceptance_pro"
WEBHOOK_PATH = "/api/v1/webhooks/stripe"
START_TIMEOUT = 30.0

# localstripe's own `localstripe --port N` listens on every interface ([::]) and keeps its
# state in the fixed file /tmp/localstripe.pickle, shared by every run on the machine. This
# launcher serves the same aiohttp app on loopback only, with that persistence switched off,
# plus two things of today's API that the service asks for and localstripe's 2017 one lacks:
# GET /v1/prices/{id}, a plan in the shape Stripe gives a price (404 as Stripe's error), and
# tolerance of `expand` paths through `discounts` (its subscriptions carry the older single
# `discount`, which the service reads as well), which are dropped instead of refused.
_LAUNCHER = """
import logging, sys
from aiohttp import web
from localstripe.resources import Plan, store
from localstripe.server import app, json_response

def price_of(plan):
    return {
        "id": plan.id, "object": "price", "active": plan.active,
        "billing_scheme": plan.billing_scheme, "created": plan.created,
        "currency": plan.currency, "custom_unit_amount": None, "livemode": False,
        "lookup_key": None, "metadata": plan.metadata, "nickname": plan.nickname,
        "product": plan.product, "tax_behavior": "unspecified", "tiers_mode": plan.tiers_mode,
        "transform_quantity": None, "type": "recurring", "unit_amount": plan.amount,
        "unit_amount_decimal": None if plan.amount is None else str(plan.amount),
        "recurring": {
            "aggregate_usage": None, "interval": plan.interval,
            "interval_count": plan.interval_count, "meter": None,
            "trial_period_days": plan.trial_period_days, "usage_type": plan.usage_type,
        },
    }

async def retrieve_price(request):
    return json_response(price_of(Plan._api_retrieve(request.match_info["id"])))

app.router.add_get("/v1/prices/{id}", retrieve_price)

@web.middleware
async def drop_discounts_expand(request, handler):
    query = request.rel_url.query
    kept = [
        (key, value) for key, value in query.items()
        if not (key.startswith("expand") and value.removeprefix("data.").startswith("discounts"))
    ]
    if len(kept) != len(query):
        request = request.clone(rel_url=request.rel_url.with_query(kept))
    return await handler(request)

app.middlewares.insert(0, drop_discounts_expand)
store.dump_to_disk = lambda: None
access = logging.getLogger("aiohttp.access")
access.setLevel(logging.DEBUG)
access.addHandler(logging.StreamHandler())
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=access, print=None)
"""


@dataclass
class LocalStripe:
    """One localstripe process and its API, called as stripe-python would (form-encoded)."""

    launched: Launched
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, method: str, path: str, fields: Mapping[str, str] | None = None) -> Any:
        """One API request; fails the test with localstripe's answer unless it is a 2xx."""
        response = requests.request(
            method,
            f"{self.url}{path}",
            params=fields if method == "GET" else None,
            data=None if method == "GET" else fields,
            headers={"Authorization": f"Bearer {SECRET_KEY}"},
            timeout=10,
        )
        assert response.ok, f"localstripe {method} {path}: {response.status_code} {response.text}"
        return response.json()

    def register_webhook(self, name: str, url: str, secret: str) -> None:
        """Have localstripe send every event, signed with ``secret``, to ``url``."""
        response = requests.post(
            f"{self.url}/_config/webhooks/{name}",
            data={"url": url, "secret": secret},
            timeout=10,
        )
        assert response.ok, f"localstripe webhook config: {response.status_code} {response.text}"

    def answers(self) -> bool:
        """True once the API answers."""
        try:
            probe = requests.get(
                f"{self.url}/v1/customers",
                headers={"Authorization": f"Bearer {SECRET_KEY}"},
                timeout=2,
            )
        except requests.RequestException:
            return False
        return probe.status_code == 200

    def log_text(self) -> str:
        return self.launched.log_text()


def start_localstripe(state_dir: Path) -> LocalStripe:
    """Start localstripe on a free loopback port and wait until it answers (or fail)."""
    port = free_port()
    launched = launch(
        "localstripe", [sys.executable, "-c", _LAUNCHER, str(port)], state_dir / "localstripe.log"
    )
    stripe = LocalStripe(launched, port)
    try:
        launched.wait_ready(stripe.answers, START_TIMEOUT)
    except LaunchError as exc:
        launched.stop(grace=10)
        pytest.fail(str(exc))
    return stripe


@dataclass
class Acceptance:
    """A stack whose Stripe is localstripe, with project 1, an app key and PRICE_ID → FEATURE."""

    stack: StackProcess
    stripe: LocalStripe
    api_key: str

    def entitlements(self, user_id: str) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.stack.url}/api/v1/entitlements",
            params={"user_id": user_id, "project_id": PROJECT_ID},
            headers={"X-API-Key": self.api_key},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        entitlements: list[dict[str, Any]] = response.json()["entitlements"]
        return entitlements

    def feature_active(self, user_id: str, feature: str) -> bool:
        return any(
            item.get("feature_code") == feature and item.get("active") is True
            for item in self.entitlements(user_id)
        )

    def recorded_events(self) -> dict[str, str]:
        """event id → event type of every event the stack's consumer recorded."""
        pages = self.stack.dynamodb().get_paginator("scan").paginate(TableName="WebhookEventsTable")
        return {
            item["event_id"]["S"]: item["event_type"]["S"]
            for page in pages
            for item in page["Items"]
        }

    def report(self, user_id: str) -> str:
        """What a failed assertion should show: both sides of the webhook and the result."""
        return "\n".join(
            [
                f"entitlements of {user_id}: {self.entitlements(user_id)}",
                f"recorded events: {sorted(self.recorded_events().values())}",
                f"localstripe log:\n{self.stripe.log_text()[-2000:]}",
                f"stack log:\n{self.stack.log_text()[-4000:]}",
            ]
        )


def _set_up(stack: StackProcess, stripe: LocalStripe) -> Acceptance:
    """The project, its key and price with billing-admin; the same price in localstripe."""
    stripe.register_webhook("stack", f"{stack.url}{WEBHOOK_PATH}", WEBHOOK_SECRET)
    stack.admin("project", "create", "--id", PROJECT_ID, "--name", "accept")
    api_key = stack.admin("app", "create", "--project", PROJECT_ID, "--name", "accept")["api_key"]
    product = stripe.call("POST", "/v1/products", {"name": "Acceptance Pro"})["id"]
    stripe.call(
        "POST",
        "/v1/plans",
        {
            "id": PRICE_ID,
            "product": product,
            "amount": "900",
            "currency": "usd",
            "interval": "month",
        },
    )
    stack.admin(
        *("price", "add", "--project", PROJECT_ID, "--price", PRICE_ID, "--feature", FEATURE),
        *("--amount", "900", "--currency", "usd", "--interval", "month"),
    )
    return Acceptance(stack=stack, stripe=stripe, api_key=str(api_key))


@pytest.fixture(scope="module")
def acceptance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Acceptance]:
    """localstripe, then a stack pointed at it, then the setup; stopped in reverse order."""
    state = tmp_path_factory.mktemp("acceptance")
    with contextlib.ExitStack() as running:
        stripe = start_localstripe(state / "localstripe")
        running.callback(stripe.launched.stop, 10)
        stack = start_stack(
            state / "state",
            STRIPE_SECRET_KEY=SECRET_KEY,
            STRIPE_API_BASE=stripe.url,
            STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        )
        running.callback(stack.stop)
        yield _set_up(stack, stripe)
