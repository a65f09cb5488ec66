"""Issue #22's commands: ``history`` (what a user had at a moment, what changed between two),
``project webhook add|list|remove|rotate-secret`` (a project's outbound webhook endpoints) and
``deliveries list|redrive`` (their dead-letter queue). Kept apart from main.py, which
registers them; each command returns ``(data, text)``."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from billing.domain.clock import utc_now
from billing.domain.ids import normalize_project_id, validate_user_id
from billing.errors import ValidationError
from billing.services import history
from billing.wiring import audit_cursor_seal, change_log
from billing_admin.cli.render import shown

CommandResult = tuple[Any, str]


def _moment(text: str | None, field: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(field, "must be ISO 8601, e.g. 2026-12-31T23:59:59Z") from None


# ---------------------------------------------------------------------- history
def _entitlement_line(item: dict[str, Any]) -> str:
    state = "active" if item["active"] else f"inactive ({shown(item.get('reason') or '')})"
    ends = shown(item["valid_to"]) if item["valid_to"] else "no end"
    return (
        f"    {shown(item['feature_code'])}: {state} via {item['source']} "
        f"{shown(item['source_id'])} until {ends}"
    )


def _cause_text(cause: dict[str, Any]) -> str:
    return " ".join(f"{key}={shown(value)}" for key, value in cause.items() if key != "kind")


def _change_lines(change: dict[str, Any]) -> list[str]:
    cause = change["cause"]
    head = f"v{change['version']} {change['changed_at']} {cause['kind']} {_cause_text(cause)}"
    return [head.rstrip(), *(_entitlement_line(e) for e in change["entitlements"])]


def history_command(args: argparse.Namespace) -> CommandResult:
    project_id = normalize_project_id(args.project, "project")
    user_id = validate_user_id(args.user, "user")
    since, until = _moment(args.since, "since"), _moment(args.until, "until")
    if since is None:
        if until is not None:
            raise ValidationError("since", "is required with --until")
        at = _moment(args.at, "at") or utc_now()
        state = history.state_at(change_log(), project_id, user_id, at)
        if state["version"] is None:
            return state, f"at {state['at']}: no entitlements recorded yet"
        lines = [f"at {state['at']}: version {state['version']}", *_change_lines(state)[1:]]
        return state, "\n".join(lines)
    if args.at is not None:
        raise ValidationError("at", "give either --at, or --since (and --until)")
    page = history.changes_between(
        change_log(),
        project_id,
        user_id,
        since=since,
        until=until or utc_now(),
        limit=args.limit,
        cursor=args.cursor,
        seal=audit_cursor_seal(),
    )
    lines = [line for change in page["changes"] for line in _change_lines(change)]
    lines = lines or [f"no changes in [{page['since']}, {page['until']})"]
    if page["next_cursor"]:
        lines.append(f"more: --cursor {page['next_cursor']}")
    return page, "\n".join(lines)


def add_history_command(groups: Any, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = groups.add_parser(
        "history",
        parents=[common],
        help="what a user had at a moment (--at), or what changed between two (--since)",
    )
    parser.add_argument("--project", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--at", help="ISO 8601 moment (default: now)")
    parser.add_argument("--since", help="ISO 8601: list the changes from here")
    parser.add_argument("--until", help="ISO 8601 end of the list (default: now)")
    parser.add_argument("--limit", type=int, default=100, help="changes per page (1-100)")
    parser.add_argument("--cursor", help="the next page, as printed after the last one")
    parser.set_defaults(command=history_command)
    return parser
