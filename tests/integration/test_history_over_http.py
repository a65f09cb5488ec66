"""History over real HTTP against the local stack (issue #22): after a scripted story of grants
and revokes, GET /api/v1/entitlements/history?at= answers, for each moment of the story, what
GET /api/v1/entitlements answered then; ?since=&until= lists the changes with their causes;
billing-admin history says the same. (Purchases and refunds through Stripe events are in the
story of tests/unit/services/test_change_log.py, on the same code.)"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from billing_client import BillingClient, InvalidRequestError
from billing_devstack.launcher import StackProcess

pytestmark = pytest.mark.integration

PROJECT = 325
STORY = (
    ("grant", "alpha"),
    ("grant", "beta"),
    ("revoke", "alpha"),
    ("grant", "gamma"),
    ("grant", "alpha"),
    ("revoke", "beta"),
)


def _now() -> datetime:
    return datetime.now(UTC)


def _state(client: BillingClient, user: str) -> dict[str, bool]:
    return {e.feature_code: e.active for e in client.entitlements(user_id=user, project_id=PROJECT)}


@pytest.fixture(scope="module")
def client(stack: StackProcess) -> BillingClient:
    stack.admin("project", "create", "--id", str(PROJECT), "--name", "history")
    key = stack.admin("app", "create", "--project", str(PROJECT), "--name", "h")["api_key"]
    return BillingClient(stack.url, key, timeout=30.0)


def test_history_matches_the_state_at_each_moment_of_a_story(
    stack: StackProcess, client: BillingClient
) -> None:
    user = f"user_{uuid.uuid4().hex[:8]}"
    start = _now()
    moments: list[tuple[datetime, dict[str, bool]]] = []
    for action, feature in STORY:
        # Changes are kept to the second (in force from their second on): each change, and
        # each moment read, in a second of its own.
        time.sleep(1.1)
        if action == "grant":
            client.grant(
                user_id=user, project_id=PROJECT, feature_code=feature,
                granted_by="support@example.com", reason="story",
            )  # fmt: skip
        else:
            client.revoke(
                user_id=user, project_id=PROJECT, feature_code=feature,
                revoked_by="support@example.com", reason="story",
            )  # fmt: skip
        time.sleep(1.1)
        moments.append((_now(), _state(client, user)))

    before = client.history(user_id=user, project_id=PROJECT, at=start)
    assert (before.version, before.entitlements) == (None, ())
    for version, (moment, state) in enumerate(moments, start=1):
        then = client.history(user_id=user, project_id=PROJECT, at=moment)
        assert then.version == version
        assert then.entitlements is not None
        assert {e.feature_code: e.active for e in then.entitlements} == state, moment

    window = client.history(user_id=user, project_id=PROJECT, since=start, until=_now())
    assert window.changes is not None
    assert [c.version for c in window.changes] == [1, 2, 3, 4, 5, 6]
    assert [(c.cause.kind, c.cause.actor) for c in window.changes] == [
        (action, "support@example.com") for action, _ in STORY
    ]
    # A cursor asked with a window that ends before its position (DynamoDB Local refuses
    # such a start key: it was a 503) gives an empty page; one that starts after it, the rest.
    page = client.history(user_id=user, project_id=PROJECT, since=start, limit=3)
    assert page.changes is not None and page.next_cursor is not None
    ended = client.history(
        user_id=user, project_id=PROJECT, since=start, until=moments[0][0], cursor=page.next_cursor
    )
    assert (ended.changes, ended.next_cursor) == ((), None)
    later = client.history(
        user_id=user, project_id=PROJECT, since=moments[4][0], cursor=page.next_cursor
    )
    assert later.changes is not None
    assert [c.version for c in later.changes] == [6]

    middle = moments[2][0]
    admin = stack.admin(
        "history", "--project", str(PROJECT), "--user", user, "--at", middle.isoformat()
    )
    assert admin["version"] == 3
    assert {e["feature_code"]: e["active"] for e in admin["entitlements"]} == moments[2][1]


def test_a_window_that_is_not_one_is_refused_naming_the_field(client: BillingClient) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        client.history(
            user_id="u", project_id=PROJECT, since=_now(), until=_now() - timedelta(days=1)
        )
    assert "until" in str(refused.value) or "since" in str(refused.value)
