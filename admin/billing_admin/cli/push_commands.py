"""Issue #22's commands: ``history`` (what a user had at a moment, what changed between two),
``project webhook add|list|remove|rotate-secret`` (a project's outbound webhook endpoints) and
``deliveries list|redrive`` (their dead-letter queue). Kept apart from main.py, which
registers them; each command returns ``(data, text)``."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from typing import Any

from billing.domain.clock import to_iso, utc_now
from billing.domain.dead_letters import DeadLetter
from billing.domain.deliveries import Delivery
from billing.domain.ids import normalize_project_id, validate_user_id
from billing.domain.webhook_endpoints import WebhookEndpoint
from billing.errors import ConfigurationError, ValidationError
from billing.services import history
from billing.services import outbound_webhooks as outbound
from billing.wiring import (
    address_resolver,
    audit_cursor_seal,
    bound_settings,
    change_log,
    delivery_dead_letters,
    project_store,
    webhook_endpoints,
)
from billing_admin.cli.render import shown

SHOWN_SECRET_CHARS = 10  # "whsec_" and 4 more: enough to tell secrets apart, not to use one

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


# ---------------------------------------------------------------------- project webhook ...
def _endpoint_data(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> dict[str, Any]:
    now = utc_now()
    data: dict[str, Any] = {
        "endpoint_id": endpoint.endpoint_id,
        "project_id": endpoint.project_id,
        "url": endpoint.url,
        "description": endpoint.description,
        "created_at": to_iso(endpoint.created_at),
        "secrets": [
            {
                "prefix": secret.value[:SHOWN_SECRET_CHARS] + "...",
                "created_at": to_iso(secret.created_at),
                "expires_at": to_iso(secret.expires_at) if secret.expires_at else None,
            }
            for secret in endpoint.secrets
            if secret.valid_at(now)
        ],
    }
    if with_secret:
        data["secret"] = endpoint.secrets[0].value
    return data


def _endpoint_line(endpoint: WebhookEndpoint) -> str:
    secrets = len(endpoint.signing_secrets(utc_now()))
    about = f" ({shown(endpoint.description)})" if endpoint.description else ""
    return (
        f"{endpoint.endpoint_id} {shown(endpoint.url)}{about}: "
        f"{secrets} signing secret{'s' if secrets > 1 else ''}, since {to_iso(endpoint.created_at)}"
    )


def webhook_add(args: argparse.Namespace) -> CommandResult:
    endpoint = outbound.add_endpoint(
        project_store(),
        webhook_endpoints(),
        address_resolver(),
        project_id=normalize_project_id(args.project, "project"),
        url=args.url,
        description=args.description or "",
        allow_loopback=bound_settings().webhook_endpoints_allow_loopback,
        now=utc_now(),
    )
    text = (
        f"added {_endpoint_line(endpoint)}\n"
        "signing secret (shown once; give it to the project's backend): "
        f"{endpoint.secrets[0].value}"
    )
    return _endpoint_data(endpoint, with_secret=True), text


def webhook_list(args: argparse.Namespace) -> CommandResult:
    endpoints = webhook_endpoints().list(normalize_project_id(args.project, "project"))
    text = "\n".join(_endpoint_line(e) for e in endpoints) or "no webhook endpoints"
    return [_endpoint_data(e) for e in endpoints], text


def webhook_remove(args: argparse.Namespace) -> CommandResult:
    project_id = normalize_project_id(args.project, "project")
    webhook_endpoints().remove(project_id, args.endpoint_id)
    removed = {"endpoint_id": args.endpoint_id, "project_id": project_id, "removed": True}
    return removed, f"removed {args.endpoint_id}: it gets no more deliveries"


def webhook_rotate(args: argparse.Namespace) -> CommandResult:
    overlap = timedelta(hours=args.overlap_hours)
    endpoint = outbound.rotate_secret(
        webhook_endpoints(),
        project_id=normalize_project_id(args.project, "project"),
        endpoint_id=args.endpoint_id,
        overlap=overlap,
        now=utc_now(),
    )
    text = (
        f"rotated {_endpoint_line(endpoint)}\n"
        f"new signing secret (shown once): {endpoint.secrets[0].value}\n"
        f"deliveries carry a signature of each secret in use; the old one stops signing at "
        f"{to_iso(utc_now() + overlap)}"
    )
    return _endpoint_data(endpoint, with_secret=True), text


def add_webhook_commands(
    project: Any, common: argparse.ArgumentParser
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """``project webhook add|list|remove|rotate-secret``, under ``project``'s subcommands."""
    webhook: argparse._SubParsersAction[argparse.ArgumentParser] = project.add_parser(
        "webhook", help="the project's outbound webhook endpoints (entitlement changes)"
    ).add_subparsers(required=True)
    add = webhook.add_parser(
        "add", parents=[common], help="add an https endpoint; prints its signing secret once"
    )
    add.add_argument("--project", required=True)
    add.add_argument("--url", required=True, help="https://... (a public address)")
    add.add_argument("--description", help="what it is, for people")
    add.set_defaults(command=webhook_add)
    listing = webhook.add_parser("list", parents=[common], help="the project's endpoints")
    listing.add_argument("--project", required=True)
    listing.set_defaults(command=webhook_list)
    remove = webhook.add_parser("remove", parents=[common], help="stop delivering to one")
    remove.add_argument("--project", required=True)
    remove.add_argument("endpoint_id")
    remove.set_defaults(command=webhook_remove)
    rotate = webhook.add_parser(
        "rotate-secret",
        parents=[common],
        help="a new signing secret; the old one keeps signing for the overlap",
    )
    rotate.add_argument("--project", required=True)
    rotate.add_argument("endpoint_id")
    rotate.add_argument("--overlap-hours", type=float, default=24.0)
    rotate.set_defaults(command=webhook_rotate)
    return webhook


# ---------------------------------------------------------------------- deliveries ...
def _delivery_data(letter: DeadLetter, show_body: bool) -> dict[str, Any]:
    try:
        delivery: Delivery | None = Delivery.from_message(letter.body)
    except ValidationError:
        delivery = None
    data: dict[str, Any] = {
        "message_id": letter.message_id,
        "endpoint_id": delivery.endpoint_id if delivery else None,
        "project_id": delivery.project_id if delivery else None,
        "user_id": delivery.user_id if delivery else None,
        "version": delivery.version if delivery else None,
        "receive_count": letter.receive_count,
        "first_received_at": to_iso(letter.first_received_at) if letter.first_received_at else None,
    }
    if show_body:
        data["body"] = letter.body
    return data


def _delivery_line(data: dict[str, Any]) -> str:
    if data["endpoint_id"] is None:
        return f"{data['message_id']}: not a delivery ({data['receive_count']} receives)"
    return (
        f"{data['message_id']}: version {data['version']} of project {data['project_id']} "
        f"user {shown(data['user_id'])} to {data['endpoint_id']} "
        f"({data['receive_count']} receives, first {data['first_received_at'] or '?'})"
        + (f"\n  {shown(data['body'])}" if "body" in data else "")
    )


def deliveries_list(args: argparse.Namespace) -> CommandResult:
    if args.limit < 1:
        raise ValidationError("limit", "must be at least 1")
    letters = delivery_dead_letters().peek(args.limit)
    data = [_delivery_data(letter, args.show_body) for letter in letters]
    text = "\n".join(_delivery_line(d) for d in data) or "no deliveries were given up"
    return data, text


def deliveries_redrive(args: argparse.Namespace) -> CommandResult:
    if args.limit < 1:
        raise ValidationError("limit", "must be at least 1")
    target = bound_settings().webhook_delivery_queue_url
    if not target:
        raise ConfigurationError("WEBHOOK_DELIVERY_QUEUE_URL is not set")
    queue = delivery_dead_letters()
    if not args.yes:
        would_move = min(queue.approximate_count(), args.limit)
        return (
            {"dry_run": True, "would_move": would_move, "moved": 0},
            f"would send {would_move} given-up deliveries again; run again with --yes",
        )
    moved = queue.redrive(args.limit, target)
    return (
        {"dry_run": False, "would_move": moved, "moved": moved},
        f"sent {moved} given-up deliveries again (each keeps its webhook-id: a receiver that "
        "got one already ignores it)",
    )


def add_deliveries_commands(
    groups: Any, common: argparse.ArgumentParser
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    deliveries = groups.add_parser(
        "deliveries", help="outbound webhook deliveries given up after 3 days (their DLQ)"
    )
    actions: argparse._SubParsersAction[argparse.ArgumentParser] = deliveries.add_subparsers(
        required=True
    )
    listing = actions.add_parser(
        "list", parents=[common], help="show given-up deliveries (each listing counts a receive)"
    )
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--show-body", action="store_true", help="print each message too")
    listing.set_defaults(command=deliveries_list)
    redrive = actions.add_parser(
        "redrive", parents=[common], help="send them again (dry run without --yes)"
    )
    redrive.add_argument("--limit", type=int, default=100)
    redrive.add_argument("--yes", action="store_true", help="send them (default: only count)")
    redrive.set_defaults(command=deliveries_redrive)
    return actions
