"""billing-admin's commands, output and exit codes (the tables are moto's)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from billing import wiring
from billing.domain.grants import AuditEntry
from billing.domain.text import is_unreadable
from billing_admin import wiring as admin_wiring
from billing_admin.cli import demo
from tests.unit.admin.catalog_helpers import StripeWorld
from tests.unit.admin.conftest import run_cli as run


def test_the_old_sql_setup_as_commands(
    cli: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stripe = StripeWorld()  # the price as Stripe holds it: price add checks what it is given
    stripe.standin.register_price("price_123", 900, "usd", {"interval": "month"})
    monkeypatch.setattr(admin_wiring, "stripe_catalog", lambda: stripe.gateway)
    assert run(capsys, "project", "create", "--name", "space_journal", "--id", "1")[0] == 0
    code, out, _ = run(capsys, "app", "create", "--project", "1", "--name", "backend", "--json")
    assert code == 0
    created = json.loads(out)
    assert created["api_key"].startswith("bk_")
    assert created["scopes"] == ["admin", "checkout", "entitlements", "metrics", "portal"]
    price = ["price", "add", "--project", "1", "--price", "price_123", "--feature", "pro"]
    code, out, _ = run(
        capsys, *price, "--amount", "900", "--currency", "USD", "--interval", "month"
    )
    assert (code, out.strip()) == (0, "registered price_123 -> pro: 900 usd every month")
    code, out, _ = run(capsys, "--json", "price", "list", "--project", "1")
    assert [p["feature_codes"] for p in json.loads(out)] == [["pro"]]


def test_a_new_key_is_printed_once_and_never_listed(
    cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "project", "create", "--name", "p")
    _, out, _ = run(capsys, "app", "create", "--project", "1", "--name", "a", "--json")
    key = json.loads(out)["api_key"]
    _, listing, _ = run(capsys, "app", "list", "--project", "1", "--json")
    assert key not in listing
    assert json.loads(listing)[0]["keys"][0]["key_prefix"] == key[:8]


def test_an_imported_key_is_read_from_stdin_and_not_echoed(
    cli: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    run(capsys, "project", "create", "--name", "p")
    monkeypatch.setattr("sys.stdin", io.StringIO("sk_demo_space_journal\n"))
    code, out, _ = run(
        capsys, "app", "create", "--project", "1", "--name", "a", "--import-key-stdin"
    )
    assert code == 0
    assert "sk_demo_space_journal" not in out
    assert "sk_demo_" in out


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["project", "create", "--name", "x", "--grace-days", "99"], 2, "grace_period_days"),
        (["project", "show", "42"], 1, "project 42 not found"),
        (["project", "show", "abc"], 2, "project_id"),
        (["app", "create", "--project", "1", "--name", "a", "--scope", "root"], 2, "scopes"),
        (["app", "rotate", "app_missing"], 1, "app app_missing not found"),
        (
            [
                "price",
                "add",
                "--project",
                "1",
                "--price",
                "price_1",
                "--feature",
                "pro",
                "--amount",
                "100",
                "--currency",
                "usd",
                "--one-time",
                "--access-days",
                "0",
            ],
            2,
            "access_days",
        ),
    ],
)
def test_errors_name_the_field_and_exit_non_zero(
    cli: None, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str
) -> None:
    run(capsys, "project", "create", "--name", "p")
    status, out, err = run(capsys, *argv)
    assert status == code
    assert message in err
    assert out == ""


def test_json_errors_are_machine_readable(cli: None, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "--json", "project", "create", "--name", "")
    assert status == 2
    assert json.loads(err)["error"]["field"] == "name"


def test_demo_seed_is_idempotent(
    cli: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    standins: list[str] = []

    def register_in_standin(url: str) -> str:
        standins.append(url)
        return "registered"

    monkeypatch.setenv("LOCAL_STRIPE_PORT", "8765")
    monkeypatch.setattr(demo, "register_in_standin", register_in_standin)
    assert run(capsys, "demo", "seed")[0] == 0
    code, out, _ = run(capsys, "demo", "seed", "--json")
    assert code == 0
    assert {s["result"] for s in json.loads(out)} == {"already there", "registered"}
    assert standins == ["http://127.0.0.1:8765"] * 2
    _, apps, _ = run(capsys, "--json", "app", "list", "--project", "1")
    assert len(json.loads(apps)) == 1


def test_grant_revoke_and_audit_from_the_command_line(
    cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "project", "create", "--name", "p", "--id", "1")
    who = ["--project", "1", "--user", "user_42", "--feature", "pro", "--by", "ops@example.com"]
    code, out, _ = run(capsys, "grant", *who, "--reason", "beta tester", "--json")
    assert code == 0
    assert json.loads(out)["created"] is True
    code, out, _ = run(capsys, "grant", *who, "--reason", "beta tester")
    assert (code, out.startswith("already granted")) == (0, True)
    assert run(capsys, "revoke", *who, "--reason", "beta over")[0] == 0
    status, _, err = run(capsys, "revoke", *who, "--reason", "again")
    assert status == 1 and "no active grant" in err
    code, out, _ = run(capsys, "audit", "--project", "1", "--user", "user_42", "--json")
    assert [i["reason"] for i in json.loads(out)["items"]] == ["beta over", "beta tester"]


def test_a_grant_ending_in_the_past_is_refused(
    cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "project", "create", "--name", "p", "--id", "1")
    status, _, err = run(
        capsys,
        "grant",
        "--project",
        "1",
        "--user",
        "u",
        "--feature",
        "pro",
        "--by",
        "ops",
        "--reason",
        "r",
        "--valid-to",
        "2020-01-01T00:00:00Z",
    )
    assert status == 2 and "valid_to" in err


HOSTILE_TEXT = {
    "ansi-escape": "ops\x1b[2J\x1b[31m",
    "carriage-return": "ops\rroot",
    "newline": "ops\n2026-01-01T00:00:00Z grant pro by root: fake",
    "c1-csi": "ops\x9b31m",
    "del": "ops\x7f",
    "bidi-override": "ops\u202eevil",
    "bidi-isolate": "ops\u2066evil",
    "line-separator": "ops\u2028fake",
}


@pytest.mark.parametrize(("field", "named"), [("--by", "granted_by"), ("--reason", "reason")])
def test_who_and_why_with_control_characters_are_refused_and_nothing_is_granted(
    cli: None, capsys: pytest.CaptureFixture[str], field: str, named: str
) -> None:
    run(capsys, "project", "create", "--name", "p", "--id", "1")
    who = ["--project", "1", "--user", "user_42", "--feature", "pro"]
    for name, text in HOSTILE_TEXT.items():
        args = {"--by": "ops", "--reason": "beta", field: text}
        pairs = [part for pair in args.items() for part in pair]
        status, _, err = run(capsys, "grant", *who, *pairs)
        assert status == 2, name
        assert err.startswith(f"error: {named}: must not contain control"), name
        assert [c for c in err if is_unreadable(c) and c != "\n"] == [], name
    _, out, _ = run(capsys, "--json", "audit", "--project", "1", "--user", "user_42")
    assert json.loads(out)["items"] == []


def test_audit_prints_stored_control_characters_escaped(
    cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Entries written before the service refused such text (here straight into the table)
    print as one line each, every control character shown as its escape."""
    now = datetime.now(UTC)
    for n, text in enumerate(HOSTILE_TEXT.values()):
        entry = AuditEntry(
            project_id="1",
            user_id="user_42",
            action="grant",
            feature_code="pro",
            actor=text,
            reason=text,
            at=now + timedelta(seconds=n),
            app_id="old",
            before=None,
            after=None,
        )
        assert wiring.grant_store().write([], n, entry)  # record version n, then n + 1
    code, out, _ = run(capsys, "audit", "--project", "1", "--user", "user_42")
    assert code == 0
    assert out.count("\n") == len(HOSTILE_TEXT)
    assert [c for c in out if is_unreadable(c) and c != "\n"] == []
    assert "ops\\x1b[2J\\x1b[31m" in out and "ops\\u202eevil" in out
    _, raw_json, _ = run(capsys, "--json", "audit", "--project", "1", "--user", "user_42")
    assert [c for c in raw_json if is_unreadable(c) and c != "\n"] == []
    shown = {item["actor"] for item in json.loads(raw_json)["items"]}
    assert shown == set(HOSTILE_TEXT.values())


def test_audit_pages_with_cursors_that_only_fit_their_user(
    cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "project", "create", "--name", "p", "--id", "1")
    who = ["--project", "1", "--user", "user_42", "--feature", "pro", "--by", "ops"]
    run(capsys, "grant", *who, "--reason", "first")
    run(capsys, "revoke", *who, "--reason", "second")
    listing = ["audit", "--project", "1", "--limit", "1"]
    _, out, _ = run(capsys, "--json", *listing, "--user", "user_42")
    page = json.loads(out)
    assert [i["reason"] for i in page["items"]] == ["second"]
    cursor = page["next_cursor"]
    assert "user_42" not in cursor and "#" not in cursor
    _, out, _ = run(capsys, "--json", *listing, "--user", "user_42", "--cursor", cursor)
    assert [i["reason"] for i in json.loads(out)["items"]] == ["first"]
    status, _, err = run(capsys, *listing, "--user", "user_43", "--cursor", cursor)
    assert status == 2 and err.startswith("error: cursor: not a cursor")
