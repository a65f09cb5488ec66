"""A plan's limit over the local stack: a subscriber's usage of a feature mapped to a Stripe
meter is recorded by POST /api/v1/usage (no Stripe call), then reported to the stand-in's meter
by MeterReporterFunction, once per usage; a grant of credits raises the plan's limit.

Project 625 is this module's own. The stack's scheduler runs MeterReporterFunction every
minute; the test also invokes it at once, in a worker of its own with the stack's environment,
so the two may report the same usage concurrently: Stripe (the stand-in) counts an
identifier once, which is what keeps the total right.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import stripe

from billing_client import BillingClient, UsageLimitExceededError, UsageRecord
from billing_devstack.config import STANDIN_SECRET_KEY, LocalConfig
from billing_devstack.lambda_runtime import LambdaRuntime
from billing_devstack.launcher import StackProcess
from billing_devstack.template import load_template
from tests.integration.test_checkout_over_http import standin_url
from tests.support.checkout import pay_subscription_checkout
from tests.support.waiting import read_until

pytestmark = pytest.mark.integration

PROJECT = "625"
PRICE = "price_metered_api"
FEATURE, METER = "api_calls", "api_requests_625"
ORIGIN = "https://metered.example.com"
REPORTER = "MeterReporterFunction"
WAIT_SECONDS = 60.0
SCHEDULED_EVENT = Path(__file__).resolve().parents[2] / "events" / "meter_reporter.json"
MINUTE = 60


@pytest.fixture(scope="module")
def client(stack: StackProcess) -> BillingClient:
    stack.admin("project", "create", "--id", PROJECT, "--name", "metered", "--origin", ORIGIN)
    # Stripe first: price add reads the price there and refuses other terms.
    standin = {
        "id": PRICE,
        "unit_amount": 900,
        "currency": "usd",
        "recurring": {"interval": "month", "interval_count": 1},
    }
    answer = requests.post(f"{standin_url(stack)}/_standin/prices", json=standin, timeout=10)
    assert answer.status_code in (200, 201), answer.text
    stack.admin(
        "price",
        "add",
        "--project",
        PROJECT,
        "--price",
        PRICE,
        "--feature",
        "pro",
        "--feature",
        FEATURE,
        "--limit",
        "1000",
        "--reset",
        "billing_period",
        "--meter",
        METER,
        "--amount",
        "900",
        "--currency",
        "usd",
        "--interval",
        "month",
    )
    key = stack.admin("app", "create", "--project", PROJECT, "--name", "metered")["api_key"]
    return BillingClient(stack.url, key, timeout=30.0)


@pytest.fixture(scope="module")
def stripe_standin(stack: StackProcess) -> stripe.StripeClient:
    return stripe.StripeClient(STANDIN_SECRET_KEY, base_addresses={"api": standin_url(stack)})


@pytest.fixture(scope="module")
def reporter(stack: StackProcess) -> Iterator[LambdaRuntime]:
    """MeterReporterFunction in a worker of the test's own, with the stack's environment."""
    config = LocalConfig.from_env(stack.env)
    template = load_template(config.template_path, config.moto_endpoint, config.environ)
    runtime = LambdaRuntime(template.functions, config)
    yield runtime
    runtime.close()


def eventually[T](read: Callable[[], T], done: Callable[[T], bool]) -> T:
    return read_until(read, done, seconds=WAIT_SECONDS)


def subscribe(client: BillingClient, user: str) -> None:
    """Checkout paid at the stand-in; the subscription's features arrive through webhooks."""
    pay_subscription_checkout(client, user=user, project=PROJECT, price=PRICE, origin=ORIGIN)
    eventually(
        lambda: client.entitlement_usage(user_id=user, project_id=PROJECT),
        lambda found: any(u.feature_code == FEATURE for u in found),
    )


def customer_of(stripe_standin: stripe.StripeClient, user: str) -> str:
    listed = stripe_standin.v1.customers.list(params={"limit": 100})
    owners: dict[str, dict[str, str]] = {
        c.id: c.metadata.to_dict() if c.metadata else {} for c in listed.auto_paging_iter()
    }
    (found,) = [
        customer
        for customer, owner in owners.items()
        if owner.get("user_id") == user and owner.get("project_id") == PROJECT
    ]
    return found


def meter_total(stripe_standin: stripe.StripeClient, meter_id: str, customer: str) -> int:
    now = int(time.time()) // MINUTE * MINUTE
    summaries = stripe_standin.v1.billing.meters.event_summaries.list(
        meter_id,
        params={"customer": customer, "start_time": now - 60 * MINUTE, "end_time": now + MINUTE},
    )
    return sum(int(summary.aggregated_value) for summary in summaries.data)


def test_metered_usage_reaches_the_meter_once(
    stack: StackProcess,
    client: BillingClient,
    stripe_standin: stripe.StripeClient,
    reporter: LambdaRuntime,
) -> None:
    """Proves three usages (one of them sent twice) reach Stripe's meter as 5 + 7 + 2 = 14 for
    the subscriber's customer, however many reporter passes run (the stack's and the test's),
    and each usage is marked reported (out of the unreported index)."""
    meter = stripe_standin.v1.billing.meters.create(
        params={
            "display_name": "API requests",
            "event_name": METER,
            "default_aggregation": {"formula": "sum"},
        }
    )
    user = f"user_{uuid.uuid4().hex[:10]}"
    subscribe(client, user)
    customer = customer_of(stripe_standin, user)
    keys = [f"metered_{uuid.uuid4().hex}" for _ in range(3)]
    for key, quantity in zip(keys, (5, 7, 2), strict=True):
        recorded = client.record_usage(
            user_id=user, project_id=PROJECT, feature_code=FEATURE, quantity=quantity,
            idempotency_key=key,
        )  # fmt: skip
        assert not recorded.replayed
    again = client.record_usage(
        user_id=user, project_id=PROJECT, feature_code=FEATURE, quantity=7, idempotency_key=keys[1]
    )
    assert again.replayed

    event = json.loads(SCHEDULED_EVENT.read_text())
    for _ in range(2):  # a second pass finds nothing left to send
        result = reporter.invoke(REPORTER, event)
        assert result.ok, result.error_message
    eventually(lambda: meter_total(stripe_standin, meter.id, customer), lambda t: t >= 14)
    assert meter_total(stripe_standin, meter.id, customer) == 14
    records = [
        stack.dynamodb().get_item(
            TableName="UsageRecordsTable", Key={"record_key": {"S": f"{PROJECT}#{key}"}}
        )["Item"]
        for key in keys
    ]
    assert all("reported_at" in r and "report_shard" not in r for r in records), records
    assert {r["stripe_customer_id"]["S"] for r in records} == {customer}
    usage = {u.feature_code: u for u in client.entitlement_usage(user_id=user, project_id=PROJECT)}
    assert (usage[FEATURE].used, usage[FEATURE].limit) == (14, 1000)


def test_a_grant_of_credits_raises_the_plans_limit(client: BillingClient) -> None:
    """Proves sources add up over HTTP: a subscriber at the plan's 1,000 is refused, support
    grants 50 credits, and the next enforced usage is counted against 1,050 in the same
    billing period (the count goes on: 1,020 used)."""
    user = f"user_{uuid.uuid4().hex[:10]}"
    subscribe(client, user)

    def use(quantity: int) -> UsageRecord:
        return client.record_usage(
            user_id=user, project_id=PROJECT, feature_code=FEATURE, quantity=quantity,
            enforce=True,
        )  # fmt: skip

    assert use(1000).used == 1000
    with pytest.raises(UsageLimitExceededError) as refused:
        use(20)
    assert (refused.value.limit, refused.value.remaining) == (1000, 0)
    granted = client.grant(
        user_id=user,
        project_id=PROJECT,
        feature_code=FEATURE,
        granted_by="support@example.com",
        reason="outage credit",
        valid_to=datetime.now(UTC) + timedelta(days=7),
        quantity=50,
    )
    assert granted.created
    counted = use(20)
    assert (counted.limit, counted.used, counted.remaining) == (1050, 1020, 30)
    assert counted.resets_at is not None  # the plan's billing period, not the grant's
