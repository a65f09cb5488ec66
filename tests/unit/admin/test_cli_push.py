"""billing-admin's commands of issue #22: history, project webhook, deliveries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from billing import wiring
from billing.domain.clock import to_iso
from billing.domain.deliveries import Delivery
from billing_admin.cli import push_commands
from tests.unit.admin.conftest import run_cli

pytestmark = pytest.mark.usefixtures("cli")


def _grant_and_revoke(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "project", "create", "--id", "1", "--name", "p")[0] == 0
    common = ["--project", "1", "--user", "user_42", "--feature", "beta", "--by", "support"]
    assert run_cli(capsys, "grant", *common, "--reason", "pilot")[0] == 0
    assert run_cli(capsys, "revoke", *common, "--reason", "pilot over")[0] == 0


def test_history_at_now_shows_the_revoked_grant_and_the_window_lists_both_changes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _grant_and_revoke(capsys)
    code, out, _ = run_cli(capsys, "history", "--project", "1", "--user", "user_42")
    assert code == 0
    assert "version 2" in out
    assert "beta: inactive (revoked) via manual" in out

    since = to_iso(datetime.now(UTC) - timedelta(minutes=1))
    code, out, _ = run_cli(
        capsys, "--json", "history", "--project", "1", "--user", "user_42", "--since", since
    )
    assert code == 0
    changes = json.loads(out)["changes"]
    assert [(c["version"], c["cause"]["kind"], c["cause"]["actor"]) for c in changes] == [
        (1, "grant", "support"),
        (2, "revoke", "support"),
    ]


def test_history_before_any_change_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    _grant_and_revoke(capsys)
    code, out, _ = run_cli(
        capsys, "history", "--project", "1", "--user", "user_42", "--at", "2020-01-01T00:00:00Z"
    )
    assert (code, out.strip()) == (0, "at 2020-01-01T00:00:00Z: no entitlements recorded yet")


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--at", "yesterday"], "at"),
        (["--until", "2026-01-01T00:00:00Z"], "since"),
        (["--at", "2026-01-01T00:00:00Z", "--since", "2025-01-01T00:00:00Z"], "at"),
        (["--since", "2026-01-01T00:00:00"], "since"),
    ],
)
def test_history_refuses_what_is_no_moment_naming_the_option(
    capsys: pytest.CaptureFixture[str], argv: list[str], field: str
) -> None:
    code, _, err = run_cli(capsys, "history", "--project", "1", "--user", "user_42", *argv)
    assert code == 2
    assert err.startswith(f"error: {field}: ")


# ---------------------------------------------------------------------- project webhook
class Resolver:
    """DNS as a test needs it: no socket is opened."""

    def addresses(self, host: str, port: int) -> list[str]:
        return {"hooks.example.com": ["93.184.216.34"], "internal.example.com": ["10.0.0.8"]}.get(
            host, []
        )


@pytest.fixture
def project(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(push_commands, "address_resolver", Resolver)
    assert run_cli(capsys, "project", "create", "--id", "1", "--name", "p")[0] == 0


def _add(capsys: pytest.CaptureFixture[str], url: str) -> tuple[int, str, str]:
    return run_cli(capsys, "--json", "project", "webhook", "add", "--project", "1", "--url", url)


def test_an_endpoint_is_added_its_secret_shown_once_and_listed_without_it(
    capsys: pytest.CaptureFixture[str], project: None
) -> None:
    code, out, _ = _add(capsys, "https://hooks.example.com/billing")
    assert code == 0
    added = json.loads(out)
    assert added["secret"].startswith("whsec_")
    code, out, _ = run_cli(capsys, "--json", "project", "webhook", "list", "--project", "1")
    (listed,) = json.loads(out)
    assert listed["endpoint_id"] == added["endpoint_id"]
    assert "secret" not in listed
    assert added["secret"] not in out
    assert listed["secrets"][0]["prefix"] == added["secret"][:10] + "..."


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://hooks.example.com/", "must be an https:// URL"),
        ("https://10.0.0.8/", "10.0.0.8 is a private address"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local"),
        ("https://internal.example.com/", "internal.example.com resolves to 10.0.0.8"),
        ("https://[::1]/", "::1 is a loopback address"),
    ],
)
def test_an_endpoint_that_is_not_https_to_a_public_address_is_refused_and_nothing_stored(
    capsys: pytest.CaptureFixture[str], project: None, url: str, says: str
) -> None:
    code, _, err = run_cli(capsys, "project", "webhook", "add", "--project", "1", "--url", url)
    assert code == 2
    assert err.startswith("error: url: ")
    assert says in err
    assert run_cli(capsys, "project", "webhook", "list", "--project", "1")[1].strip() == (
        "no webhook endpoints"
    )


def test_rotate_secret_prints_the_new_secret_and_keeps_the_old_one_signing(
    capsys: pytest.CaptureFixture[str], project: None
) -> None:
    added = json.loads(_add(capsys, "https://hooks.example.com/billing")[1])
    code, out, _ = run_cli(
        capsys,
        "--json",
        "project",
        "webhook",
        "rotate-secret",
        "--project",
        "1",
        added["endpoint_id"],
        "--overlap-hours",
        "2",
    )
    rotated = json.loads(out)
    assert code == 0
    assert rotated["secret"] != added["secret"]
    assert [s["expires_at"] is None for s in rotated["secrets"]] == [True, False]


def test_remove_stops_an_endpoint_and_a_second_remove_is_not_found(
    capsys: pytest.CaptureFixture[str], project: None
) -> None:
    added = json.loads(_add(capsys, "https://hooks.example.com/billing")[1])
    remove = ["project", "webhook", "remove", "--project", "1", added["endpoint_id"]]
    assert run_cli(capsys, *remove)[0] == 0
    code, _, err = run_cli(capsys, *remove)
    assert code == 1
    assert "no webhook endpoint" in err


# ---------------------------------------------------------------------- deliveries
def test_deliveries_lists_the_given_up_ones_and_redrives_them(
    capsys: pytest.CaptureFixture[str], aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_DELIVERY_QUEUE_URL", aws["WebhookDeliveryQueue"])
    monkeypatch.setenv("WEBHOOK_DELIVERY_DLQ_URL", aws["WebhookDeliveryDeadLetterQueue"])
    wiring.reset()
    sqs = boto3.client("sqs", region_name="us-east-1")
    given_up = Delivery("1", "user_42", 3, "we_1").to_message()
    sqs.send_message(QueueUrl=aws["WebhookDeliveryDeadLetterQueue"], MessageBody=given_up)

    code, out, _ = run_cli(capsys, "--json", "deliveries", "list")
    (listed,) = json.loads(out)
    assert (code, listed["endpoint_id"], listed["version"]) == (0, "we_1", 3)
    assert "body" not in listed

    code, out, _ = run_cli(capsys, "deliveries", "redrive")
    assert (code, "would send 1" in out) == (0, True)
    code, out, _ = run_cli(capsys, "--json", "deliveries", "redrive", "--yes")
    assert (code, json.loads(out)["moved"]) == (0, 1)
    moved = sqs.receive_message(QueueUrl=aws["WebhookDeliveryQueue"])["Messages"]
    assert [m["Body"] for m in moved] == [given_up]
