"""POST /api/v1/usage over the local stack: DynamoDB Local's conditions decide the races.

Project 623 is this module's own. A user's limit comes from a support grant of credits (a
quantity with an expiry), so no checkout is needed; the period edge and the billing-period
limits of prices are shown by tests/unit/services/test_usage.py with a moving clock, a grant
raising a plan's limit over HTTP by tests/integration/test_metered_usage_over_http.py.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
import requests

from billing_client import BillingClient, InvalidRequestError, UsageLimitExceededError
from billing_devstack.launcher import StackProcess
from tests.integration.traffic import Tenant, create_tenant, new_id

pytestmark = pytest.mark.integration

PROJECT = "623"
FEATURE = "credits"
CONCURRENT_CALLS = 50
RETRIES = 8


@pytest.fixture(scope="module")
def tenant(stack: StackProcess) -> Tenant:
    return create_tenant(stack, PROJECT, [("price_usage_pro", "pro", False)])


def grant_credits(tenant: Tenant, user: str, quantity: int, days: int = 30) -> None:
    valid_to = (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    answer = tenant.post(
        "/api/v1/admin/grant",
        {
            "user_id": user,
            "feature_code": FEATURE,
            "granted_by": "support@example.com",
            "reason": "usage tests",
            "valid_to": valid_to,
            "quantity": quantity,
        },
    )
    assert answer.status_code in (200, 201), answer.text
    assert answer.json()["quantity"] == quantity


def usage_body(user: str, **changes: Any) -> dict[str, Any]:
    return {
        "user_id": user,
        "feature_code": FEATURE,
        "quantity": 1,
        "idempotency_key": f"req_{uuid.uuid4().hex}",
        **changes,
    }


def post_usage(tenant: Tenant, body: dict[str, Any]) -> requests.Response:
    """One call, 503s (a transaction conflict the service gave up on) tried again as a client
    does, with the same idempotency key: so a retry never counts twice."""
    for _ in range(RETRIES):
        answer = tenant.post("/api/v1/usage", body)
        if answer.status_code != 503:
            return answer
    return answer


def balance(tenant: Tenant, user: str) -> dict[str, Any]:
    answer = tenant.get("/api/v1/entitlements/check", user_id=user, feature_code=FEATURE)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def run_all[T](calls: Sequence[Callable[[], T]]) -> list[T]:
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_concurrent_enforced_calls_at_the_limit_never_exceed_it(tenant: Tenant) -> None:
    """Proves 50 concurrent enforced calls against 30 credits count exactly 30: 30 answers
    201 and 20 answers 409, none 5xx, and the counter says 30 (no call lost, none twice)."""
    user = new_id("user")
    grant_credits(tenant, user, 30)
    bodies = [usage_body(user, enforce=True) for _ in range(CONCURRENT_CALLS)]
    answers = run_all([partial(post_usage, tenant, body) for body in bodies])
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == Counter({201: 30, 409: 20}), [a.text for a in answers]
    # An answer's figures are the counter as its call read it plus its own unit: racing calls
    # may have counted more meanwhile, but none ever saw the count past the limit.
    for answer in (a.json() for a in answers if a.status_code == 201):
        assert 1 <= answer["used"] <= 30
        assert answer["remaining"] == 30 - answer["used"]
    assert all(a.json()["remaining"] == 0 for a in answers if a.status_code == 409)
    assert (balance(tenant, user)["used"], balance(tenant, user)["remaining"]) == (30, 0)


def test_concurrent_replays_count_once_each(tenant: Tenant) -> None:
    """Proves 25 usages each sent twice at once (50 calls) count 25: per key one 201 and one
    200 replay with the same figures, and the counter says 25."""
    user = new_id("user")
    grant_credits(tenant, user, 1000)
    bodies = [usage_body(user) for _ in range(CONCURRENT_CALLS // 2)]
    calls = [partial(post_usage, tenant, body) for body in bodies for _ in range(2)]
    answers = run_all(calls)
    for first, second in zip(answers[0::2], answers[1::2], strict=True):
        assert sorted((first.status_code, second.status_code)) == [200, 201], (
            first.text,
            second.text,
        )
        replay = first if first.status_code == 200 else second
        counted = second if replay is first else first
        assert replay.json() == {**counted.json(), "replayed": True}
    assert balance(tenant, user)["used"] == CONCURRENT_CALLS // 2


def test_without_enforce_concurrent_calls_over_the_limit_are_all_counted_as_overage(
    tenant: Tenant,
) -> None:
    """Proves unenforced usage past the limit is counted, every unit once (the counter says
    40 of a limit of 10), each answer with its overage."""
    user = new_id("user")
    grant_credits(tenant, user, 10)
    bodies = [usage_body(user, quantity=2) for _ in range(20)]
    answers = run_all([partial(post_usage, tenant, body) for body in bodies])
    assert {answer.status_code for answer in answers} == {201}
    for answer in (a.json() for a in answers):
        assert answer["overage"] == max(0, answer["used"] - 10)
    check = balance(tenant, user)
    assert (check["limit"], check["used"], check["remaining"]) == (10, 40, 0)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": -5}, "quantity"),
        ({"quantity": 10**9 + 1}, "quantity"),
        ({"quantity": 10**30}, "quantity"),
        ({"quantity": "7"}, "quantity"),
        ({"feature_code": "no_such_feature"}, "feature_code"),
        ({"feature_code": "pro"}, "feature_code"),  # held, without a limit
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "x" * 256}, "idempotency_key"),
        ({"idempotency_key": "bad key\n"}, "idempotency_key"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field_and_counts_nothing(
    tenant: Tenant, changes: dict[str, Any], field: str
) -> None:
    """Proves each bad usage is a 422 naming its field, and the count stays where it was."""
    user = new_id("user")
    grant_credits(tenant, user, 100)
    granted = tenant.post(
        "/api/v1/admin/grant",
        {"user_id": user, "feature_code": "pro", "granted_by": "s@example.com", "reason": "t"},
    )
    assert granted.status_code == 201, granted.text
    assert post_usage(tenant, usage_body(user, quantity=4)).status_code == 201
    answer = post_usage(tenant, usage_body(user, **changes))
    assert answer.status_code == 422, answer.text
    assert field in answer.text
    assert balance(tenant, user)["used"] == 4


def test_the_client_records_usage_once_and_raises_at_the_limit(tenant: Tenant) -> None:
    """Proves billing-client's record_usage over HTTP: counted, the same key replayed, the
    limit raised as UsageLimitExceededError with what remains, and a bad quantity refused."""
    user = new_id("user")
    grant_credits(tenant, user, 10)
    client = BillingClient(tenant.stack.url, tenant.key, timeout=30.0)
    first = client.record_usage(
        user_id=user, project_id=PROJECT, feature_code=FEATURE, quantity=7, idempotency_key="k1"
    )
    again = client.record_usage(
        user_id=user, project_id=PROJECT, feature_code=FEATURE, quantity=7, idempotency_key="k1"
    )
    assert (first.used, first.remaining, first.replayed, again.replayed) == (7, 3, False, True)
    assert (again.used, again.remaining) == (7, 3)
    with pytest.raises(UsageLimitExceededError) as refused:
        client.record_usage(
            user_id=user, project_id=PROJECT, feature_code=FEATURE, quantity=4, enforce=True
        )
    assert refused.value.remaining == 3
    with pytest.raises(InvalidRequestError):
        client.record_usage(user_id=user, project_id=PROJECT, feature_code=FEATURE, quantity=0)
    usage = {u.feature_code: u for u in client.entitlement_usage(user_id=user, project_id=PROJECT)}
    assert (usage[FEATURE].limit, usage[FEATURE].used, usage[FEATURE].remaining) == (10, 7, 3)
