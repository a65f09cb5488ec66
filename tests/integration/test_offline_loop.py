"""The whole loop offline: checkout through the stand-in, pay, entitlements follow."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from billing_devstack.config import REPO_ROOT
from billing_devstack.launcher import StackProcess
from tests.integration.conftest import start_stack

pytestmark = pytest.mark.integration

HEADERS = {"X-API-Key": "sk_demo_space_journal"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    running = start_stack(tmp_path_factory.mktemp("loop") / "state", LOCAL_SEED_DEMO="1")
    yield running
    running.stop()


def entitlements(stack: StackProcess, user: str) -> list[dict[str, Any]]:
    response = requests.get(
        f"{stack.url}/api/v1/entitlements",
        params={"user_id": user, "project_id": "1"},
        headers=HEADERS,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["entitlements"]
    return found


def open_checkout(stack: StackProcess, user: str) -> requests.Response:
    """A subscription Checkout Session for ``user`` through the API, as a project would."""
    checkout = requests.post(
        f"{stack.url}/api/v1/checkout/session",
        json={
            "user_id": user,
            "project_id": 1,
            "price_id": "price_123",
            "mode": "subscription",
            "success_url": "http://localhost:3000/ok",
            "cancel_url": "http://localhost:3000/cancel",
        },
        headers=HEADERS,
        timeout=30,
    )
    assert checkout.status_code == 200, checkout.text
    return checkout


def active_pro(stack: StackProcess, user: str) -> list[dict[str, Any]]:
    """The user's active ``pro`` sources, once the webhooks have brought them (30 s at most)."""
    deadline = time.monotonic() + 30
    active: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not active:
        found = entitlements(stack, user)
        active = [e for e in found if e["feature_code"] == "pro" and e["active"]]
        time.sleep(0.5)
    assert active, stack.log_text()[-3000:]
    return active


def test_pay_at_the_standin_and_the_feature_follows_within_seconds(demo: StackProcess) -> None:
    user = "user_loop"
    checkout = open_checkout(demo, user)
    assert entitlements(demo, user) == []

    paid = requests.post(
        f"{checkout.json()['checkout_url']}/pay", allow_redirects=False, timeout=30
    )
    assert paid.status_code == 303
    assert active_pro(demo, user)[0]["source"] == "subscription"


def test_the_webhook_replay_helper_gets_a_2xx(demo: StackProcess) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "billing_devstack",
            "webhook",
            "events/stripe/payment_intent.succeeded.json",
        ],
        cwd=REPO_ROOT,
        env=demo.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("200 ")


def test_a_cancellation_whose_webhook_was_dropped_is_repaired_by_one_run(
    demo: StackProcess,
) -> None:
    """The stand-in drops webhooks (a misconfigured endpoint) while a subscription is
    cancelled; `billing-admin reconcile run` repairs it through the local function and its
    queue, names it in the report, the entitlement flips, and a second run repairs nothing."""
    user = "user_drift"
    checkout = open_checkout(demo, user)
    requests.post(f"{checkout.json()['checkout_url']}/pay", allow_redirects=False, timeout=30)
    subscription = active_pro(demo, user)[0]["source_id"]

    standin = f"http://127.0.0.1:{demo.env['LOCAL_STRIPE_PORT']}/_standin"
    assert requests.post(f"{standin}/webhooks", json={"paused": True}, timeout=10).ok
    try:
        cancel = requests.post(f"{standin}/subscriptions/{subscription}/cancel", timeout=10)
        assert cancel.status_code == 200, cancel.text
        time.sleep(1)
        assert any(e["active"] for e in entitlements(demo, user)), "the drop left access on"

        report = demo.admin("reconcile", "run")

        assert report["status"] == "completed", report
        repaired = [r for r in report["repairs"] if r["kind"] == "subscription"]
        assert [(r["object_id"], r["user_id"]) for r in repaired] == [(subscription, user)]
        assert (repaired[0]["before"]["status"], repaired[0]["after"]["status"]) == (
            "active",
            "canceled",
        )
        (source,) = [e for e in entitlements(demo, user) if e["feature_code"] == "pro"]
        assert not source["active"]

        again = demo.admin("reconcile", "run")
        assert again["repairs"] == []
        assert sum(counts["repaired"] for counts in again["counts"].values()) == 0
        assert demo.admin("reconcile", "report", "--last")["run_id"] == again["run_id"]
    finally:
        requests.post(f"{standin}/webhooks", json={"paused": False}, timeout=10)
