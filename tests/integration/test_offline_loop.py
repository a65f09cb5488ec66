"""The whole loop offline: checkout through the stand-in, pay, entitlements follow."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.config import REPO_ROOT
from tests.integration.conftest import RunningStack, start_stack

pytestmark = pytest.mark.integration

HEADERS = {"X-API-Key": "sk_demo_space_journal"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("loop") / "state", LOCAL_SEED_DEMO="1")
    yield running
    running.stop()


def entitlements(stack: RunningStack, user: str) -> list[dict[str, Any]]:
    response = requests.get(
        f"{stack.url}/api/v1/entitlements",
        params={"user_id": user, "project_id": "1"},
        headers=HEADERS,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["entitlements"]
    return found


def test_pay_at_the_standin_and_the_feature_follows_within_seconds(demo: RunningStack) -> None:
    user = "user_loop"
    checkout = requests.post(
        f"{demo.url}/api/v1/checkout/session",
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
    assert entitlements(demo, user) == []

    paid = requests.post(
        f"{checkout.json()['checkout_url']}/pay", allow_redirects=False, timeout=30
    )
    assert paid.status_code == 303

    deadline = time.monotonic() + 30
    active: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not active:
        active = [e for e in entitlements(demo, user) if e["feature_code"] == "pro" and e["active"]]
        time.sleep(0.5)
    assert active, demo.log_text()[-3000:]
    assert active[0]["source"] == "subscription"


def test_the_webhook_replay_helper_gets_a_2xx(demo: RunningStack) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local", "webhook", "events/stripe/payment_intent.succeeded.json"],
        cwd=REPO_ROOT,
        env=demo.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("200 ")
