"""``billing-admin``: projects, apps (API keys) and prices, instead of hand-written SQL.

Also the webhook dead-letter queue: ``dlq list`` shows what failed, ``dlq redrive`` replays it;
and reconciliation with Stripe: ``reconcile run`` starts a run and follows it, ``reconcile
report`` shows what a run found and repaired. Catalog as code: ``catalog plan|apply|check FILE``
makes Stripe's products and prices and the price table follow a YAML file.

Works against the local stack by default (DynamoDB Local on LOCAL_DYNAMODB_PORT) and against
a deployed stack with ``--stack NAME`` (its outputs name the tables; the usual AWS credentials
apply). ``--json`` prints machine-readable output. Errors name the field and exit non-zero:
2 for bad input, 1 for not found or conflict, 3 when AWS does not answer.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from billing.domain.allowances import RESETS, FeatureLimit, parse_reset
from billing.domain.clock import utc_now
from billing.domain.grants import GrantRequest
from billing.domain.ids import normalize_project_id, validate_user_id
from billing.domain.tenancy import PriceRequest, StripePriceTerms
from billing.domain.text import visible
from billing.errors import (
    BillingError,
    ConfigurationError,
    ConflictError,
    DependencyUnavailableError,
    NotFoundError,
    ValidationError,
)
from billing.observability import logger
from billing.services import grants, tenancy
from billing.wiring import (
    app_store,
    audit_cursor_seal,
    bound_settings,
    dead_letter_queue,
    grant_store,
    price_store,
    project_store,
)
from billing_admin import wiring as admin_wiring
from billing_admin.cli import demo, render
from billing_admin.cli.catalog_command import add_catalog_commands
from billing_admin.cli.metrics_command import add_metrics_command, metrics_command
from billing_admin.cli.push_commands import (
    add_deliveries_commands,
    add_history_command,
    add_webhook_commands,
)
from billing_admin.cli.reconcile_command import add_reconcile_commands
from billing_admin.cli.target import LocalTarget, connect

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_UNAVAILABLE = 0, 1, 2, 3
PROGRESS_EVERY = 10  # dlq redrive prints a progress line per this many moved messages


@dataclass(frozen=True)
class Outcome:
    """What a command produced: data for --json, the same for people, and the exit code
    (``catalog check`` answers 1 on drift, with its report)."""

    data: Any
    text: str
    code: int = EXIT_OK


Command = Callable[[argparse.Namespace], Outcome]


# ---------------------------------------------------------------------- projects
def project_create(args: argparse.Namespace) -> Outcome:
    project = tenancy.create_project(
        project_store(),
        name=args.name,
        project_id=args.id,
        allowed_origins=tuple(args.origin or ()),
        grace_period_days=args.grace_days,
        now=utc_now(),
    )
    return Outcome(render.project(project), f"created {render.project_line(project)}")


def project_list(args: argparse.Namespace) -> Outcome:
    projects = project_store().list()
    lines = [render.project_line(p) for p in projects] or ["no projects"]
    return Outcome([render.project(p) for p in projects], "\n".join(lines))


def project_show(args: argparse.Namespace) -> Outcome:
    project = tenancy.get_project(project_store(), args.project_id)
    return Outcome(render.project(project), render.project_details(project))


def project_update(args: argparse.Namespace) -> Outcome:
    origins = () if args.clear_origins else (tuple(args.origin) if args.origin else None)
    project = tenancy.update_project(
        project_store(),
        args.project_id,
        name=args.name,
        allowed_origins=origins,
        grace_period_days=args.grace_days,
        now=utc_now(),
    )
    return Outcome(render.project(project), f"updated {render.project_line(project)}")


# ---------------------------------------------------------------------- apps
def app_create(args: argparse.Namespace) -> Outcome:
    imported = args.import_key
    if args.import_key_stdin:
        imported = sys.stdin.readline().strip()
    issued = tenancy.create_app(
        project_store(),
        app_store(),
        project_id=args.project,
        name=args.name,
        scopes=args.scope,
        imported_key=imported,
        now=utc_now(),
    )
    return Outcome(render.issued_key(issued), render.issued_key_text(issued))


def app_list(args: argparse.Namespace) -> Outcome:
    apps = tenancy.list_apps(project_store(), app_store(), args.project)
    text = "\n".join(render.app_lines(app, keys) for app, keys in apps) or "no apps"
    return Outcome([render.app(app, keys) for app, keys in apps], text)


def app_rotate(args: argparse.Namespace) -> Outcome:
    rotation = tenancy.rotate_app_key(
        app_store(), args.app_id, overlap=timedelta(hours=args.overlap_hours), now=utc_now()
    )
    return Outcome(render.rotation(rotation), render.rotation_text(rotation))


def app_deactivate(args: argparse.Namespace) -> Outcome:
    app = tenancy.deactivate_app(app_store(), args.app_id)
    return Outcome(render.app(app, []), f"deactivated {app.app_id}: its keys are refused now")


# ---------------------------------------------------------------------- prices
class _StripePricesOnFirstUse:
    """Stripe's prices, reached only once a request's own fields are valid (a bad request
    needs no Stripe key)."""

    def price_terms(self, price_id: str) -> StripePriceTerms | None:
        return admin_wiring.stripe_catalog().price_terms(price_id)


@dataclass
class _FeatureFlags:
    """One ``--feature`` and the ``--limit``/``--reset``/``--meter`` given after it."""

    code: str
    limit: str | None = None
    reset: str | None = None
    meter: str | None = None


class _FeatureAction(argparse.Action):
    """``--feature F [--limit N --reset R [--meter M]]``, repeatable: a limit, reset or meter
    belongs to the ``--feature`` just before it (``price add`` grants several features, each
    with or without a limit)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        features: list[_FeatureFlags] = list(getattr(namespace, "features", None) or [])
        if self.dest == "features":
            features.append(_FeatureFlags(str(values)))
        elif not features:
            parser.error(f"{option_string} must follow the --feature it limits")
        elif getattr(features[-1], self.dest) is not None:
            parser.error(f"{option_string} given twice for --feature {features[-1].code}")
        else:
            setattr(features[-1], self.dest, str(values))
        namespace.features = features


def _feature_limit(flags: _FeatureFlags) -> FeatureLimit | None:
    if flags.limit is None:
        if flags.reset is not None or flags.meter is not None:
            raise ValidationError(
                "limit", f"--feature {flags.code}: --reset and --meter need --limit"
            )
        return None
    try:
        limit = int(flags.limit)
    except ValueError:
        raise ValidationError("limit", f"--feature {flags.code}: must be an integer") from None
    if flags.reset is None:
        raise ValidationError("reset", f"--feature {flags.code}: --limit needs --reset")
    return FeatureLimit(flags.code, limit, parse_reset(flags.reset), flags.meter)


def price_add(args: argparse.Namespace) -> Outcome:
    """The amount, currency and interval are read from Stripe; any given must match."""
    features: list[_FeatureFlags] = args.features
    limits = tuple(limit for flags in features if (limit := _feature_limit(flags)) is not None)
    price = tenancy.register_price(
        project_store(),
        price_store(),
        _StripePricesOnFirstUse(),
        PriceRequest(
            stripe_price_id=args.price,
            project_id=args.project,
            feature_codes=tuple(flags.code for flags in features),
            access_days=args.access_days,
            amount=args.amount,
            currency=args.currency,
            interval="one_time" if args.one_time else args.interval,
            interval_count=args.interval_count,
            limits=limits,
        ),
    )
    return Outcome(render.price(price), f"registered {render.price_line(price)}")


def price_list(args: argparse.Namespace) -> Outcome:
    prices = tenancy.list_prices(project_store(), price_store(), args.project)
    lines = [render.price_line(p) for p in prices] or ["no prices"]
    return Outcome([render.price(p) for p in prices], "\n".join(lines))


def price_remove(args: argparse.Namespace) -> Outcome:
    tenancy.remove_price(price_store(), args.project, args.price)
    removed = {"price_id": args.price, "project_id": str(args.project), "removed": True}
    return Outcome(removed, f"removed {args.price} from project {args.project}")


# ---------------------------------------------------------------------- support overrides
CLI_APP_ID = "billing-admin"


def _grant_request(args: argparse.Namespace) -> GrantRequest:
    return GrantRequest(
        project_id=normalize_project_id(args.project, "project"),
        user_id=validate_user_id(args.user),
        feature_code=args.feature,
        actor=args.by,
        reason=args.reason,
        valid_to=_iso_time(args.valid_to) if getattr(args, "valid_to", None) else None,
        quantity=getattr(args, "quantity", None),
    )


def _iso_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError("valid_to", "must be ISO 8601, e.g. 2026-12-31T23:59:59Z") from None


def grant_command(args: argparse.Namespace) -> Outcome:
    source, created = grants.grant(
        project_store(), grant_store(), _grant_request(args), app_id=CLI_APP_ID, now=utc_now()
    )
    data = render.manual_source(source, args.user, created=created)
    state = "granted" if created else "already granted (nothing changed)"
    return Outcome(data, f"{state}: {render.manual_source_line(source, args.user)}")


def revoke_command(args: argparse.Namespace) -> Outcome:
    source = grants.revoke(
        project_store(), grant_store(), _grant_request(args), app_id=CLI_APP_ID, now=utc_now()
    )
    return Outcome(
        render.manual_source(source, args.user, created=False),
        f"revoked: {render.manual_source_line(source, args.user)}",
    )


def audit_command(args: argparse.Namespace) -> Outcome:
    entries, cursor = grants.audit_trail(
        grant_store(),
        normalize_project_id(args.project, "project"),
        validate_user_id(args.user),
        limit=args.limit,
        cursor=args.cursor,
        seal=audit_cursor_seal(),
    )
    lines = [render.audit_line(e) for e in entries] or ["no changes"]
    if cursor:
        lines.append(f"more: --cursor {cursor}")
    return Outcome({"items": entries, "next_cursor": cursor}, "\n".join(lines))


def demo_seed(args: argparse.Namespace) -> Outcome:
    standin = None if args.stack else LocalTarget().stripe_standin_url
    steps = demo.seed(project_store(), app_store(), price_store(), utc_now(), standin)
    return Outcome(steps, "\n".join(f"{s['step']}: {s['result']}" for s in steps))


# ---------------------------------------------------------------------- metrics
def metrics(args: argparse.Namespace) -> Outcome:
    data, text = metrics_command(args)  # cli/metrics_command.py: the figures and the chart
    return Outcome(data, text)


def _as_outcome(command: Callable[[argparse.Namespace], tuple[Any, ...]]) -> Command:
    """A command module's ``(data, text[, code])`` as this module's Outcome."""
    return lambda args: Outcome(*command(args))


# ---------------------------------------------------------------------- dead letters
def _limit(value: int) -> int:
    if value < 1:
        raise ValidationError("limit", "must be at least 1")
    return value


def dlq_list(args: argparse.Namespace) -> Outcome:
    letters = dead_letter_queue().peek(_limit(args.limit))
    lines = [render.dead_letter_line(d, args.show_body) for d in letters]
    text = "\n".join(lines) or "no messages in the dead-letter queue"
    return Outcome([render.dead_letter(d, args.show_body) for d in letters], text)


def dlq_redrive(args: argparse.Namespace) -> Outcome:
    limit = _limit(args.limit)
    target = bound_settings().webhook_queue_url
    if not target:
        raise ConfigurationError("WEBHOOK_QUEUE_URL is not set")
    queue = dead_letter_queue()
    if not args.yes:
        would_move = min(queue.approximate_count(), limit)
        return Outcome(
            {"dry_run": True, "would_move": would_move, "moved": 0},
            f"would move {would_move} message(s) from the dead-letter queue to the webhook "
            "queue; run again with --yes to move them",
        )

    def progress(moved: int) -> None:
        if moved % PROGRESS_EVERY == 0 and not args.json:
            print(f"moved {moved} ...", file=sys.stderr, flush=True)

    moved = queue.redrive(limit, target, progress)
    return Outcome(
        {"dry_run": False, "would_move": moved, "moved": moved},
        f"moved {moved} message(s) from the dead-letter queue to the webhook queue",
    )


# ---------------------------------------------------------------------- parser
def _common_options() -> argparse.ArgumentParser:
    """Options accepted after the command too (``billing-admin project list --json``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )
    return common


_COMMON = _common_options()


def _project_commands(groups: Any) -> None:
    project = groups.add_parser("project", help="projects").add_subparsers(required=True)
    create = project.add_parser("create", parents=[_COMMON], help="create a project")
    create.add_argument("--name", required=True)
    create.add_argument("--id", help="the project id to use (default: the next free one)")
    create.add_argument("--origin", action="append", help="allowed redirect origin (repeat)")
    create.add_argument("--grace-days", type=int, default=3, help="grace after a failed payment")
    create.set_defaults(command=project_create)
    project.add_parser("list", parents=[_COMMON], help="list projects").set_defaults(
        command=project_list
    )
    show = project.add_parser("show", parents=[_COMMON], help="show one project")
    show.add_argument("project_id")
    show.set_defaults(command=project_show)
    update = project.add_parser("update", parents=[_COMMON], help="change a project")
    update.add_argument("project_id")
    update.add_argument("--name")
    update.add_argument("--origin", action="append", help="replaces the allowed origins")
    update.add_argument("--clear-origins", action="store_true")
    update.add_argument("--grace-days", type=int)
    update.set_defaults(command=project_update)
    for action in add_webhook_commands(project, _COMMON).choices.values():
        action.set_defaults(command=_as_outcome(action.get_default("command")))


def _app_commands(groups: Any) -> None:
    app = groups.add_parser("app", help="apps and their API keys").add_subparsers(required=True)
    create = app.add_parser(
        "create", parents=[_COMMON], help="create an app; prints a new key once"
    )
    create.add_argument("--project", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", help="scope (repeat; default: all)")
    imported = create.add_mutually_exclusive_group()
    imported.add_argument("--import-key", metavar="KEY", help="keep an existing key value")
    imported.add_argument(
        "--import-key-stdin", action="store_true", help="read the key to import from stdin"
    )
    create.set_defaults(command=app_create)
    listing = app.add_parser(
        "list", parents=[_COMMON], help="list a project's apps and key prefixes"
    )
    listing.add_argument("--project", required=True)
    listing.set_defaults(command=app_list)
    rotate = app.add_parser(
        "rotate", parents=[_COMMON], help="issue a new key; old keys work for the overlap"
    )
    rotate.add_argument("app_id")
    rotate.add_argument("--overlap-hours", type=float, default=24.0)
    rotate.set_defaults(command=app_rotate)
    deactivate = app.add_parser(
        "deactivate", parents=[_COMMON], help="refuse every key of the app from now"
    )
    deactivate.add_argument("app_id")
    deactivate.set_defaults(command=app_deactivate)


def _price_commands(groups: Any) -> None:
    price = groups.add_parser("price", help="prices and their feature codes")
    actions = price.add_subparsers(required=True)
    add = actions.add_parser(
        "add",
        parents=[_COMMON],
        help="register a Stripe price for a project (amount, currency, interval from Stripe)",
    )
    add.add_argument("--project", required=True)
    add.add_argument("--price", required=True, help="Stripe price id, price_...")
    add.add_argument(
        "--feature",
        dest="features",
        action=_FeatureAction,
        required=True,
        help="feature code (repeat for several)",
    )
    add.add_argument(
        "--limit",
        dest="limit",
        action=_FeatureAction,
        help="an integer limit on the --feature just before (with --reset)",
    )
    add.add_argument(
        "--reset",
        dest="reset",
        action=_FeatureAction,
        choices=list(RESETS),
        help="when that feature's count starts over",
    )
    add.add_argument(
        "--meter",
        dest="meter",
        action=_FeatureAction,
        help="the Stripe meter (its event_name) that feature's usage is reported to",
    )
    stripe_says = "default: Stripe's; given, it must be Stripe's"
    add.add_argument("--amount", type=int, help=f"in the currency's minor unit ({stripe_says})")
    add.add_argument("--currency", help=f"ISO 4217, e.g. usd ({stripe_says})")
    terms = add.add_mutually_exclusive_group()
    terms.add_argument("--interval", choices=["day", "week", "month", "year"], help=stripe_says)
    terms.add_argument("--one-time", action="store_true", help=stripe_says)
    add.add_argument("--interval-count", type=int, help=stripe_says)
    add.add_argument("--access-days", type=int, help="one-time only: days of access")
    add.set_defaults(command=price_add)
    listing = actions.add_parser("list", parents=[_COMMON], help="a project's prices")
    listing.add_argument("--project", required=True)
    listing.set_defaults(command=price_list)
    remove = actions.add_parser("remove", parents=[_COMMON], help="unregister a price")
    remove.add_argument("--project", required=True)
    remove.add_argument("--price", required=True)
    remove.set_defaults(command=price_remove)


def _dlq_commands(groups: Any) -> None:
    dlq = groups.add_parser("dlq", help="the webhook dead-letter queue")
    actions = dlq.add_subparsers(required=True)
    listing = actions.add_parser(
        "list",
        parents=[_COMMON],
        help="show dead-lettered events (ids and types; each listing counts as a receive)",
    )
    listing.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    listing.add_argument(
        "--show-body", action="store_true", help="print each body too (Stripe event data)"
    )
    listing.set_defaults(command=dlq_list)
    redrive = actions.add_parser(
        "redrive",
        parents=[_COMMON],
        help="move dead-lettered events back to the webhook queue (dry run without --yes)",
    )
    redrive.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    redrive.add_argument("--yes", action="store_true", help="move them (default: only count)")
    redrive.set_defaults(command=dlq_redrive)


def _support_commands(groups: Any) -> None:
    for name, command, helptext in (
        ("grant", grant_command, "give a user a feature by hand (audited)"),
        ("revoke", revoke_command, "end a user's manual grant of a feature (audited)"),
    ):
        parser = groups.add_parser(name, parents=[_COMMON], help=helptext)
        parser.add_argument("--project", required=True)
        parser.add_argument("--user", required=True)
        parser.add_argument("--feature", required=True)
        parser.add_argument("--by", required=True, help="who does it (email, name)")
        parser.add_argument("--reason", required=True)
        if name == "grant":
            parser.add_argument("--valid-to", help="ISO 8601 end (default: no end)")
            parser.add_argument(
                "--quantity",
                type=int,
                help="credits of a limited feature, added to its limit until --valid-to",
            )
        parser.set_defaults(command=command)
    audit = groups.add_parser("audit", parents=[_COMMON], help="a user's support changes")
    audit.add_argument("--project", required=True)
    audit.add_argument("--user", required=True)
    audit.add_argument("--limit", type=int, default=50)
    audit.add_argument("--cursor")
    audit.set_defaults(command=audit_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="billing-admin", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--stack", help="a deployed stack's name (default: the local stack)")
    parser.add_argument("--region", help="AWS region of --stack")
    groups = parser.add_subparsers(
        required=True,
        metavar=(
            "{project,app,price,catalog,grant,revoke,audit,history,metrics,dlq,deliveries,"
            "reconcile,demo}"
        ),
    )
    _project_commands(groups)
    _app_commands(groups)
    _price_commands(groups)
    _dlq_commands(groups)
    _support_commands(groups)
    add_metrics_command(groups, _COMMON).set_defaults(command=metrics)
    history = add_history_command(groups, _COMMON)
    history.set_defaults(command=_as_outcome(history.get_default("command")))
    for action in add_deliveries_commands(groups, _COMMON).choices.values():
        action.set_defaults(command=_as_outcome(action.get_default("command")))
    for action in add_reconcile_commands(groups, _COMMON).choices.values():
        action.set_defaults(command=_as_outcome(action.get_default("command")))
    for action in add_catalog_commands(groups, _COMMON).choices.values():
        action.set_defaults(command=_as_outcome(action.get_default("command")))
    demo_parser = groups.add_parser("demo", help="the seed's demo data").add_subparsers(
        required=True
    )
    demo_parser.add_parser(
        "seed",
        parents=[_COMMON],
        help="project 1 space_journal, key sk_demo_space_journal, price_123 -> pro",
    ).set_defaults(command=demo_seed)
    return parser


@contextmanager
def _service_logs_to_stderr() -> Iterator[None]:
    """The service's own log lines are diagnostics: stdout stays the command's output (one
    JSON document with --json)."""
    handler = logger.registered_handler
    if not isinstance(handler, logging.StreamHandler):
        yield
        return
    previous = handler.setStream(sys.stderr)
    try:
        yield
    finally:
        handler.setStream(previous)


def _fail(args: argparse.Namespace, code: int, error: dict[str, str]) -> int:
    if args.json:
        print(json.dumps({"error": error}), file=sys.stderr)
    else:
        where = f"{error['field']}: " if "field" in error else ""
        print(visible(f"error: {where}{error['message']}", keep_newlines=True), file=sys.stderr)
    return code


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        connect(args.stack, args.region)
        with _service_logs_to_stderr():
            outcome: Outcome = args.command(args)
    except (ValidationError, ConflictError) as exc:
        code = EXIT_BAD_INPUT if isinstance(exc, ValidationError) else EXIT_FAILED
        return _fail(args, code, {"field": exc.field, "message": exc.reason})
    except (NotFoundError, ConfigurationError) as exc:
        return _fail(args, EXIT_FAILED, {"message": str(exc)})
    except DependencyUnavailableError as exc:
        return _fail(args, EXIT_UNAVAILABLE, {"message": f"{exc} (is the stack running?)"})
    except BillingError as exc:
        return _fail(args, EXIT_FAILED, {"message": str(exc)})
    # JSON escapes every control character itself (ensure_ascii); text is escaped here, once
    # more after render.shown, so nothing a command prints can drive the terminal.
    print(
        json.dumps(outcome.data, indent=2)
        if args.json
        else visible(outcome.text, keep_newlines=True)
    )
    return outcome.code


def main() -> None:
    sys.exit(run())
